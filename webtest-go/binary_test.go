// The program as a process: start-up line, access log, graceful stop on SIGTERM and SIGINT,
// exit codes for a bad PORT and for the healthcheck mode. The test binary itself is run as the
// program (see TestMain in main_test.go).
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// program runs the webtest program with args and extra environment.
func program(args []string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runAsProgram+"=1"), env...)
	return cmd
}

// freePort is a port nobody listens on, as far as the kernel knows right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serving is the program serving on a free port, with its log lines arriving on a channel.
type serving struct {
	cmd   *exec.Cmd
	port  int
	lines chan string
}

func startProgram(t *testing.T) *serving {
	t.Helper()
	port := freePort(t)
	cmd := program(nil, "PORT="+strconv.Itoa(port), "WEBTEST_VARIANT=process-test")
	// Not cmd.StdoutPipe: Wait closes that pipe, and lines the scanner has not read yet are
	// lost. With a pipe of our own, exec copies the output into it and Wait returns only once
	// every line has been read (io.Pipe hands each write to the reader).
	stdout, writer := io.Pipe()
	cmd.Stdout = writer
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = writer.Close() })
	s := &serving{cmd: cmd, port: port, lines: make(chan string, 100)}
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			s.lines <- scanner.Text()
		}
		close(s.lines)
	}()
	if first := s.nextLine(t); !strings.HasPrefix(first, "webtest 0.1.0 listening on 0.0.0.0:"+strconv.Itoa(port)) {
		t.Fatalf("first line %q", first)
	}
	return s
}

func (s *serving) nextLine(t *testing.T) string {
	t.Helper()
	select {
	case line := <-s.lines:
		return line
	case <-time.After(5 * time.Second):
		t.Fatal("no log line within 5 s")
	}
	return ""
}

func exitsGracefullyOn(t *testing.T, sig syscall.Signal, name string) {
	s := startProgram(t)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", s.port))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if line := s.nextLine(t); !strings.Contains(line, `"GET /healthz HTTP/1.1" 200 2 `) || !strings.HasSuffix(line, "ms") {
		t.Fatalf("access log line %q", line)
	}
	began := time.Now()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("exit after %s: %v", name, err)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("stopping took %v", took)
	}
	if line := s.nextLine(t); line != "webtest: "+name+" received, shutting down" {
		t.Fatalf("line %q", line)
	}
	if line := s.nextLine(t); line != "webtest: stopped" {
		t.Fatalf("line %q", line)
	}
}

func TestProgramExits0PromptlyOnSIGTERM(t *testing.T) {
	exitsGracefullyOn(t, syscall.SIGTERM, "SIGTERM")
}

func TestProgramExits0PromptlyOnSIGINT(t *testing.T) { exitsGracefullyOn(t, syscall.SIGINT, "SIGINT") }

func TestProgramLetsARequestInFlightFinishOnSIGTERM(t *testing.T) {
	s := startProgram(t)
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/delay/400", s.port))
		if err != nil {
			answer <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- fmt.Sprintf("%d %s", resp.StatusCode, body)
	}()
	time.Sleep(150 * time.Millisecond)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if got := <-answer; got != "200 ok" {
		t.Fatalf("in-flight request got %q", got)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

func TestBadPortExits2NamingPORT(t *testing.T) {
	for _, value := range []string{"abc", "0", "70000", ""} {
		cmd := program(nil, "PORT="+value)
		out, err := cmd.CombinedOutput()
		code := cmd.ProcessState.ExitCode()
		if err == nil || code != 2 || !strings.Contains(string(out), "PORT: invalid port") {
			t.Errorf("PORT=%q: exit %d, output %q", value, code, out)
		}
	}
}

func TestHealthcheckModeExitCodes(t *testing.T) {
	s := startProgram(t)
	if out, err := program([]string{"healthcheck", "--port", strconv.Itoa(s.port)}).CombinedOutput(); err != nil {
		t.Fatalf("against a running server: %v %s", err, out)
	}
	// Without --port it takes PORT, like the server does.
	if out, err := program([]string{"healthcheck"}, "PORT="+strconv.Itoa(s.port)).CombinedOutput(); err != nil {
		t.Fatalf("with PORT: %v %s", err, out)
	}
	closed := freePort(t)
	cmd := program([]string{"healthcheck", "--port=" + strconv.Itoa(closed)})
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "webtest healthcheck: 127.0.0.1:") {
		t.Fatalf("against a closed port: exit %d, %q", code, out)
	}
	cmd = program([]string{"healthcheck", "--port", "0"})
	_, _ = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("bad --port: exit %d", code)
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, err := program([]string{"--version"}).Output()
	if err != nil || string(out) != "webtest 0.1.0\n" {
		t.Fatalf("--version: %q, %v", out, err)
	}
	out, err = program([]string{"--help"}).Output()
	if err != nil || !strings.Contains(string(out), "webtest healthcheck [--port N]") {
		t.Fatalf("--help: %q, %v", out, err)
	}
}
