package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ha/tether/testbed"
)

// pprofAddr is where node 0's tetherd serves --pprof, inside its network
// namespace.
const pprofAddr = "127.0.0.1:6060"

// pprofClient talks to a tetherd --pprof server inside a network
// namespace.
type pprofClient struct {
	base string
	hc   *http.Client
}

// newPprofClient returns a client for http://addr inside namespace ns:
// every connection is created by a thread that has joined ns.
func newPprofClient(ns, addr string) *pprofClient {
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		var c net.Conn
		err := testbed.InNS(ns, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, a)
			return err
		})
		return c, err
	}
	return &pprofClient{base: "http://" + addr, hc: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true},
	}}
}

func (c *pprofClient) get(path string) ([]byte, error) {
	resp, err := c.hc.Get(c.base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

// memStats is the part of runtime.MemStats the benchmark reads.
type memStats struct {
	HeapAlloc  uint64
	HeapInuse  uint64
	StackInuse uint64
	Sys        uint64
	NumGC      uint32
}

// memstats reads /debug/vars (expvar: "memstats" is runtime.MemStats).
func (c *pprofClient) memstats() (memStats, error) {
	body, err := c.get("/debug/vars")
	if err != nil {
		return memStats{}, err
	}
	return parseVars(body)
}

// parseVars extracts the memstats of an expvar document.
func parseVars(body []byte) (memStats, error) {
	var doc struct {
		Memstats *memStats `json:"memstats"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return memStats{}, fmt.Errorf("/debug/vars: %w", err)
	}
	if doc.Memstats == nil || doc.Memstats.Sys == 0 {
		return memStats{}, fmt.Errorf("/debug/vars: no memstats")
	}
	return *doc.Memstats, nil
}

// gc makes the agent collect garbage: the heap profile runs runtime.GC
// first when asked with gc=1.
func (c *pprofClient) gc() error {
	_, err := c.get("/debug/pprof/heap?gc=1")
	return err
}

// goroutines returns the number of goroutines from the goroutine profile.
func (c *pprofClient) goroutines() (int, error) {
	body, err := c.get("/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	return parseGoroutines(string(body))
}

// parseGoroutines reads "goroutine profile: total N" from the first line
// of a debug=1 goroutine profile.
func parseGoroutines(profile string) (int, error) {
	line, err := bufio.NewReader(strings.NewReader(profile)).ReadString('\n')
	if err != nil && line == "" {
		return 0, fmt.Errorf("goroutine profile: empty")
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("goroutine profile: first line %q", strings.TrimSpace(line))
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0, fmt.Errorf("goroutine profile: total %q: %w", rest, err)
	}
	return n, nil
}
