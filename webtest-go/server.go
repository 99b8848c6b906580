// Running the routes on a listener with bounded resources, and stopping gracefully.
//
// The limits follow the Rust service's (webtest/src/server.rs): a request head must arrive
// within 5 s (which also closes silent and half-open connections), may take 16 KiB, at most
// 1,000 connections are served at once (the rest wait in the kernel's backlog), request bodies
// are never read, and on shutdown the listener closes at once, idle connections close, and
// requests in flight get up to 5 s to finish.
package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// limits are the server's resource bounds; defaultLimits holds the documented values, and the
// tests shorten the timeouts.
type limits struct {
	HeaderReadTimeout time.Duration
	MaxHeadBytes      int
	MaxConnections    int
	DrainTimeout      time.Duration
}

func defaultLimits() limits {
	return limits{
		HeaderReadTimeout: 5 * time.Second,
		MaxHeadBytes:      16 * 1024,
		MaxConnections:    1000,
		DrainTimeout:      5 * time.Second,
	}
}

// stopped says how the server stopped.
type stopped int

const (
	// drained: every request in flight finished before the drain timeout.
	drained stopped = iota
	// drainTimedOut: some were still running when it ran out, and were dropped.
	drainTimedOut
)

// connKey is the context key under which each request finds its connection.
type connKey struct{}

// serve serves the routes for info on listener until stop is closed, then shuts down
// gracefully. The listener is closed when serve returns.
func serve(listener net.Listener, stop <-chan struct{}, info appInfo, lim limits) (stopped, error) {
	return serveHandler(listener, stop, withAccessLog(guardHeads(router(info))), lim)
}

// serveHandler serves any handler with the limits until stop is closed.
func serveHandler(listener net.Listener, stop <-chan struct{}, handler http.Handler, lim limits) (stopped, error) {
	server := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: lim.HeaderReadTimeout,
		// The same clock for the next request on a keep-alive connection, as in the Rust
		// service: an idle connection is closed after it.
		IdleTimeout: lim.HeaderReadTimeout,
		// net/http adds 4 KiB of slack to this bound; a larger head is answered with 431.
		MaxHeaderBytes: lim.MaxHeadBytes,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	// The connections that have sent no request yet. Shutdown counts such a connection as
	// idle only once it is five seconds old, so a client that opened connections it has not
	// used yet (a pool) would hold the drain for up to the header timeout; no request has
	// begun on them, so they are closed at once, as the Rust service does.
	var freshMu sync.Mutex
	fresh := map[net.Conn]struct{}{}
	server.ConnState = func(c net.Conn, state http.ConnState) {
		freshMu.Lock()
		defer freshMu.Unlock()
		if state == http.StateNew {
			fresh[c] = struct{}{}
		} else {
			delete(fresh, c)
		}
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(newLimitedListener(listener, lim.MaxConnections)) }()

	select {
	case err := <-served:
		return drained, err
	case <-stop:
	}
	// Shutdown closes the listener (new connections are refused from now on), closes idle
	// connections, and waits for those with a request in flight; after the drain timeout the
	// rest are closed.
	ctx, cancel := context.WithTimeout(context.Background(), lim.DrainTimeout)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- server.Shutdown(ctx) }()
	// Shutdown has closed the listener by the time it polls; closing the fresh connections
	// right after it began leaves nothing new to arrive.
	time.Sleep(10 * time.Millisecond)
	freshMu.Lock()
	for c := range fresh {
		_ = c.Close()
	}
	freshMu.Unlock()
	err := <-shutdown
	<-served
	if errors.Is(err, context.DeadlineExceeded) {
		_ = server.Close()
		return drainTimedOut, nil
	}
	return drained, err
}

// limitedListener serves at most max connections at once: at the cap, Accept waits for a
// connection to end, so new ones wait in the kernel's listen backlog instead of being refused,
// and a burst sees slower answers rather than errors. It also wraps every connection in a
// sniffedConn (see heads.go).
type limitedListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func newLimitedListener(l net.Listener, max int) *limitedListener {
	if max < 1 {
		max = 1
	}
	return &limitedListener{Listener: l, slots: make(chan struct{}, max), closed: make(chan struct{})}
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return newSniffedConn(c, func() { <-l.slots }), nil
}

func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}
