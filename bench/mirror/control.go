package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tether-ha/tether/replicator/topicapi"
	"github.com/tether-ha/tether/testbed"
)

// runControl runs the latency part's producer against the control server
// in node0's namespace, its file beside node0's replicator directory;
// chained, that server forwards to another in node1's namespace on its
// hb0 address.
func runControl(t testbed.T, m *mirrorBed, o options, chained bool) (*PacedResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(m.dirs[primary])
	var files []string
	var servers []*child
	stop := func() {
		for _, s := range servers {
			s.stop(syscall.SIGKILL, 0)
		}
		for _, f := range files {
			os.Remove(f)
		}
	}
	t.Cleanup(stop)
	defer stop()
	start := func(node int, addr, fwd string) (*topicapi.Client, error) {
		file := filepath.Join(dir, fmt.Sprintf("control%d.log", node))
		files = append(files, file)
		srv, err := startChild(m.NodeNS(node), os.Stderr, self, controlArg, addr, file, fwd)
		if err != nil {
			return nil, err
		}
		servers = append(servers, srv)
		hc := testbed.HTTPClient(m.NodeNS(node))
		hc.Timeout = requestTimeout
		c := topicapi.NewClient(addr).WithHTTPClient(hc)
		err = poll("the control server on "+m.NodeName(node), upTimeout, 20*time.Millisecond, srv, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := c.Produce(ctx, controlTopic, [][]byte{[]byte("ready?")})
			return err
		})
		return c, err
	}
	fwd, what := "", "fsync, no tether"
	if chained {
		addr := net.JoinHostPort(m.IP(mirror, "hb0").String(), controlPort)
		if _, err := start(mirror, addr, ""); err != nil {
			return nil, err
		}
		fwd, what = "http://"+addr, "fsync, forward, fsync; no tether"
	}
	c, err := start(primary, net.JoinHostPort("127.0.0.1", controlPort), fwd)
	if err != nil {
		return nil, err
	}
	r, err := paced(m, o, c, controlTopic, what, false)
	if r != nil {
		r.TargetP99Ms, r.Met = 0, false
	}
	return r, err
}
