// The healthcheck probe against real servers: ours, a closed port, a wrong answer, silence.
package main

import (
	"net"
	"net/http"
	"testing"
	"time"
)

func TestHealthcheckSucceedsAgainstARunningServer(t *testing.T) {
	srv := start(t, defaultLimits())
	if err := healthcheck(srv.addr, healthcheckTimeout); err != nil {
		t.Fatal(err)
	}
}

func TestHealthcheckFailsAgainstAClosedPort(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()
	if err := healthcheck(addr, time.Second); err == nil {
		t.Fatal("a closed port passed")
	}
}

func TestHealthcheckFailsOnANon200Answer(t *testing.T) {
	failing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	srv := startHandler(t, failing, defaultLimits())
	err := healthcheck(srv.addr, time.Second)
	if err == nil || !contains(err.Error(), "503") {
		t.Fatalf("got %v", err)
	}
}

func TestHealthcheckTimesOutOnASilentServer(t *testing.T) {
	// A listener that accepts (through the kernel's backlog) and never answers.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	began := time.Now()
	if err := healthcheck(listener.Addr().String(), 300*time.Millisecond); err == nil {
		t.Fatal("a silent server passed")
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("the timeout was not kept: %v", took)
	}
}
