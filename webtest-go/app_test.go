// The routes over real HTTP, and the small parsers and formatters behind them.
package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRootGreetsWithNameVersionAndHost(t *testing.T) {
	srv := start(t, defaultLimits())
	resp, body := get(t, "GET", "http://"+srv.addr+"/")
	if resp.StatusCode != 200 || body != "Hello from webtest 0.1.0 on 3f2a1b9c0d1e\n" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
}

func TestHealthzSaysOk(t *testing.T) {
	srv := start(t, defaultLimits())
	resp, body := get(t, "GET", "http://"+srv.addr+"/healthz")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestInfoReportsAllFieldsAsJSON(t *testing.T) {
	srv := start(t, defaultLimits())
	resp, body := get(t, "GET", "http://"+srv.addr+"/info")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want := `{"name":"webtest","version":"0.1.0","variant":"test","revision":"abc123","hostname":"3f2a1b9c0d1e","language":"go"}`
	if body != want {
		t.Fatalf("got  %s\nwant %s", body, want)
	}
}

func TestInfoReportsMissingVariantAndRevisionAsNull(t *testing.T) {
	var got map[string]interface{}
	if err := json.Unmarshal(testInfo(nil, nil).toJSON(), &got); err != nil {
		t.Fatal(err)
	}
	if got["variant"] != nil || got["revision"] != nil || got["language"] != "go" {
		t.Fatalf("got %v", got)
	}
	odd := testInfo(nil, nil)
	odd.Hostname = "a\"b\\c"
	if err := json.Unmarshal(odd.toJSON(), &got); err != nil || got["hostname"] != "a\"b\\c" {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestInfoFromEnvReadsVariantAndRevision(t *testing.T) {
	t.Setenv("WEBTEST_VARIANT", "multistage")
	t.Setenv("WEBTEST_REVISION", "")
	info := infoFromEnv()
	if info.Variant == nil || *info.Variant != "multistage" || info.Revision != nil {
		t.Fatalf("got %+v", info)
	}
	if info.Name != "webtest" || info.Language != "go" || info.Hostname == "" {
		t.Fatalf("got %+v", info)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	srv := start(t, defaultLimits())
	for _, path := range []string{"/missing", "/healthz/", "/delay/", "/delay/1/2", "/info.json"} {
		resp, body := get(t, "GET", "http://"+srv.addr+path)
		if resp.StatusCode != 404 || body != "not found\n" {
			t.Errorf("%s: got %d %q", path, resp.StatusCode, body)
		}
	}
	// An unknown path is 404 whatever the method, as in the Rust service.
	if resp, _ := get(t, "POST", "http://"+srv.addr+"/missing"); resp.StatusCode != 404 {
		t.Errorf("POST /missing: %d", resp.StatusCode)
	}
}

func TestWrongMethodOnKnownPathIs405WithAllow(t *testing.T) {
	srv := start(t, defaultLimits())
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		for _, path := range []string{"/", "/healthz", "/info", "/delay/5"} {
			resp, _ := get(t, method, "http://"+srv.addr+path)
			if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET,HEAD" {
				t.Errorf("%s %s: got %d, Allow %q", method, path, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
}

func TestHeadAnswersLikeGetWithoutABody(t *testing.T) {
	srv := start(t, defaultLimits())
	conn := dial(t, srv.addr)
	conn.send(t, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
	got := conn.next(t, "HEAD")
	if got.status != 200 || got.header.Get("Content-Length") != "41" || got.body != "" {
		t.Fatalf("got %+v", got)
	}
	// The same connection still serves a GET: no stray body bytes were sent after the HEAD.
	conn.send(t, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if next := conn.next(t, "GET"); next.status != 200 || next.body != "ok" {
		t.Fatalf("then got %+v", next)
	}
}

func TestDelayAnswersOkAfterTheWaitAndRejectsNonNumbers(t *testing.T) {
	srv := start(t, defaultLimits())
	began := time.Now()
	resp, body := get(t, "GET", "http://"+srv.addr+"/delay/200")
	if took := time.Since(began); resp.StatusCode != 200 || body != "ok" || took < 200*time.Millisecond {
		t.Fatalf("got %d %q after %v", resp.StatusCode, body, took)
	}
	for _, bad := range []string{"abc", "-1", "%2B1", "1.5", "1e3", "0x10"} {
		resp, body := get(t, "GET", "http://"+srv.addr+"/delay/"+bad)
		if resp.StatusCode != 400 || body != "delay: expected a number of milliseconds\n" {
			t.Errorf("%s: got %d %q", bad, resp.StatusCode, body)
		}
	}
}

func TestDelayIsACappedNumberOfMilliseconds(t *testing.T) {
	cases := map[string]time.Duration{
		"0": 0, "250": 250 * time.Millisecond, "10000": maxDelay, "20000": maxDelay,
		"99999999999999999999999": maxDelay,
	}
	for in, want := range cases {
		if got, ok := parseDelay(in); !ok || got != want {
			t.Errorf("parseDelay(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "abc", "-1", "+1", "1.5", "1e3", " 1", "0x10"} {
		if _, ok := parseDelay(bad); ok {
			t.Errorf("parseDelay(%q) accepted", bad)
		}
	}
}

func TestAccessLineHasTheDocumentedShape(t *testing.T) {
	got := accessLine("127.0.0.1:53422", "GET", "/healthz", "HTTP/1.1", 200, 2, 120*time.Microsecond)
	if want := `127.0.0.1:53422 "GET /healthz HTTP/1.1" 200 2 0.120ms`; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	got = accessLine("", "POST", "/x?y=1", "HTTP/1.0", 404, 10, 3*time.Millisecond)
	if want := `- "POST /x?y=1 HTTP/1.0" 404 10 3.000ms`; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestHostnamePrefersFilesThenEnvThenUnknown(t *testing.T) {
	dir := t.TempDir()
	empty, named := filepath.Join(dir, "empty"), filepath.Join(dir, "named")
	_ = os.WriteFile(empty, []byte("\n"), 0o644)
	_ = os.WriteFile(named, []byte("box42\n"), 0o644)
	missing := filepath.Join(dir, "missing")
	if got := hostname([]string{missing, empty, named}, "from-env"); got != "box42" {
		t.Errorf("got %q", got)
	}
	if got := hostname([]string{missing, empty}, "from-env"); got != "from-env" {
		t.Errorf("got %q", got)
	}
	if got := hostname([]string{missing}, " "); got != "unknown" {
		t.Errorf("got %q", got)
	}
}

func TestParsesTheTwoModesAndFlags(t *testing.T) {
	ok := map[string]command{
		"":                        {mode: "serve"},
		"--version":               {mode: "version"},
		"-h":                      {mode: "help"},
		"healthcheck":             {mode: "healthcheck"},
		"healthcheck --port 9000": {mode: "healthcheck", port: 9000},
		"healthcheck --port=9001": {mode: "healthcheck", port: 9001},
	}
	for line, want := range ok {
		got, err := parseArgs(strings.Fields(line))
		if err != nil || got != want {
			t.Errorf("%q: got %+v, %v", line, got, err)
		}
	}
	for _, line := range []string{"healthcheck --port 0", "healthcheck --port", "serve now", "--port 1"} {
		if _, err := parseArgs(strings.Fields(line)); err == nil {
			t.Errorf("%q accepted", line)
		}
	}
}

func TestPortsAre1To65535(t *testing.T) {
	for in, want := range map[string]int{"8080": 8080, " 80 ": 80, "65535": 65535} {
		if got, err := parsePort(in); err != nil || got != want {
			t.Errorf("%q: %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"0", "65536", "http", "", "-1"} {
		if _, err := parsePort(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
