package corosync

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-ha/tether/agent"
	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/migrate"
)

// host fakes this host's interfaces: address -> interface name.
type host map[string]string

func (h host) lookup(a netip.Addr) string { return h[a.String()] }

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// convertFile converts testdata/name and checks that the result is a
// valid tether configuration.
func convertFile(t *testing.T, name string, o Options) *migrate.Draft {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseAndConvert(data, name, o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	checkValid(t, d)
	return d
}

// convertErr converts testdata/name and returns its error.
func convertErr(t *testing.T, name string, o Options) error {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseAndConvert(data, name, o)
	if err == nil {
		t.Fatalf("%s converted, want an error:\n%s", name, d.Render())
	}
	return err
}

// checkValid renders d with a key file of its own and runs what
// `tetherd --check` runs on it (agent.Check: config.Load and the key
// file), then compares the configuration tether reads with the Draft.
func checkValid(t *testing.T, d *migrate.Draft) *config.Config {
	t.Helper()
	dir := t.TempDir()
	saved := d.KeyFile
	d.KeyFile = filepath.Join(dir, "cluster.key")
	defer func() { d.KeyFile = saved }()
	if err := os.WriteFile(d.KeyFile, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tether.yaml")
	out := d.Render()
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, keys, err := agent.Check(path)
	if err != nil {
		t.Fatalf("the imported configuration does not pass tetherd --check: %v\n%s", err, out)
	}
	if len(keys) != 1 {
		t.Errorf("%d keys", len(keys))
	}
	if cfg.Cluster.ID != d.ClusterID || cfg.Node.ID != d.NodeID || len(cfg.Nodes) != len(d.Nodes) || len(cfg.Networks) != len(d.Networks) {
		t.Errorf("tether read %+v / %+v, %d nodes, %d networks from\n%s", cfg.Cluster, cfg.Node, len(cfg.Nodes), len(cfg.Networks), out)
	}
	for i, n := range d.Networks {
		if c := cfg.Networks[i]; c.Name != n.Name || c.Interface != n.Interface || c.MTU != n.MTU || !cmp.Equal(c.Channels, n.Channels) {
			t.Errorf("network %d: tether read %+v, the draft has %+v", i, c, n)
		}
	}
	for _, n := range d.Nodes {
		for net, a := range n.Addresses {
			if got := cfg.Nodes[indexOfNode(cfg, n.ID)].Addresses[net]; got != netip.MustParseAddr(a) {
				t.Errorf("node %d %s: tether read %s, the draft has %s", n.ID, net, got, a)
			}
		}
	}
	for _, tm := range d.Timers {
		got := map[string]time.Duration{"heartbeat": cfg.Timers.Heartbeat, "peertrouble": cfg.Timers.PeerTrouble, "peerinact": cfg.Timers.PeerInact}[tm.Key]
		if got != tm.Value {
			t.Errorf("timer %s: tether read %v, the draft has %v", tm.Key, got, tm.Value)
		}
	}
	return cfg
}

func indexOfNode(cfg *config.Config, id uint16) int {
	for i, n := range cfg.Nodes {
		if n.ID == id {
			return i
		}
	}
	return -1
}

// want is what a conversion must give, field by field.
type want struct {
	clusterID   uint16
	clusterName string
	nodeID      uint16
	nodeName    string
	nodes       []migrate.Node
	networks    []migrate.Network
	timers      [3]time.Duration // heartbeat, peertrouble, peerinact
	// notes: "line: text" (line "" for the whole file), each a substring
	// of one Note at that line.
	notes []string
}

func check(t *testing.T, d *migrate.Draft, w want) {
	t.Helper()
	if d.ClusterID != w.clusterID || d.ClusterName != w.clusterName {
		t.Errorf("cluster %d %q, want %d %q", d.ClusterID, d.ClusterName, w.clusterID, w.clusterName)
	}
	if d.NodeID != w.nodeID || d.NodeName != w.nodeName {
		t.Errorf("node %d %q, want %d %q", d.NodeID, d.NodeName, w.nodeID, w.nodeName)
	}
	if diff := cmp.Diff(w.nodes, d.Nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	nets := make([]migrate.Network, len(d.Networks))
	for i, n := range d.Networks {
		n.Comment = "" // checked apart
		nets[i] = n
	}
	if diff := cmp.Diff(w.networks, nets); diff != "" {
		t.Errorf("networks (-want +got):\n%s", diff)
	}
	var got [3]time.Duration
	if len(d.Timers) != 3 || d.Timers[0].Key != "heartbeat" || d.Timers[1].Key != "peertrouble" || d.Timers[2].Key != "peerinact" {
		t.Fatalf("timers %+v", d.Timers)
	}
	for i := range got {
		got[i] = d.Timers[i].Value
	}
	if got != w.timers {
		t.Errorf("timers %v, want %v", got, w.timers)
	}
	for _, wn := range w.notes {
		line, text, _ := strings.Cut(wn, ": ")
		where := d.Sources[0]
		if line != "" {
			where += ":" + line
		}
		found := false
		for _, n := range d.Notes {
			if n.Where == where && strings.Contains(n.Text, text) {
				found = true
			}
		}
		if !found {
			t.Errorf("no note at %s containing %q; notes:\n%s", where, text, strings.Join(d.Warnings(), "\n"))
		}
	}
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func tcpNet(name, iface string, mtu int) migrate.Network {
	return migrate.Network{Name: name, Interface: iface, Channels: []string{"tcp"}, MTU: mtu}
}

func node(id uint16, name string, addrs ...string) migrate.Node {
	n := migrate.Node{ID: id, Name: name, Addresses: map[string]string{}}
	for i := 0; i+1 < len(addrs); i += 2 {
		n.Addresses[addrs[i]] = addrs[i+1]
	}
	return n
}
