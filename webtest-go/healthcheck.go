// `webtest healthcheck`: a probe of our own server, for Docker's HEALTHCHECK. An image FROM
// scratch or distroless has no shell, curl or wget, so the binary probes itself.
package main

import (
	"fmt"
	"net/http"
	"time"
)

// healthcheckTimeout is the overall time limit of one probe, connecting included.
const healthcheckTimeout = 2 * time.Second

// healthcheck sends GET /healthz to addr (host:port) and succeeds iff the answer is 200.
func healthcheck(addr string, timeout time.Duration) error {
	client := &http.Client{
		Timeout: timeout,
		// A probe of the local server must never go through a proxy from the environment.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "webtest-healthcheck")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unexpected answer: %q", resp.Status)
	}
	return nil
}
