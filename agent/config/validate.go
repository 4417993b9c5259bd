package config

import (
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Checks of single values, run while walking.

// checkName validates node, network and cluster names.
func checkName(s string) error {
	ok := len(s) >= 1 && len(s) <= MaxNameLen
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("invalid name %q: use 1 to %d letters, digits, '.', '_' or '-'", s, MaxNameLen)
	}
	return nil
}

// checkIfName validates a Linux interface name the way the kernel does
// (dev_valid_name): 1 to 15 bytes, not "." or "..", no '/', ':' or space.
func checkIfName(s string) error {
	bad := len(s) == 0 || len(s) > 15 || s == "." || s == ".." ||
		strings.ContainsFunc(s, func(r rune) bool { return r == '/' || r == ':' || r == 0 || unicode.IsSpace(r) })
	if bad {
		return fmt.Errorf("invalid interface name %q: Linux names are 1 to 15 characters without '/', ':' or spaces", s)
	}
	return nil
}

// parseRetentionAge is a Go duration of at least a minute, or "off" (0).
func parseRetentionAge(s string) (time.Duration, error) {
	if s == "off" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("invalid retention_age %q: a duration of at least a minute (\"168h\", \"30m\"), or off", s)
	}
	return d, nil
}

func checkRetentionAge(s string) error {
	_, err := parseRetentionAge(s)
	return err
}

func checkAbsPath(s string) error {
	if !filepath.IsAbs(s) || strings.ContainsRune(s, 0) {
		return fmt.Errorf("%q is not an absolute path", s)
	}
	return nil
}

// checkSocket validates a unix socket path: absolute, and short enough for
// sockaddr_un (108 bytes with the terminating NUL).
func checkSocket(s string) error {
	if err := checkAbsPath(s); err != nil {
		return err
	}
	if len(s) > 107 {
		return fmt.Errorf("path is %d bytes long: a unix socket path must be at most 107", len(s))
	}
	return nil
}

// checkListen validates an HTTP listen address: an IP literal and a port
// (a host name would make the address depend on DNS at start), or "off".
func checkListen(s string) error {
	if s == MetricsOff {
		return nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return fmt.Errorf("%q is not an address: want IP:port such as %s (or %q)", s, DefaultMetricsListen, MetricsOff)
	}
	if ap.Port() == 0 {
		return fmt.Errorf("%q has no port", s)
	}
	return nil
}

// checkAddrPort validates an IP:port (a literal IP: memberlist advertises
// it, and a name would depend on DNS at start).
func checkAddrPort(s string) error {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return fmt.Errorf("%q is not an address: want IP:port such as 10.0.0.1:7946", s)
	}
	if ap.Port() == 0 || ap.Addr().IsUnspecified() {
		return fmt.Errorf("%q: want a node's own IP and a port, not 0", s)
	}
	return nil
}

func checkChannel(s string) error {
	if s != ChannelEther && s != ChannelTCP {
		return fmt.Errorf("unknown channel %q: channels are %q and %q", s, ChannelEther, ChannelTCP)
	}
	return nil
}

// reservedEtherTypes are EtherTypes a heartbeat must not use: the host or
// the switches give them a meaning of their own.
var reservedEtherTypes = map[int64]string{
	0x0800: "IPv4",
	0x0806: "ARP",
	0x86DD: "IPv6",
	0x8100: "802.1Q VLAN",
	0x88A8: "802.1ad VLAN",
	0x9100: "QinQ VLAN",
	0x8809: "LACP (slow protocols)",
	0x888E: "802.1X",
	0x88CC: "LLDP",
	0x88E5: "MACsec",
}

func checkEtherType(n int64) error {
	if name, ok := reservedEtherTypes[n]; ok {
		return fmt.Errorf("0x%04X is %s: choose another EtherType (default 0x%04X)", n, name, DefaultEtherType)
	}
	return nil
}

// checkNodeAddr validates a node's unicast address on a network.
func checkNodeAddr(s string) error {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not an IP address", s)
	case a.Zone() != "":
		return fmt.Errorf("%q has a zone: give the address alone, the network's interface is used", s)
	case a.IsUnspecified() || a.IsMulticast():
		return fmt.Errorf("%s is not a unicast address", s)
	}
	return nil
}

