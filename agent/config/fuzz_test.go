package config

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

// checkInvariants re-checks, independently of validate.go, what a Config
// returned by Parse promises.
func checkInvariants(c *Config) error {
	t := c.Timers
	for _, d := range []struct {
		name string
		v    int64
	}{{"heartbeat", int64(t.Heartbeat)}, {"peertrouble", int64(t.PeerTrouble)}, {"peerinact", int64(t.PeerInact)},
		{"heartbeatlo", int64(t.HeartbeatLo)}, {"peertroublelo", int64(t.PeerTroubleLo)}, {"peerinactlo", int64(t.PeerInactLo)}} {
		if d.v < int64(minTimer) || d.v > int64(maxTimer) {
			return fmt.Errorf("timer %s = %d out of range", d.name, d.v)
		}
	}
	if !(t.Heartbeat < t.PeerTrouble && t.PeerTrouble < t.PeerInact) {
		return fmt.Errorf("timers not ordered: %+v", t)
	}
	if !(t.HeartbeatLo < t.PeerTroubleLo && t.PeerTroubleLo < t.PeerInactLo) {
		return fmt.Errorf("lowpri timers not ordered: %+v", t)
	}
	if !validName.MatchString(c.Cluster.Name) || !strings.HasPrefix(c.Cluster.KeyFile, "/") {
		return fmt.Errorf("bad cluster %+v", c.Cluster)
	}
	if !strings.HasPrefix(c.Status.Socket, "/") {
		return fmt.Errorf("bad status socket %q", c.Status.Socket)
	}

	if len(c.Networks) < 1 || len(c.Networks) > MaxNetworks {
		return fmt.Errorf("%d networks", len(c.Networks))
	}
	netNames, ifaces := map[string]bool{}, map[string]bool{}
	fullRate := false
	for _, n := range c.Networks {
		if !validName.MatchString(n.Name) || netNames[n.Name] {
			return fmt.Errorf("bad or duplicate network name %q", n.Name)
		}
		netNames[n.Name] = true
		if n.Interface == "" || len(n.Interface) > 15 || strings.ContainsAny(n.Interface, "/: \t\n") || ifaces[n.Interface] {
			return fmt.Errorf("bad or duplicate interface %q", n.Interface)
		}
		ifaces[n.Interface] = true
		if len(n.Channels) == 0 || len(n.Channels) > 2 {
			return fmt.Errorf("network %s channels %q", n.Name, n.Channels)
		}
		seen := map[string]bool{}
		for _, ch := range n.Channels {
			if (ch != ChannelEther && ch != ChannelTCP) || seen[ch] {
				return fmt.Errorf("network %s channels %q", n.Name, n.Channels)
			}
			seen[ch] = true
		}
		if n.MTU != 0 && (n.MTU < 68 || n.MTU > 65535) {
			return fmt.Errorf("network %s mtu %d", n.Name, n.MTU)
		}
		switch n.EtherType {
		case 0x0800, 0x0806, 0x86DD, 0x8100, 0x88A8, 0x9100:
			return fmt.Errorf("network %s ethertype %#x", n.Name, n.EtherType)
		}
		if n.EtherType < 0x0600 || n.Port == 0 {
			return fmt.Errorf("network %s ethertype %#x port %d", n.Name, n.EtherType, n.Port)
		}
		fullRate = fullRate || !n.Lowpri
	}
	if !fullRate {
		return fmt.Errorf("every network is lowpri")
	}

	if len(c.Nodes) == 0 {
		return fmt.Errorf("no nodes")
	}
	ids, names := map[uint16]bool{}, map[string]bool{}
	self := 0
	for i, n := range c.Nodes {
		if i > 0 && c.Nodes[i-1].ID >= n.ID {
			return fmt.Errorf("nodes not sorted by id")
		}
		if n.ID > MaxNodeID || ids[n.ID] || !validName.MatchString(n.Name) || names[n.Name] {
			return fmt.Errorf("bad or duplicate node %d %q", n.ID, n.Name)
		}
		ids[n.ID], names[n.Name] = true, true
		if n.ID == c.Node.ID && n.Name == c.Node.Name {
			self++
		}
		for network, a := range n.Addresses {
			if !netNames[network] || !a.IsValid() || a.Zone() != "" {
				return fmt.Errorf("node %s address %s: %v", n.Name, network, a)
			}
		}
		for _, nw := range c.Networks {
			if _, ok := n.Addresses[nw.Name]; nw.HasChannel(ChannelTCP) && !ok {
				return fmt.Errorf("node %s has no address on tcp network %s", n.Name, nw.Name)
			}
		}
	}
	if self != 1 {
		return fmt.Errorf("node %+v is not in nodes", c.Node)
	}
	return nil
}

// fuzzErrLine matches the start of every line of a Parse error: the file
// name and, unless the problem is the whole file, the line.
var fuzzErrLine = regexp.MustCompile(`^f\.yaml(:[1-9][0-9]*)?: `)

func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(base()))
	f.Add([]byte(base("timers: {heartbeat: 50, peertrouble: 1.5s, peerinact: 2s}", "diagnostics: {loss_threshold: 50, flap_hold: 1s}")))
	f.Add([]byte(base("  - {name: hb1, interface: eth1, ethertype: \"0x0800\", channels: [tcp, tcp]}")))
	f.Add([]byte("cluster: &a {id: *a}\n"))
	f.Add([]byte("cluster: [1,\n  node: 2\n"))
	f.Add([]byte("---\n~\n---\na: 1\n"))
	f.Add([]byte("nodes: [{id: 1, name: a, addresses: {x: 1.2.3.4, x: ::1}}]\n<<: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "f.yaml")
		if err != nil {
			if c != nil {
				t.Fatalf("config and error both returned")
			}
			for _, l := range strings.Split(err.Error(), "\n") {
				if !fuzzErrLine.MatchString(l) {
					t.Fatalf("error line %q does not start with f.yaml[:LINE]: ", l)
				}
			}
			return
		}
		if err := checkInvariants(c); err != nil {
			t.Fatalf("Parse accepted a config that breaks an invariant: %v\n%s", err, data)
		}
	})
}

func FuzzParseKeys(f *testing.F) {
	f.Add([]byte(strings.Repeat("ab", 32) + "\n"))
	f.Add([]byte("# comment\n" + strings.Repeat("ab", 16) + "\n\n" + strings.Repeat("CD", 64) + "\r\n"))
	f.Add([]byte(strings.Repeat("ab", 16) + "\n" + strings.Repeat("ab", 16) + "\n"))
	f.Add([]byte("xyz\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseKeys(data, "k")
		if err != nil {
			if keys != nil {
				t.Fatalf("keys and error both returned")
			}
			for _, l := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(l, "k:") {
					t.Fatalf("error line %q does not name the file", l)
				}
			}
			return
		}
		if len(keys) < 1 || len(keys) > MaxKeys {
			t.Fatalf("%d keys", len(keys))
		}
		for _, k := range keys {
			if len(k) < MinKeyLen || len(k) > MaxKeyLen {
				t.Fatalf("key of %d bytes", len(k))
			}
		}
		if len(keys) == 2 && bytes.Equal(keys[0], keys[1]) {
			t.Fatalf("identical keys")
		}
	})
}
