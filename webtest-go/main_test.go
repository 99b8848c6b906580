// What the tests share: a real server on a fresh loopback port, raw HTTP over TCP, and the test
// binary re-run as the webtest program itself (see TestMain), so that the process-level tests
// (signals, exit codes, the log) need no separate build.
package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// runAsProgram is set in the environment of a re-run test binary to make it the program.
const runAsProgram = "WEBTEST_GO_TEST_RUN_PROGRAM"

func TestMain(m *testing.M) {
	if os.Getenv(runAsProgram) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	// The servers the tests start in this process would log every request; the program's own
	// log is tested through a re-run of this binary (binary_test.go), which keeps stdout.
	logOutput = io.Discard
	os.Exit(m.Run())
}

// testInfo is a fixed set of facts, so that the answers can be compared exactly.
func testInfo(variant, revision *string) appInfo {
	return appInfo{Name: "webtest", Version: "0.1.0", Variant: variant, Revision: revision,
		Hostname: "3f2a1b9c0d1e", Language: "go"}
}

func strp(s string) *string { return &s }

// running is a server serving on 127.0.0.1 in this process.
type running struct {
	addr    string
	stop    chan struct{}
	stopped chan stopped
	err     chan error
}

// start serves the product routes with the given limits on a fresh loopback port.
func start(t *testing.T, lim limits) *running {
	t.Helper()
	return startHandler(t, withAccessLog(guardHeads(router(testInfo(strp("test"), strp("abc123"))))), lim)
}

// startHandler serves any handler, so that tests can add routes of their own.
func startHandler(t *testing.T, handler http.Handler, lim limits) *running {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &running{addr: listener.Addr().String(), stop: make(chan struct{}),
		stopped: make(chan stopped, 1), err: make(chan error, 1)}
	go func() {
		how, err := serveHandler(listener, r.stop, handler, lim)
		r.stopped <- how
		r.err <- err
	}()
	t.Cleanup(func() {
		select {
		case <-r.stop:
		default:
			close(r.stop)
		}
	})
	return r
}

// shutdown begins a graceful stop and waits for it, failing if it takes longer than limit.
func (r *running) shutdown(t *testing.T, limit time.Duration) stopped {
	t.Helper()
	r.beginShutdown()
	return r.waitStopped(t, limit)
}

func (r *running) beginShutdown() { close(r.stop) }

func (r *running) waitStopped(t *testing.T, limit time.Duration) stopped {
	t.Helper()
	select {
	case how := <-r.stopped:
		if err := <-r.err; err != nil {
			t.Fatalf("server error: %v", err)
		}
		return how
	case <-time.After(limit):
		t.Fatalf("the server did not stop within %v", limit)
	}
	return 0
}

// rawResponse is an answer read off the wire.
type rawResponse struct {
	status int
	header http.Header
	body   string
	// close is whether the answer said "Connection: close" (net/http takes that header out of
	// the map and sets this instead).
	close bool
}

// wire is one client connection spoken to in raw HTTP/1.1, whose answers are read in order.
type wire struct {
	conn   net.Conn
	reader *bufio.Reader
}

// dial opens a connection to addr, closed when the test ends.
func dial(t *testing.T, addr string) *wire {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wire{conn: conn, reader: bufio.NewReader(conn)}
}

// send writes raw bytes.
func (w *wire) send(t *testing.T, request string) {
	t.Helper()
	if _, err := io.WriteString(w.conn, request); err != nil {
		t.Fatal(err)
	}
}

// next reads one answer; method tells whether a body follows (none after HEAD).
func (w *wire) next(t *testing.T, method string) *rawResponse {
	t.Helper()
	_ = w.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(w.reader, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the body: %v", err)
	}
	return &rawResponse{status: resp.StatusCode, header: resp.Header, body: string(body), close: resp.Close}
}

// closedWithin reports whether the server closes the connection (EOF or reset) within bound;
// whatever else arrives meanwhile is skipped.
func (w *wire) closedWithin(bound time.Duration) bool {
	_ = w.conn.SetReadDeadline(time.Now().Add(bound))
	buf := make([]byte, 4096)
	for {
		_, err := w.reader.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return false
		}
		return true
	}
}

// exchange sends one raw request on a fresh connection and reads one answer to a GET.
func exchange(t *testing.T, addr, request string) (*rawResponse, *wire) {
	t.Helper()
	w := dial(t, addr)
	w.send(t, request)
	return w.next(t, "GET"), w
}

// get sends one request with a real client.
func get(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
