// Command webtest is the Go twin of the Rust webtest service: the small HTTP service the Docker
// multistage-build lesson builds into images. It serves GET / (a greeting), GET /healthz ("ok"),
// GET /info (JSON) and GET /delay/{ms}, logs one line per request, stops gracefully on SIGTERM
// and SIGINT (also as PID 1), and doubles as its own health probe (`webtest healthcheck`) so that
// an image without a shell can carry a HEALTHCHECK.
//
// This file holds only the command line; the routes are in app.go, the server in server.go.
package main

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// versionFile is the module's VERSION file, the one place the version is written: the image
// labels read it too (the manifest's version_from).
//
//go:embed VERSION
var versionFile string

// name and version are what / , /info and --version report. The version follows the Rust
// service's, so that the two apps answer alike.
var (
	name    = "webtest"
	version = strings.TrimSpace(versionFile)
)

// defaultPort is the port served when PORT is not set.
const defaultPort = 8080

// exitUsage is the exit code of a usage or configuration error, such as a bad PORT; exit code 1
// is any other failure (Docker reserves 2 for HEALTHCHECK, so the probe only ever uses 0 and 1).
const exitUsage = 2

const help = `Usage:
  webtest                           serve HTTP on 0.0.0.0:$PORT (default 8080)
  webtest healthcheck [--port N]    exit 0 iff GET /healthz on 127.0.0.1 answers 200
  webtest --version | --help

Routes: GET / (greeting), GET /healthz ("ok"), GET /info (JSON),
        GET /delay/{ms} ("ok" after ms milliseconds, at most 10000;
        for testing timeouts and graceful shutdown).
Environment: PORT, WEBTEST_VARIANT, WEBTEST_REVISION.
SIGTERM or SIGINT stops the server gracefully.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

// command is what the command line asks for.
type command struct {
	mode string // "serve", "healthcheck", "version" or "help"
	port int    // for healthcheck: 0 means "from PORT, or the default"
}

// parseArgs parses the arguments after the program name, the same way the Rust service does.
func parseArgs(args []string) (command, error) {
	switch {
	case len(args) == 0:
		return command{mode: "serve"}, nil
	case len(args) == 1 && (args[0] == "--version" || args[0] == "-V"):
		return command{mode: "version"}, nil
	case len(args) == 1 && (args[0] == "--help" || args[0] == "-h"):
		return command{mode: "help"}, nil
	case args[0] == "healthcheck":
		rest := args[1:]
		switch {
		case len(rest) == 0:
			return command{mode: "healthcheck"}, nil
		case len(rest) == 2 && rest[0] == "--port":
			port, err := parsePort(rest[1])
			if err != nil {
				return command{}, fmt.Errorf("--port: %v", err)
			}
			return command{mode: "healthcheck", port: port}, nil
		case len(rest) == 1 && strings.HasPrefix(rest[0], "--port="):
			port, err := parsePort(strings.TrimPrefix(rest[0], "--port="))
			if err != nil {
				return command{}, fmt.Errorf("--port: %v", err)
			}
			return command{mode: "healthcheck", port: port}, nil
		}
		return command{}, fmt.Errorf("unexpected arguments to healthcheck: %q", rest)
	}
	return command{}, fmt.Errorf("unexpected arguments: %q", args)
}

// parsePort parses a TCP port from 1 to 65535; surrounding white space is allowed.
func parsePort(value string) (int, error) {
	port, err := strconv.ParseUint(strings.TrimSpace(value), 10, 16)
	if err != nil || port == 0 {
		return 0, fmt.Errorf("invalid port %q: expected a number from 1 to 65535", value)
	}
	return int(port), nil
}

// portFromEnv is the port from PORT, or defaultPort when PORT is unset.
func portFromEnv() (int, error) {
	value, ok := os.LookupEnv("PORT")
	if !ok {
		return defaultPort, nil
	}
	port, err := parsePort(value)
	if err != nil {
		return 0, fmt.Errorf("PORT: %v", err)
	}
	return port, nil
}

// run runs the program with the arguments after its name and returns its exit code.
func run(args []string) int {
	cmd, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n\n%s", name, err, help)
		return exitUsage
	}
	switch cmd.mode {
	case "version":
		logLine(name + " " + version)
		return 0
	case "help":
		logLine(name + " " + version + ": a small HTTP demo service\n\n" + help)
		return 0
	case "healthcheck":
		return runHealthcheck(cmd.port)
	}
	return runServer()
}

// runHealthcheck probes the local server; every failure is exit code 1.
func runHealthcheck(port int) int {
	if port == 0 {
		p, err := portFromEnv()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s healthcheck: %v\n", name, err)
			return 1
		}
		port = p
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := healthcheck(addr, healthcheckTimeout); err != nil {
		fmt.Fprintf(os.Stderr, "%s healthcheck: %s: %v\n", name, addr, err)
		return 1
	}
	return 0
}

// runServer serves until SIGTERM or SIGINT, and returns 0 after a graceful stop.
func runServer() int {
	port, err := portFromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	// A closed stdout (nobody reads the log any more) must not kill the server: by default Go
	// exits on SIGPIPE from a write to file descriptor 1 or 2; ignored, the write just fails.
	signal.Ignore(syscall.SIGPIPE)
	// The handlers are installed before the listener opens, so a signal sent right after
	// start-up is not lost. As PID 1 in a container the kernel delivers no signal whose action
	// is the default, so without them `docker stop` would wait its whole timeout.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	addr := net.JoinHostPort("0.0.0.0", strconv.Itoa(port))
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot listen on %s: %v\n", name, addr, err)
		return 1
	}
	info := infoFromEnv()
	logLine(fmt.Sprintf("%s %s listening on %s", name, version, addr))

	stop := make(chan struct{})
	go func() {
		sig := <-signals
		logLine(fmt.Sprintf("%s: %s received, shutting down", name, signalName(sig)))
		close(stop)
	}()
	stopped, err := serve(listener, stop, info, defaultLimits())
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: server error: %v\n", name, err)
		return 1
	}
	if stopped == drainTimedOut {
		logLine(fmt.Sprintf("%s: stopped; requests still running after %ds were dropped",
			name, int(defaultLimits().DrainTimeout.Seconds())))
	} else {
		logLine(name + ": stopped")
	}
	return 0
}

// signalName is the conventional name of the two signals the server stops on.
func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return sig.String()
}
