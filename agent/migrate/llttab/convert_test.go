package llttab_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent"
	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/migrate"
	"github.com/tether-ha/tether/agent/migrate/llttab"
)

// host fakes the look-ups tetherctl does with netlink and the file system.
type host struct {
	macs     map[string][]string // MAC -> interfaces
	ips      map[string]string   // IP -> interface
	files    map[string]string   // path -> content
	lookedUp []string            // every MAC and IP asked for
}

func (h *host) options(keyFile string) llttab.Options {
	return llttab.Options{
		LLTTabFile:   "llttab",
		LLTHostsFile: "llthosts",
		KeyFile:      keyFile,
		InterfacesByMAC: func(mac net.HardwareAddr) ([]string, error) {
			h.lookedUp = append(h.lookedUp, mac.String())
			return h.macs[mac.String()], nil
		},
		InterfaceByIP: func(ip netip.Addr) (string, error) {
			h.lookedUp = append(h.lookedUp, ip.String())
			return h.ips[ip.String()], nil
		},
		ReadFile: func(path string) ([]byte, error) {
			s, ok := h.files[path]
			if !ok {
				return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrNotExist}
			}
			return []byte(s), nil
		},
	}
}

// testdata returns NAME.llttab and NAME.llthosts (two.llthosts when the
// case has none of its own).
func testdata(t testing.TB, name string) (tab, hosts []byte) {
	t.Helper()
	tab, err := os.ReadFile(filepath.Join("testdata", name+".llttab"))
	if err != nil {
		t.Fatal(err)
	}
	hosts, err = os.ReadFile(filepath.Join("testdata", name+".llthosts"))
	if errors.Is(err, os.ErrNotExist) {
		hosts, err = os.ReadFile(filepath.Join("testdata", "two.llthosts"))
	}
	if err != nil {
		t.Fatal(err)
	}
	return tab, hosts
}

