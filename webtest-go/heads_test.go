// The request-head sniffer on its own: what it notes for each head, and when it stops.
package main

import (
	"net/http"
	"testing"
)

// sniff feeds bytes to a sniffer in the given pieces, as reads from a connection would.
func sniff(pieces ...string) *sniffedConn {
	c := newSniffedConn(nil, func() {})
	for _, p := range pieces {
		c.observe([]byte(p))
	}
	return c
}

func request(method, target string) *http.Request {
	return &http.Request{Method: method, RequestURI: target}
}

func TestTheSnifferNotesBothFramingHeadersAcrossReads(t *testing.T) {
	c := sniff("POST /x HTTP/1.1\r\nHost: a\r\nContent-Le", "ngth: 5\r\ntransfer-encoding: chunked\r\n", "\r\n0\r\n\r\n")
	facts, ok := c.next(request("POST", "/x"))
	if !ok || !facts.contentLength || !facts.transferEncoding || !facts.hasBody {
		t.Fatalf("got %+v, %v", facts, ok)
	}
	// It stopped after the head with a body: the body is never taken for a head.
	if _, ok := c.next(request("GET", "/")); ok {
		t.Fatal("a head was noted after a body")
	}
}

func TestTheSnifferFollowsPipelinedHeadsWithoutBodies(t *testing.T) {
	c := sniff("\r\nGET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nHEAD /b?c=d HTTP/1.1\r\nHost: a\r\n\r\n")
	for _, want := range []*http.Request{request("GET", "/a"), request("HEAD", "/b?c=d")} {
		facts, ok := c.next(want)
		if !ok || facts.hasBody || facts.transferEncoding {
			t.Fatalf("%s %s: got %+v, %v", want.Method, want.RequestURI, facts, ok)
		}
	}
}

func TestTheSnifferGivesUpOnAHeadItCannotVouchFor(t *testing.T) {
	// A request net/http hands over in another order than the heads arrived: no match.
	c := sniff("GET /a HTTP/1.1\r\n\r\n")
	if _, ok := c.next(request("GET", "/b")); ok {
		t.Fatal("a mismatched head was vouched for")
	}
	// A line longer than the sniffer keeps: it stops watching.
	long := make([]byte, maxSniffLine+1)
	for i := range long {
		long[i] = 'a'
	}
	c = sniff("GET /a HTTP/1.1\r\nX: ", string(long), "\r\n\r\n")
	if _, ok := c.next(request("GET", "/a")); ok {
		t.Fatal("a head with an overlong line was vouched for")
	}
}
