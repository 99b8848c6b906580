// The routes of the service, what it says about itself, and the access log around them. They
// answer exactly like the Rust service's (webtest/src/app.rs and info.rs), so that the same
// probes hold for both apps; /info adds the language.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxDelay is the longest wait GET /delay/{ms} grants; larger values are cut down to it. Ten
// seconds keeps a request in flight across a `docker stop`, and the cap keeps a client from
// parking requests on the server for arbitrarily long.
const maxDelay = 10 * time.Second

// appInfo holds the facts / and /info report. All of it is gathered once at start-up, because
// none of it changes while the process runs.
type appInfo struct {
	Name     string  `json:"name"`
	Version  string  `json:"version"`
	Variant  *string `json:"variant"`
	Revision *string `json:"revision"`
	Hostname string  `json:"hostname"`
	Language string  `json:"language"`
}

// revision is the source revision stamped at build time (-ldflags "-X main.revision=…"); the
// WEBTEST_REVISION variable, when set, wins, so that an image can stamp it with ENV.
var revision = ""

// infoFromEnv gathers the facts from the environment of the running process.
func infoFromEnv() appInfo {
	rev := nonEmpty(os.Getenv("WEBTEST_REVISION"))
	if rev == nil {
		rev = nonEmpty(revision)
	}
	return appInfo{
		Name:     name,
		Version:  version,
		Variant:  nonEmpty(os.Getenv("WEBTEST_VARIANT")),
		Revision: rev,
		Hostname: hostname([]string{"/proc/sys/kernel/hostname", "/etc/hostname"}, os.Getenv("HOSTNAME")),
		Language: "go",
	}
}

// nonEmpty treats an empty value like a missing one, since `ENV X=` in a Dockerfile means "not
// set".
func nonEmpty(value string) *string {
	if strings.TrimSpace(value) == "" {
		return nil
	}
	return &value
}

// hostname is the first non-empty, trimmed name among the files and then env, else "unknown".
// The kernel's own record comes first because it is always right, even in an image FROM
// scratch that has no /etc/hostname.
func hostname(files []string, env string) string {
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			if name := strings.TrimSpace(string(data)); name != "" {
				return name
			}
		}
	}
	if name := strings.TrimSpace(env); name != "" {
		return name
	}
	return "unknown"
}

// greeting is the plain-text answer of GET /.
func (info appInfo) greeting() string {
	return fmt.Sprintf("Hello from %s %s on %s\n", info.Name, info.Version, info.Hostname)
}

// toJSON is the answer of GET /info; the struct's field order is the documented key order.
func (info appInfo) toJSON() []byte {
	data, err := json.Marshal(info)
	if err != nil {
		// Marshalling strings cannot fail; this keeps the handler total all the same.
		return []byte(`{}`)
	}
	return data
}

// parseDelay parses the {ms} of /delay/{ms}: a decimal number of milliseconds, cut down to
// maxDelay; a number too large even for uint64 is cut down too, since it is still a number.
// Anything else (empty, signs, letters, fractions) is not.
func parseDelay(value string) (time.Duration, bool) {
	if value == "" {
		return 0, false
	}
	for _, c := range value {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseUint(value, 10, 64)
	if err != nil || ms > uint64(maxDelay/time.Millisecond) {
		// Only digits reach here, so the one possible error is a value out of range.
		return maxDelay, true
	}
	return time.Duration(ms) * time.Millisecond, true
}

// router answers the routes:
//
//   - GET /: a greeting naming the service, its version and host;
//   - GET /healthz: "ok", for health probes;
//   - GET /info: the service's facts as JSON;
//   - GET /delay/{ms}: "ok" after ms milliseconds (at most maxDelay; not a number is 400).
//
// HEAD is answered on every GET route (same headers, no body), another method on a known path
// with 405 and an Allow header, and any other path with 404. It is written by hand rather than
// with http.ServeMux because method patterns need Go 1.22, and the code keeps to Go 1.19
// (Debian bookworm's own), as go.mod says.
func router(info appInfo) http.Handler {
	greeting := []byte(info.greeting())
	infoJSON := info.toJSON()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var serve func()
		switch path := r.URL.Path; {
		case path == "/":
			serve = func() { reply(w, http.StatusOK, "text/plain; charset=utf-8", greeting) }
		case path == "/healthz":
			serve = func() { reply(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok")) }
		case path == "/info":
			serve = func() { reply(w, http.StatusOK, "application/json", infoJSON) }
		case strings.HasPrefix(path, "/delay/") && len(path) > len("/delay/") &&
			!strings.Contains(path[len("/delay/"):], "/"):
			serve = func() { delay(w, r, path[len("/delay/"):]) }
		default:
			reply(w, http.StatusNotFound, "text/plain; charset=utf-8", []byte("not found\n"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET,HEAD")
			reply(w, http.StatusMethodNotAllowed, "", nil)
			return
		}
		serve()
	})
}

// delay answers "ok" after the requested time. The wait goes on through a graceful shutdown,
// which lets requests in flight finish; it ends early only if the client goes away.
func delay(w http.ResponseWriter, r *http.Request, value string) {
	wait, ok := parseDelay(value)
	if !ok {
		reply(w, http.StatusBadRequest, "text/plain; charset=utf-8",
			[]byte("delay: expected a number of milliseconds\n"))
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		reply(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok"))
	case <-r.Context().Done():
	}
}

// reply writes a whole answer with its length, so that every response has a Content-Length.
func reply(w http.ResponseWriter, status int, contentType string, body []byte) {
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
