package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/testbed"
)

// The round trip of a VCS cluster: every node's llttab written as Linux
// installers write it (devices by MAC), imported by the real tetherctl in
// the node's namespace, so that the MACs resolve to that node's NICs; the
// imported configurations replace the bed's (only its own paths patched
// in: status socket; the key file is passed to the import); the cluster
// comes up with every link UP.
func TestImportLLTTab(t *testing.T) {
	testbed.RequireRoot(t)
	b := testbed.New(t, testbed.Options{BinDir: binDir})
	hosts := writeLLTHosts(t, b)
	for i := 0; i < b.N(); i++ {
		tab := fmt.Sprintf(`set-node %s
set-cluster 4242
link priv0 eth-%s - ether - -
link priv1 eth-%s - ether - -
set-timer heartbeat:10
set-timer peerinact:800
exclude 3-63
`, b.NodeName(i), strings.ToUpper(b.MAC(i, "hb0").String()), strings.ToUpper(b.MAC(i, "hb1").String()))
		cfg, warnings := importNode(t, b, i, tab, hosts)
		for k, nw := range cfg.Networks {
			bedNet := []string{"hb0", "hb1"}[k]
			if nw.Name != []string{"priv0", "priv1"}[k] || nw.Interface != b.Iface(i, bedNet) || !slices.Equal(nw.Channels, []string{"ether"}) {
				t.Errorf("node%d: network %d imported as %+v, want priv%d on %s (the NIC with MAC %s)", i, k, nw, k, b.Iface(i, bedNet), b.MAC(i, bedNet))
			}
		}
		tm := cfg.Timers
		if tm.Heartbeat != 100*time.Millisecond || tm.PeerTrouble != 2*time.Second || tm.PeerInact != 8*time.Second ||
			tm.HeartbeatLo != time.Second || tm.PeerTroubleLo != 4*time.Second || tm.PeerInactLo != 8*time.Second {
			t.Errorf("node%d: timers %+v, want LLT's: set heartbeat 100ms and peerinact 8s, the others LLT's defaults", i, tm)
		}
		if strings.Contains(warnings, "placeholder") {
			t.Errorf("node%d: an eth-<MAC> device did not resolve in its namespace:\n%s", i, warnings)
		}
	}
	b.StartAll()
	b.WaitAllUp(upTimeout)
	checkImportedStatus(t, b, 4242, []string{"priv0", "priv1"}, "ether")
}

// LLT over UDP across routers (set-addr for every peer, broadcasts off):
// the import finds each link's interface by its IP in the node's
// namespace and runs tether's tcp channel between the same addresses.
func TestImportLLTTabUDP(t *testing.T) {
	testbed.RequireRoot(t)
	b := testbed.New(t, testbed.Options{BinDir: binDir})
	hosts := writeLLTHosts(t, b)
	for i := 0; i < b.N(); i++ {
		var tab strings.Builder
		fmt.Fprintf(&tab, "set-node %d\nset-cluster 4243\n", i)
		for k, net := range []string{"hb0", "hb1"} {
			fmt.Fprintf(&tab, "link link%d /dev/udp - udp %d - %s -\n", k+1, 50000+k, b.IP(i, net))
		}
		for j := 0; j < b.N(); j++ {
			for k, net := range []string{"hb0", "hb1"} {
				if j != i {
					fmt.Fprintf(&tab, "set-addr %d link%d %s\n", j, k+1, b.IP(j, net))
				}
			}
		}
		tab.WriteString("set-bcasthb 0\nset-arp 0\n")
		cfg, warnings := importNode(t, b, i, tab.String(), hosts)
		for k, nw := range cfg.Networks {
			bedNet := []string{"hb0", "hb1"}[k]
			if nw.Interface != b.Iface(i, bedNet) || !slices.Equal(nw.Channels, []string{"tcp"}) {
				t.Errorf("node%d: network %d imported as %+v, want tcp on %s (which holds %s)", i, k, nw, b.Iface(i, bedNet), b.IP(i, bedNet))
			}
			for _, n := range cfg.Nodes {
				if got, want := n.Addresses[nw.Name], b.IP(int(n.ID), bedNet); got != want {
					t.Errorf("node%d: %s's address on %s is %v, want %v", i, n.Name, nw.Name, got, want)
				}
			}
		}
		if !strings.Contains(warnings, "LLT's UDP port 50000 is not carried over") {
			t.Errorf("node%d: no warning about the port:\n%s", i, warnings)
		}
	}
	b.StartAll()
	b.WaitAllUp(upTimeout)
	checkImportedStatus(t, b, 4243, []string{"link1", "link2"}, "tcp")
}

