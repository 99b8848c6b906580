// Writing log lines to stdout: the start-up line, the shutdown lines and the access log, in
// the same format as the Rust service's (webtest/src/log.rs).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// logOutput is where log lines go: stdout in the program. The tests' in-process servers turn it
// off, so that a failing test's message is not buried under their access logs in a build log.
var logOutput io.Writer = os.Stdout

// logMu keeps lines whole: each is written with one call under the lock, so lines from
// concurrent requests never interleave, and `docker logs` shows each at once (stdout is a
// pipe there, and nothing is buffered).
var logMu sync.Mutex

// logLine writes one line to stdout. Errors are ignored on purpose: a server whose log nobody
// reads any more should go on serving.
func logLine(text string) {
	logMu.Lock()
	defer logMu.Unlock()
	_, _ = io.WriteString(logOutput, text+"\n")
}

// accessLine formats one access-log line, such as
// `127.0.0.1:53422 "GET /healthz HTTP/1.1" 200 2 0.120ms`; the peer is "-" when unknown.
func accessLine(peer, method, target, proto string, status int, bodyLen int64, elapsed time.Duration) string {
	if peer == "" {
		peer = "-"
	}
	millis := float64(elapsed.Nanoseconds()) / 1e6
	return fmt.Sprintf("%s \"%s %s %s\" %d %d %.3fms", peer, method, target, proto, status, bodyLen, millis)
}

// countingWriter remembers the status and counts the body bytes a handler writes.
type countingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *countingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *countingWriter) Write(data []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(data)
	w.bytes += int64(n)
	return n, err
}

// withAccessLog writes one access-log line for every request, 404s and 405s included.
func withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cw := &countingWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		status := cw.status
		switch {
		case status == 0 && r.Context().Err() != nil:
			// The client went away before an answer was written (a cancelled /delay): nginx's
			// 499 "client closed request" says so better than a 200 that never went out.
			status = 499
		case status == 0:
			status = http.StatusOK
		}
		// net/http swallows the body of a HEAD answer, so what went on the wire is none of it.
		length := cw.bytes
		if r.Method == http.MethodHead {
			length = 0
		}
		logLine(accessLine(r.RemoteAddr, r.Method, r.RequestURI, r.Proto, status, length, time.Since(start)))
	})
}
