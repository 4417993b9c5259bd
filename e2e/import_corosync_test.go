package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/migrate/corosync"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/testbed"
)

// corosyncConf is the corosync.conf (as pcs writes it) of a cluster on the
// bed: node i is node<i+1> with nodeid i+1, ring0 on the bed's hb0, ring1
// on hb1.
func corosyncConf(b *testbed.Bed) string {
	var nodes strings.Builder
	for i := 0; i < b.N(); i++ {
		fmt.Fprintf(&nodes, "    node {\n        ring0_addr: %s\n        ring1_addr: %s\n        name: node%d\n        nodeid: %d\n    }\n\n",
			b.IP(i, "hb0"), b.IP(i, "hb1"), i+1, i+1)
	}
	return `totem {
    version: 2
    cluster_name: tbimport
    transport: knet
    crypto_cipher: aes256
    crypto_hash: sha256

    interface {
        linknumber: 0
    }

    interface {
        linknumber: 1
    }
}

nodelist {
` + nodes.String() + `}

quorum {
    provider: corosync_votequorum
}

logging {
    to_logfile: yes
    logfile: /var/log/cluster/corosync.log
    to_syslog: yes
    timestamp: on
}
`
}

// tetherctlBin is the tetherctl of binDir, or a fresh build of it (the
// testbed's Build makes only tetherd and tetherstat).
func tetherctlBin(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(binDir, "tetherctl"); fileExists(p) {
		return p
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	out := filepath.Join(t.TempDir(), "tetherctl")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/tetherctl")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build tetherctl: %v\n%s", err, msg)
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// One corosync.conf for the whole cluster, imported on every node inside
// the node's namespace without --node: the import finds the node and its
// interfaces there (netlink). The bed's own configurations are replaced by
// the imports, patched only with the bed's status socket (the key file is
// the import's --key-file); cluster, nodes, addresses, networks,
// interfaces and timers all come from the import. Every link comes UP and
// every node OPEN, with corosync's timers (3 nodes: token 3650 ms,
// heartbeat 912 ms, peerinact 1825 ms).
func TestImportCorosyncRoundTrip(t *testing.T) {
	testbed.RequireRoot(t)
	b := testbed.New(t, testbed.Options{BinDir: binDir, Networks: []testbed.NetworkSpec{
		{Name: "hb0", Channels: []string{"tcp"}},
		{Name: "hb1", Channels: []string{"tcp"}},
	}})
	ctl := tetherctlBin(t)
	conf := filepath.Join(b.Dir(), "corosync.conf")
	if err := os.WriteFile(conf, []byte(corosyncConf(b)), 0o644); err != nil {
		t.Fatal(err)
	}
	wantID := corosync.DeriveClusterID("tbimport")
	for i := 0; i < b.N(); i++ {
		imported := b.ConfigPath(i) + ".imported"
		cmd := exec.Command("ip", "netns", "exec", b.NodeNS(i), ctl, "import-corosync", "--key-file", b.KeyPath(), "-o", imported, conf)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("node%d: tetherctl import-corosync: %v\n%s", i, err, stderr.String())
		}
		if stdout.Len() != 0 || !strings.Contains(stderr.String(), "tetherctl: warning: "+conf+":") {
			t.Errorf("node%d: stdout %q, stderr:\n%s", i, stdout.String(), stderr.String())
		}
		cfg, err := config.Load(imported)
		if err != nil {
			t.Fatalf("node%d: %v", i, err)
		}
		if cfg.Cluster.ID != wantID || cfg.Cluster.Name != "tbimport" || cfg.Node.ID != uint16(i+1) || len(cfg.Nodes) != b.N() {
			t.Errorf("node%d imported cluster %+v, node %+v, %d nodes", i, cfg.Cluster, cfg.Node, len(cfg.Nodes))
		}
		for k, bedNet := range []string{"hb0", "hb1"} {
			n := cfg.Networks[k]
			if n.Name != fmt.Sprint("ring", k) || n.Interface != b.Iface(i, bedNet) || len(n.Channels) != 1 || n.Channels[0] != "tcp" {
				t.Errorf("node%d network %d: %+v, want ring%d on %s", i, k, n, k, b.Iface(i, bedNet))
			}
			for j := 0; j < b.N(); j++ {
				if got := cfg.Nodes[j].Addresses[n.Name]; got != b.IP(j, bedNet) {
					t.Errorf("node%d: node %d's %s address %s, want %s", i, j+1, n.Name, got, b.IP(j, bedNet))
				}
			}
		}
		if tm := cfg.Timers; tm.Heartbeat != 912*time.Millisecond || tm.PeerTrouble != 1368*time.Millisecond || tm.PeerInact != 1825*time.Millisecond {
			t.Errorf("node%d timers %+v", i, tm)
		}
		data, err := os.ReadFile(imported)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("\nstatus:")) {
			t.Fatalf("node%d: the import has a status section already:\n%s", i, data)
		}
		data = fmt.Appendf(data, "status: {socket: %s}\n", b.Socket(i))
		if err := os.WriteFile(b.ConfigPath(i), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	b.StartAll()
	// Slow timers: the claim takes three heartbeats (2.7 s), a link needs
	// a few more to come up.
	const wait = 30 * time.Second
	for i := 0; i < b.N(); i++ {
		self := uint16(i + 1)
		st := b.WaitFor(i, "every link UP and every node OPEN", wait, func(st *status.Status) bool {
			for _, p := range []uint16{1, 2, 3} {
				if p == self {
					continue
				}
				n := testbed.FindNode(st, p)
				if n == nil || n.State != status.NodeOpen {
					return false
				}
				for _, net := range []string{"ring0", "ring1"} {
					if l := testbed.FindLink(st, p, net); l == nil || l.State != status.LinkUp || l.Channels["tcp"] != "UP" {
						return false
					}
				}
			}
			return true
		})
		if st.Cluster != wantID || st.ClusterName != "tbimport" || st.LocalNode != self || st.LocalName != fmt.Sprint("node", self) ||
			st.Config.HeartbeatMs != 912 || st.Config.PeerInactMs != 1825 {
			t.Errorf("node%d runs cluster %d %q as node %d %q, heartbeat %v ms, peerinact %v ms", i, st.Cluster, st.ClusterName,
				st.LocalNode, st.LocalName, st.Config.HeartbeatMs, st.Config.PeerInactMs)
		}
	}
}