// writeLLTHosts writes the bed's llthosts (the same file on every node).
func writeLLTHosts(t *testing.T, b *testbed.Bed) string {
	t.Helper()
	var s strings.Builder
	s.WriteString("# LLT node table\n")
	for i := 0; i < b.N(); i++ {
		fmt.Fprintf(&s, "%d %s\n", i, b.NodeName(i))
	}
	path := filepath.Join(t.TempDir(), "llthosts")
	if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// importNode runs `tetherctl import-llttab` in node i's namespace on tab
// and hosts, checks it, and puts the result in place of the bed's config
// with the bed's status socket added. It returns the configuration as
// tether reads it and the warnings.
func importNode(t *testing.T, b *testbed.Bed, i int, tab, hosts string) (*config.Config, string) {
	t.Helper()
	ctl := filepath.Join(binDir, "tetherctl")
	if _, err := os.Stat(ctl); err != nil {
		t.Fatalf("%v: TETHER_BIN_DIR must hold tetherctl (make e2e builds ./cmd/... there)", err)
	}
	dir := t.TempDir()
	tabPath, out := filepath.Join(dir, "llttab"), filepath.Join(dir, "tether.yaml")
	if err := os.WriteFile(tabPath, []byte(tab), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", b.NodeNS(i), ctl, "import-llttab", "--key-file", b.KeyPath(), "-o", out, tabPath, hosts)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node%d: tetherctl import-llttab: %v\n%s%s\nllttab:\n%s", i, err, stdout.String(), stderr.String(), tab)
	}
	for _, l := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, "tetherctl: warning: ") {
			t.Errorf("node%d: stderr line %q is not a warning", i, l)
		}
	}
	imported, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(imported, out)
	if err != nil {
		t.Fatalf("node%d: the import does not parse: %v\n%s", i, err, imported)
	}
	if cfg.Node.ID != uint16(i) || cfg.Node.Name != b.NodeName(i) || len(cfg.Nodes) != b.N() || len(cfg.Networks) != 2 || cfg.Cluster.KeyFile != b.KeyPath() {
		t.Fatalf("node%d: imported node %+v, %d nodes, %d networks, key %s\n%s", i, cfg.Node, len(cfg.Nodes), len(cfg.Networks), cfg.Cluster.KeyFile, imported)
	}
	// The bed's own path: where the bed reads each agent's status.
	patched := append(imported, fmt.Sprintf("status: {socket: %s}\n", b.Socket(i))...)
	if err := os.WriteFile(b.ConfigPath(i), patched, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("node%d: imported\n%s", i, patched)
	return cfg, stderr.String()
}

// checkImportedStatus checks what every agent says of the cluster it
// runs: the imported cluster id, networks and channel, every peer OPEN.
func checkImportedStatus(t *testing.T, b *testbed.Bed, cluster uint16, nets []string, channel string) {
	t.Helper()
	for i := 0; i < b.N(); i++ {
		st, err := b.Status(i)
		if err != nil {
			t.Fatal(err)
		}
		if st.Cluster != cluster || st.LocalName != b.NodeName(i) || len(st.Networks) != len(nets) {
			t.Errorf("node%d: cluster %d, local %s, %d networks", i, st.Cluster, st.LocalName, len(st.Networks))
			continue
		}
		for k, nw := range st.Networks {
			if nw.Name != nets[k] || nw.Interface != b.Iface(i, []string{"hb0", "hb1"}[k]) {
				t.Errorf("node%d: network %s on %s, want %s on %s", i, nw.Name, nw.Interface, nets[k], b.Iface(i, []string{"hb0", "hb1"}[k]))
			}
		}
		for _, n := range st.Nodes {
			if n.State != status.NodeOpen {
				t.Errorf("node%d sees node%d %s", i, n.ID, n.State)
			}
			if n.Local {
				continue
			}
			for _, l := range n.Links {
				if l.Channels[channel] != status.ChannelUp {
					t.Errorf("node%d: %s to node%d: channels %v, want %s UP", i, l.Network, n.ID, l.Channels, channel)
				}
			}
		}
	}
}