// writeKey writes a key file as the README says to make one (openssl rand
// -hex 32, mode 0600) in a temporary directory.
func writeKey(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cluster.key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkTether runs tether's own validation on d: config.Parse of the YAML
// and agent.Check (what tetherd --check runs) of it written to a file
// beside a real key file. It returns the parsed configuration.
func checkTether(t *testing.T, d *migrate.Draft) *config.Config {
	t.Helper()
	yaml := d.Render()
	if _, err := config.Parse(yaml, "imported.yaml"); err != nil {
		t.Fatalf("config.Parse refuses the import: %v\n%s", err, yaml)
	}
	path := filepath.Join(t.TempDir(), "tether.yaml")
	if err := os.WriteFile(path, yaml, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, keys, err := agent.Check(path)
	if err != nil {
		t.Fatalf("agent.Check (tetherd --check) refuses the import: %v\n%s", err, yaml)
	}
	if len(keys) != 1 {
		t.Fatalf("agent.Check read %d keys", len(keys))
	}
	return cfg
}

// llt is the six timers of an imported llttab, in LLT's unit (1/100 s).
func llt(hb, tr, in, hblo, trlo, inlo int, comments ...string) []migrate.Timer {
	keys := []string{"heartbeat", "peertrouble", "peerinact", "heartbeatlo", "peertroublelo", "peerinactlo"}
	out := make([]migrate.Timer, 6)
	for i, v := range []int{hb, tr, in, hblo, trlo, inlo} {
		out[i] = migrate.Timer{Key: keys[i], Value: time.Duration(v) * 10 * time.Millisecond, Comment: comments[i]}
	}
	return out
}

func node(id uint16, name string, addrs ...string) migrate.Node {
	n := migrate.Node{ID: id, Name: name, Addresses: map[string]string{}}
	for i := 0; i+1 < len(addrs); i += 2 {
		n.Addresses[addrs[i]] = addrs[i+1]
	}
	return n
}

func ether(name, iface, comment string) migrate.Network {
	return migrate.Network{Name: name, Interface: iface, Channels: []string{"ether"}, Comment: comment}
}

func lowpri(n migrate.Network) migrate.Network { n.Lowpri = true; return n }

func tcp(name, iface, comment string) migrate.Network {
	return migrate.Network{Name: name, Interface: iface, Channels: []string{"tcp"}, Comment: comment}
}

// Notes every import has.
const (
	keyNote   = "cluster.key_file: tether authenticates every frame with the key in "
	namesNote = "the networks are named after the link tags ("
	etherNote = "ether networks use tether's EtherType 0x88B5, not LLT's 0xCAFE"
	noTimers  = "llttab: no set-timer: LLT ran with its defaults (heartbeat 0.5s, peertrouble 2s, peerinact 16s; link-lowpri heartbeat 1s, peertrouble 4s), tether's own are kept (heartbeat 100ms, peertrouble 300ms, peerinact 600ms"
)

// The published llttab files, converted field by field.
func TestPublishedFiles(t *testing.T) {
	ltDefault := func(k string, v int) string { return "LLT's default (" + k + ":" + strconv.Itoa(v) + ")" }
	cases := []struct {
		name  string
		host  host
		want  migrate.Draft // Notes are checked by wantNotes
		notes []string      // each warning's beginning, in order, and no other
	}{{
		name: "llt-md",
		want: migrate.Draft{ClusterID: 2, NodeID: 0, NodeName: "north",
			Nodes: []migrate.Node{node(0, "north"), node(1, "south")},
			Networks: []migrate.Network{
				ether("eth1", "eth1", "from llttab:3, device eth1"),
				ether("eth2", "eth2", "from llttab:4, device eth2"),
				lowpri(ether("ce0", "ce0", "from llttab:5, device /dev/ce:0")),
			},
			Timers: llt(50, 350, 1600, 100, 400, 1600, ltDefault("heartbeat", 50), "set-timer peertrouble:350",
				ltDefault("peerinact", 1600), ltDefault("heartbeatlo", 100), ltDefault("peertroublelo", 400), "LLT's peerinact, the same for every link")},
		notes: []string{
			"llttab:5: link ce0: device /dev/ce:0 is a Solaris, HP-UX or AIX name: interface ce0 is a guess",
			etherNote, keyNote, namesNote + "eth1, eth2, ce0)",
		},
	}, {
		name: "linux-eth",
		want: migrate.Draft{ClusterID: 2, NodeID: 0, NodeName: "north",
			Nodes:    []migrate.Node{node(0, "north"), node(1, "south")},
			Networks: []migrate.Network{ether("eth1", "eth1", "from llttab:3, device eth1"), ether("eth2", "eth2", "from llttab:4, device eth2")}},
		notes: []string{noTimers, etherNote, keyNote, namesNote},
	}, {
		name: "linux-mac",
		host: host{macs: map[string][]string{
			"00:04:23:ac:12:c4": {"ens1f0"},
			"00:04:23:ac:12:c5": {"ens1f1", "ens1f1.100"},
		}},
		want: migrate.Draft{ClusterID: 1042, NodeID: 0, NodeName: "galaxy",
			Nodes: []migrate.Node{node(0, "galaxy"), node(1, "nebula")},
			Networks: []migrate.Network{
				ether("eth1", "ens1f0", "from llttab:5, device eth-00:04:23:AC:12:C4, which is ens1f0 here"),
				ether("eth2", "ens1f1", "from llttab:6, device eth-00:04:23:ac:12:c5, which is ens1f1 here"),
				lowpri(ether("eth0", "FIXME-eth0", "from llttab:7, device eth-00:04:23:AC:12:C3; PLACEHOLDER: set the interface")),
			}},
		notes: []string{
			noTimers,
			"llttab:6: link eth2: interfaces ens1f1, ens1f1.100 all have MAC 00:04:23:ac:12:c5: ens1f1 is used",
			"llttab:7: link eth0: no interface of this host has MAC 00:04:23:ac:12:c3 (device eth-00:04:23:AC:12:C3): interface FIXME-eth0 is a placeholder",
			etherNote, keyNote, namesNote,
		},
	}, {
		name: "solaris",
		want: migrate.Draft{ClusterID: 91, NodeID: 1, NodeName: "b0d06u02",
			Nodes: []migrate.Node{node(0, "b0d06u01"), node(1, "b0d06u02")},
			Networks: []migrate.Network{
				ether("ce1", "ce1", "from llttab:3, device /dev/ce:1"),
				ether("ce6", "ce6", "from llttab:4, device /dev/ce:6"),
				lowpri(ether("ce0", "ce0", "from llttab:5, device /dev/ce:0")),
			},
			Timers: llt(50, 350, 1600, 100, 400, 1600, ltDefault("heartbeat", 50), "set-timer peertrouble:350",
				ltDefault("peerinact", 1600), ltDefault("heartbeatlo", 100), ltDefault("peertroublelo", 400), "LLT's peerinact, the same for every link")},
		notes: []string{"llttab:3: link ce1: device /dev/ce:1 is a Solaris", "llttab:4: link ce6: device /dev/ce:6", "llttab:5: link ce0: device /dev/ce:0",
			etherNote, keyNote, namesNote},
	}, {
		name: "hpux",
		want: migrate.Draft{ClusterID: 2, NodeID: 0, NodeName: "galaxy",
			Nodes:    []migrate.Node{node(0, "galaxy"), node(1, "nebula")},
			Networks: []migrate.Network{ether("lan1", "lan1", "from llttab:3, device /dev/lan:1"), ether("lan2", "lan2", "from llttab:4, device /dev/lan:2")}},
		notes: []string{noTimers, "llttab:3: link lan1: device /dev/lan:1 is a Solaris, HP-UX or AIX name: interface lan1", "llttab:4: link lan2", etherNote, keyNote, namesNote},
	}, {
		name: "old-start",
		want: migrate.Draft{ClusterID: 0, NodeID: 1, NodeName: "sysb",
			Nodes:    []migrate.Node{node(0, "sysa"), node(1, "sysb")},
			Networks: []migrate.Network{ether("qfe0", "qfe0", "from llttab:2, device /dev/qfe:0"), ether("qfe1", "qfe1", "from llttab:3, device /dev/qfe:1")}},
		notes: []string{"llttab: no set-cluster: LLT's default cluster id 0 is used", noTimers, "llttab:2: link qfe0", "llttab:3: link qfe1",
			"llttab:4: start: the end marker of old llttab files: not carried over", etherNote, keyNote, namesNote},
	}, {
		name: "udp-bcast",
		host: host{ips: map[string]string{"192.168.9.1": "eth1", "192.168.10.1": "eth2"}},
		want: migrate.Draft{ClusterID: 1, NodeID: 0, NodeName: "galaxy",
			Nodes: []migrate.Node{node(0, "galaxy", "link1", "192.168.9.1", "link2", "192.168.10.1"), node(1, "nebula")},
			Networks: []migrate.Network{
				ether("link1", "eth1", "from llttab:3, device /dev/udp, IP 192.168.9.1 is on eth1 here"),
				ether("link2", "eth2", "from llttab:4, device /dev/udp, IP 192.168.10.1 is on eth2 here"),
			}},
		notes: []string{noTimers,
			"llttab:3: link link1: LLT's UDP port 50000 is not carried over: tether's tcp channel listens on TCP port 7947",
			"llttab:3: link link1: LLT found nebula by broadcast to 192.168.9.255 (no set-addr): tether's tcp channel needs every node's address, so this network carries raw Ethernet",
			"llttab:4: link link2: LLT's UDP port 50001",
			"llttab:4: link link2: LLT found nebula by broadcast to 192.168.10.255",
			etherNote, keyNote, namesNote},
	}, {
		name: "udp-routed",
		host: host{ips: map[string]string{"192.1.3.1": "eth1", "192.1.4.1": "eth2"}},
		want: migrate.Draft{ClusterID: 1, NodeID: 1, NodeName: "Node1",
			Nodes: []migrate.Node{
				node(0, "Node0", "link1", "192.1.1.1", "link2", "192.1.2.1"),
				node(1, "Node1", "link1", "192.1.3.1", "link2", "192.1.4.1"),
				node(2, "Node2", "link1", "192.1.5.2", "link2", "192.1.6.2"),
				node(3, "Node3", "link1", "192.1.7.3", "link2", "192.1.8.3"),
			},
			Networks: []migrate.Network{
				tcp("link1", "eth1", "from llttab:3, device /dev/udp, IP 192.1.3.1 is on eth1 here"),
				tcp("link2", "eth2", "from llttab:4, device /dev/udp, IP 192.1.4.1 is on eth2 here"),
			}},
		notes: []string{noTimers, "llttab:3: link link1: LLT's UDP port 50000", "llttab:4: link link2: LLT's UDP port 50001",
			"llttab:16: set-bcasthb 0: not carried over: tether sends heartbeats to each peer",
			"llttab:17: set-arp 0: not carried over", keyNote, namesNote},
	}, {
		name: "udp6-routed",
		host: host{ips: map[string]string{"fe80::21a:64ff:fe92:1a92": "eth1"}},
		want: migrate.Draft{ClusterID: 1, NodeID: 1, NodeName: "Node1",
			Nodes: []migrate.Node{
				node(0, "Node0", "link1", "fe80::21a:64ff:fe92:1b46", "link2", "fe80::21a:64ff:fe92:1b47"),
				node(1, "Node1", "link1", "fe80::21a:64ff:fe92:1a92", "link2", "fe80::21a:64ff:fe92:1a93"),
				node(2, "Node2", "link1", "fe80::21a:64ff:fe92:1d70", "link2", "fe80::21a:64ff:fe92:1d71"),
				node(3, "Node3", "link1", "fe80::209:6bff:fe1b:1c94", "link2", "fe80::209:6bff:fe1b:1c95"),
			},
			Networks: []migrate.Network{
				tcp("link1", "eth1", "from llttab:4, device udp6, IP fe80::21a:64ff:fe92:1a92 is on eth1 here"),
				tcp("link2", "FIXME-link2", "from llttab:5, device udp6; PLACEHOLDER: set the interface"),
			}},
		notes: []string{noTimers, "llttab:4: link link1: LLT's UDP port 50000",
			"llttab:5: link link2: no interface of this host holds fe80::21a:64ff:fe92:1a93: interface FIXME-link2 is a placeholder",
			"llttab:5: link link2: LLT's UDP port 50001",
			"llttab:17: set-bcasthb 0", "llttab:18: set-arp 0", keyNote, namesNote},
	}, {
		name: "tuned",
		host: host{files: map[string]string{"/etc/nodename": "# written by the installer\nnode1\n"},
			macs: map[string][]string{"52:54:00:aa:00:01": {"eth1"}, "52:54:00:aa:00:02": {"eth2"}}},
		want: migrate.Draft{ClusterID: 65535, NodeID: 1, NodeName: "node1",
			Nodes: []migrate.Node{node(0, "node0"), node(1, "node1"), node(2, "node2"), node(5, "node5"), node(70, "node70")},
			Networks: []migrate.Network{
				{Name: "hb0", Interface: "eth1", Channels: []string{"ether"}, MTU: 9000, EtherType: 0xCAFF, Comment: "from llttab:4, device eth-52:54:00:aa:00:01, which is eth1 here"},
				ether("hb1", "eth2", "from llttab:5, device eth-52:54:00:aa:00:02, which is eth2 here"),
				lowpri(ether("pub", "bond0", "from llttab:6, device bond0")),
			},
			Timers: llt(20, 200, 300, 100, 150, 300, "set-timer heartbeat:20", ltDefault("peertrouble", 200), "set-timer peerinact:300",
				ltDefault("heartbeatlo", 100), "LLT's default 4s lowered below peerinactlo", "LLT's peerinact, the same for every link")},
		notes: []string{
			"llttab:2: set-node /etc/nodename: this node is node1 (id 1), as read from /etc/nodename",
			"llttab:4: link hb0: SAP 0xCAFF is carried over as ethertype: stop LLT on this network before tether starts there",
			"llttab:5: link hb1 is for nodes 0-3 only: tether runs every network between all the nodes",
			"llttab:6: link pub: SAP 0x0800 cannot be a tether EtherType",
			"llttab:7: set-timer peerinact:300: LLT's default peertroublelo 4s is not below peerinactlo 3s: set to 1.5s",
			"llttab:8: set-timer timetoreqhb:1400: LLT asks a silent peer for a heartbeat before peerinact",
			"llttab:9: set-timer oos:10: LLT's wait for out-of-sequence data",
			"llttab:11: exclude 3-63: node node3 (id 3, llthosts:5) is left out of nodes",
			"llttab:13: set-addr 1 hb0: a static address for node node1 on ether link hb0: not carried over",
			"llttab:14: set-verbose 1: LLT's verbosity",
			"llttab:15: set-flow highwater:200: LLT's flow control",
			"llttab:16: set-dbgqlen 100: LLT's debugging: not carried over",
			"llttab:17: set-swmax 32: LLT's send window",
			"llttab:18: set-linkburst 16: LLT's burst limit",
			"llttab:19: set-frobnicate on: unknown directive, no tether equivalent: not carried over",
			"llthosts:7: node id 70 is above LLT's limit of 63: kept",
			etherNote, keyNote, namesNote + "hb0, hb1, pub)",
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab, hosts := testdata(t, tc.name)
			key := writeKey(t)
			d, err := llttab.Import(tab, hosts, tc.host.options(key))
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			tc.want.Sources = []string{"llttab", "llthosts"}
			tc.want.KeyFile = key
			checkDraft(t, d, &tc.want)
			checkNotes(t, d.Warnings(), tc.notes)
			cfg := checkTether(t, d)
			if cfg.Cluster.ID != tc.want.ClusterID || cfg.Node.Name != tc.want.NodeName || len(cfg.Networks) != len(tc.want.Networks) {
				t.Errorf("tether reads cluster %d node %s, %d networks", cfg.Cluster.ID, cfg.Node.Name, len(cfg.Networks))
			}
			// Every note is also a comment of the YAML, so that the file
			// itself says what to check.
			for _, w := range d.Warnings() {
				if !strings.Contains(string(d.Render()), "#   "+w+"\n") {
					t.Errorf("warning %q is not in the YAML's header", w)
				}
			}
		})
	}
}

func checkDraft(t *testing.T, got, want *migrate.Draft) {
	t.Helper()
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"Sources", got.Sources, want.Sources},
		{"ClusterID", got.ClusterID, want.ClusterID},
		{"ClusterName", got.ClusterName, want.ClusterName},
		{"KeyFile", got.KeyFile, want.KeyFile},
		{"NodeID", got.NodeID, want.NodeID},
		{"NodeName", got.NodeName, want.NodeName},
		{"Nodes", got.Nodes, want.Nodes},
		{"Networks", got.Networks, want.Networks},
		{"Timers", got.Timers, want.Timers},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", f.name, f.got, f.want)
		}
	}
}

// checkNotes checks that the warnings begin with want, one to one.
func checkNotes(t *testing.T, got, want []string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("warnings:\n  %s\nwant (beginnings):\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
