// Refusing requests that carry both Content-Length and Transfer-Encoding.
//
// Such a request is the classic shape of request smuggling, and RFC 9112 (6.1) lets a server
// treat it as an error; the Rust service (hyper) answers it with 400. net/http instead drops
// the Content-Length header before any handler runs (transfer.go: "Reportedly, these appear in
// the wild"), so a handler cannot tell. The request heads are therefore watched as they are
// read from the connection: sniffedConn notes, for each head, its method, target and framing
// headers, and guardHeads matches them to the requests net/http hands over, in order.
//
// The watch stops after the first head that announces a body: no route reads a body, so such a
// request is answered with "Connection: close" and nothing after it is read (the Rust service
// closes such connections too), and the sniffer never has to follow a body's framing.
package main

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// maxSniffLine bounds the bytes kept of one head line; net/http answers a longer head with
// 431 anyway, and the sniffer must not buffer without limit.
const maxSniffLine = 64 * 1024

// headFacts is what the sniffer learned from one request head.
type headFacts struct {
	method, target   string
	contentLength    bool
	transferEncoding bool
	hasBody          bool
}

// sniffedConn is a connection whose incoming request heads are watched; see the file comment.
type sniffedConn struct {
	net.Conn
	release   func()
	closeOnce sync.Once

	mu      sync.Mutex
	done    bool // a head announced a body, or a line was too long: nothing more is watched
	line    []byte
	inHead  bool
	current headFacts
	heads   []headFacts
}

func newSniffedConn(c net.Conn, release func()) *sniffedConn {
	return &sniffedConn{Conn: c, release: release}
}

func (c *sniffedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.observe(p[:n])
	}
	return n, err
}

// Close frees the connection's slot of the listener, once.
func (c *sniffedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(c.release)
	return err
}

// CloseWrite passes the half-close through: net/http uses it to close a connection without
// resetting it while the client may still be sending, which the wrapper would otherwise hide.
func (c *sniffedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *sniffedConn) observe(data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range data {
		if c.done {
			return
		}
		if b != '\n' {
			if len(c.line) >= maxSniffLine {
				c.done = true
				return
			}
			c.line = append(c.line, b)
			continue
		}
		c.endLine(strings.TrimSuffix(string(c.line), "\r"))
		c.line = c.line[:0]
	}
}

// endLine takes one complete line of a request head.
func (c *sniffedConn) endLine(line string) {
	switch {
	case !c.inHead && line == "":
		// Empty lines before a request line are tolerated, as RFC 9112 (2.2) allows.
	case !c.inHead:
		fields := strings.Fields(line)
		c.current = headFacts{}
		if len(fields) >= 2 {
			c.current.method, c.current.target = fields[0], fields[1]
		}
		c.inHead = true
	case line == "":
		c.heads = append(c.heads, c.current)
		c.inHead = false
		if c.current.hasBody {
			c.done = true
		}
	default:
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			return
		}
		field, value := line[:colon], strings.TrimSpace(line[colon+1:])
		switch {
		case strings.EqualFold(field, "Content-Length"):
			c.current.contentLength = true
			if n, err := strconv.ParseInt(value, 10, 64); err != nil || n != 0 {
				c.current.hasBody = true
			}
		case strings.EqualFold(field, "Transfer-Encoding"):
			c.current.transferEncoding = true
			c.current.hasBody = true
		}
	}
}

// next hands out the facts of the oldest head not yet matched to a request; ok is false when
// the sniffer has none that fits r (it stopped watching, or net/http answered a head itself).
func (c *sniffedConn) next(r *http.Request) (headFacts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.heads) == 0 {
		return headFacts{}, false
	}
	facts := c.heads[0]
	c.heads = c.heads[1:]
	return facts, facts.method == r.Method && facts.target == r.RequestURI
}

// guardHeads answers a request with both Content-Length and Transfer-Encoding with 400, and
// closes every connection after a request with a body, or whose head the sniffer could not
// vouch for, so that its view of the connection never drifts from net/http's.
func guardHeads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _ := r.Context().Value(connKey{}).(*sniffedConn)
		if conn != nil {
			facts, ok := conn.next(r)
			switch {
			case ok && facts.contentLength && facts.transferEncoding:
				w.Header().Set("Connection", "close")
				reply(w, http.StatusBadRequest, "text/plain; charset=utf-8",
					[]byte("bad request: both Content-Length and Transfer-Encoding\n"))
				return
			case !ok || facts.hasBody:
				w.Header().Set("Connection", "close")
			}
		}
		next.ServeHTTP(w, r)
	})
}
