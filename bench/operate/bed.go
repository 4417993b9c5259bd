package main

import (
	"fmt"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/testbed"
)

// Networks of the public bed.
const (
	pubNet      = "pub"
	publicPort  = 7946 // memberlist
	metricsPort = 9187
)

// privateNets are the public bed's interconnects, the ones a partition
// blackholes.
var privateNets = []string{"hb0", "hb1"}

// newPublicBed is e2e's publicBed: 3 nodes on two private networks (hb0,
// hb1, with channels: e2e's ether and tcp) and a public network, pub,
// that carries no tether link, only the public channel (memberlist on
// :7946) and the metrics (<pub IP>:9187). Default timers. Without public,
// the same bed without the public channel (the idle baseline).
func newPublicBed(t testbed.T, bin string, channels []string, public bool) *testbed.Bed {
	o := testbed.Options{BinDir: bin}
	for _, n := range privateNets {
		o.Networks = append(o.Networks, testbed.NetworkSpec{Name: n, Channels: channels})
	}
	o.Networks = append(o.Networks, testbed.NetworkSpec{Name: pubNet, Channels: []string{"tcp"}})
	o.EditConfig = func(i int, doc map[string]any) {
		var nets []any
		for _, n := range doc["networks"].([]any) {
			if n.(map[string]any)["name"] != pubNet {
				nets = append(nets, n)
			}
		}
		doc["networks"] = nets
		var join []any
		var ip any
		for j, n := range doc["nodes"].([]any) {
			addrs := n.(map[string]any)["addresses"].(map[string]any)
			join = append(join, fmt.Sprintf("%s:%d", addrs[pubNet], publicPort))
			if j == i {
				ip = addrs[pubNet]
			}
			delete(addrs, pubNet)
		}
		if public {
			doc["public"] = map[string]any{"bind": fmt.Sprintf("%s:%d", ip, publicPort), "join": join}
		}
		doc["metrics"] = map[string]any{"listen": fmt.Sprintf("%s:%d", ip, metricsPort)}
	}
	return testbed.New(t, o)
}

// publicMetricsAddr is node i's metrics address on the public bed.
func publicMetricsAddr(b *testbed.Bed, i int) string {
	return fmt.Sprintf("%s:%d", b.IP(i, pubNet), metricsPort)
}

// ready reports whether st sees every link to every peer healthy, every
// peer OPEN and alive on the public channel (with public), and no link in
// its flap window (so that trials in a row are not, rightly, flapping,
// and each starts from the same state).
func ready(st *status.Status, peers int, public bool) bool {
	if !testbed.AllLinksUp(st, peers) {
		return false
	}
	for _, n := range st.Nodes {
		if n.Local {
			continue
		}
		if n.State != status.NodeOpen || public && n.Public != "alive" {
			return false
		}
		for _, l := range n.Links {
			if l.Flaps > 0 {
				return false
			}
		}
	}
	return true
}

// waitReady waits until every node is ready (see ready).
func waitReady(b *testbed.Bed, timeout time.Duration, public bool) error {
	return bedutil.WaitAll(b, timeout, "links not all up, a peer not OPEN or not alive on the public channel, or a link in its flap window",
		func(st *status.Status) bool { return ready(st, b.N()-1, public) })
}