// Checks across keys, run after walking. Each skips values that already
// failed (w.ok), so one mistake is reported once.

func validate(c *Config, w *walker) {
	validateNetworks(c, w)
	validateNodes(c, w)
	validateSelf(c, w)
	validateTimers(c, w)
	validateDiagnostics(c, w)
	validateResources(c, w)
	validateQuorum(c, w)
}

func validateDiagnostics(c *Config, w *walker) {
	d := c.Diagnostics
	for _, k := range []struct {
		key string
		v   time.Duration
	}{{"loss_window", d.LossWindow}, {"flap_window", d.FlapWindow}, {"flap_hold", d.FlapHold},
		{"flap_hold_max", d.FlapHoldMax}, {"broadcast_every", d.BroadcastEvery}} {
		if p := "diagnostics." + k.key; k.v <= 0 && w.ok(p) && w.given(p) {
			w.failf(p, "must be a positive duration")
		}
	}
	if p := "diagnostics.flap_hold"; d.FlapHold > d.FlapHoldMax && w.ok(p) && w.ok("diagnostics.flap_hold_max") {
		w.failf(p, "flap_hold (%v) must not be above flap_hold_max (%v)", d.FlapHold, d.FlapHoldMax)
	}
	if p := "diagnostics.mtu_probe_every"; d.MTUProbeEvery == 0 && w.given(p) && w.ok(p) {
		w.failf(p, "must be a number of heartbeats (1 probes every heartbeat), or -1 to turn MTU probes off")
	}
}

func validateNetworks(c *Config, w *walker) {
	if len(c.Networks) == 0 && w.ok("networks") {
		w.failf("networks", "at least one network is needed")
	}
	if len(c.Networks) > MaxNetworks {
		w.failf(index("networks", MaxNetworks), "too many networks: at most %d are supported", MaxNetworks)
	}
	names := map[string]string{} // name -> path of first use
	ifaces := map[string]int{}   // interface -> index of first use
	for i, n := range c.Networks {
		p := index("networks", i)
		if np := p + ".name"; w.ok(np) {
			if first, dup := names[n.Name]; dup {
				w.failf(np, "duplicate network name %q, first used at line %d", n.Name, w.lineOf(first))
			} else {
				names[n.Name] = np
			}
		}
		if ip := p + ".interface"; w.ok(ip) {
			if first, dup := ifaces[n.Interface]; dup {
				w.failf(ip, "interface %q is already used by network %q (line %d): each network needs its own interface",
					n.Interface, c.Networks[first].Name, w.lineOf(index("networks", first)+".interface"))
			} else {
				ifaces[n.Interface] = i
			}
		}
		if cp := p + ".channels"; w.ok(cp) {
			if len(n.Channels) == 0 {
				w.failf(cp, "must name at least one channel (%s, %s)", ChannelEther, ChannelTCP)
			}
			for j, ch := range n.Channels {
				if slices.Index(n.Channels, ch) < j {
					w.failf(index(cp, j), "channel %q is given twice", ch)
				}
			}
		}
	}
	if len(c.Networks) > 0 && w.ok("networks") && !slices.ContainsFunc(c.Networks, func(n Network) bool { return !n.Lowpri }) {
		w.failf("networks", "every network is lowpri: at least one must carry full-rate heartbeats (lowpri: false)")
	}
}

func validateNodes(c *Config, w *walker) {
	if len(c.Nodes) == 0 && w.ok("nodes") {
		w.failf("nodes", "at least one node (this one) is needed")
	}
	ids := map[uint16]string{} // id -> path of first use
	names := map[string]string{}
	for i, n := range c.Nodes {
		p := index("nodes", i)
		if ip := p + ".id"; w.ok(ip) {
			if first, dup := ids[n.ID]; dup {
				w.failf(ip, "duplicate id %d, first used at line %d", n.ID, w.lineOf(first))
			} else {
				ids[n.ID] = ip
			}
		}
		if np := p + ".name"; w.ok(np) {
			if first, dup := names[n.Name]; dup {
				w.failf(np, "duplicate name %q, first used at line %d", n.Name, w.lineOf(first))
			} else {
				names[n.Name] = np
			}
		}
	}

	// Addresses name configured networks; tcp networks need one per node.
	if !w.ok("networks") {
		return
	}
	known := make([]string, len(c.Networks))
	isKnown := map[string]bool{}
	for i, n := range c.Networks {
		known[i] = n.Name
		isKnown[n.Name] = true
	}
	type netAddr struct {
		network string
		addr    netip.Addr
	}
	owner := map[netAddr]int{} // -> index of the node that has it
	for i, n := range c.Nodes {
		p := index("nodes", i) + ".addresses"
		for _, network := range slices.Sorted(maps.Keys(n.Addresses)) {
			ap := child(p, network)
			if !isKnown[network] {
				w.failf(ap, "unknown network %q: the networks are %s", network, strings.Join(known, ", "))
				continue
			}
			k := netAddr{network, n.Addresses[network]}
			if first, dup := owner[k]; dup {
				w.failf(ap, "address %s is already node %q's on network %s (line %d)",
					k.addr, c.Nodes[first].Name, network, w.lineOf(child(index("nodes", first)+".addresses", network)))
			} else {
				owner[k] = i
			}
		}
		for _, nw := range c.Networks {
			if _, has := n.Addresses[nw.Name]; has || !nw.HasChannel(ChannelTCP) || w.bad[child(p, nw.Name)] {
				continue
			}
			w.failf(p, "node %q has no address on network %q, which carries the tcp channel: add %s: IP to its addresses",
				n.Name, nw.Name, nw.Name)
		}
	}
}

// validateSelf checks that node names an entry of nodes.
func validateSelf(c *Config, w *walker) {
	if !w.ok("node") || !w.ok("nodes") {
		return
	}
	me := c.Node
	byID := slices.IndexFunc(c.Nodes, func(n Node) bool { return n.ID == me.ID })
	byName := slices.IndexFunc(c.Nodes, func(n Node) bool { return n.Name == me.Name })
	switch {
	case byID >= 0 && byID == byName:
		return
	case byID >= 0:
		w.failf("node", "node is {id: %d, name: %s} but nodes has id %d named %q (line %d): they must match",
			me.ID, me.Name, me.ID, c.Nodes[byID].Name, w.lineOf(index("nodes", byID)))
	case byName >= 0:
		w.failf("node", "node is {id: %d, name: %s} but nodes has %s with id %d (line %d): they must match",
			me.ID, me.Name, me.Name, c.Nodes[byName].ID, w.lineOf(index("nodes", byName)))
	default:
		w.failf("node", "node {id: %d, name: %s} is not in nodes: every node, this one included, must be listed there",
			me.ID, me.Name)
	}
}

// validateTimers checks heartbeat < peertrouble < peerinact, and the same
// for the lowpri timers.
func validateTimers(c *Config, w *walker) {
	t := c.Timers
	order(w, [3]string{"heartbeat", "peertrouble", "peerinact"}, [3]time.Duration{t.Heartbeat, t.PeerTrouble, t.PeerInact})
	order(w, [3]string{"heartbeatlo", "peertroublelo", "peerinactlo"}, [3]time.Duration{t.HeartbeatLo, t.PeerTroubleLo, t.PeerInactLo})
}

func order(w *walker, keys [3]string, vals [3]time.Duration) {
	rule := keys[0] + " < " + keys[1] + " < " + keys[2]
	for i := 0; i < 2; i++ {
		lo, hi := "timers."+keys[i], "timers."+keys[i+1]
		if vals[i] < vals[i+1] || !w.ok(lo) || !w.ok(hi) {
			continue
		}
		// Blame the later key if it was given, else the earlier one.
		if w.given(hi) || !w.given(lo) {
			w.failf(hi, "%v must be greater than %s (%v): the rule is %s", vals[i+1], keys[i], vals[i], rule)
		} else {
			w.failf(lo, "%v must be less than %s (%v): the rule is %s", vals[i], keys[i+1], vals[i+1], rule)
		}
	}
}
