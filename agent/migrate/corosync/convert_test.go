package corosync

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/migrate"
)

// Debian 12's /etc/corosync/corosync.conf: one node on 127.0.0.1.
func TestDebianConfig(t *testing.T) {
	d := convertFile(t, "debian-corosync.conf", Options{InterfaceOf: host{"127.0.0.1": "lo"}.lookup})
	check(t, d, want{
		clusterID: 108, clusterName: "debian", nodeID: 1, nodeName: "node1",
		nodes:    []migrate.Node{node(1, "node1", "ring0", "127.0.0.1")},
		networks: []migrate.Network{tcpNet("ring0", "lo", 0)},
		timers:   [3]time.Duration{ms(750), ms(1125), ms(1500)}, // token 3000 / 4, halfway, / 2
		notes: []string{
			": TCP port 7947",
			`8: cluster.id 108 is derived from cluster_name "debian"`,
			"3: totem: version 2 (line 3)",
			"15: crypto_cipher none (line 15), crypto_hash none (line 16) is not carried over",
			"15: create /etc/tether/cluster.key",
			"19: logging { } (lines 19-41)",
			"43: votequorum (provider corosync_votequorum (line 46)) is not converted automatically",
			"43: witness",
		},
	})
	if len(d.Notes) != 6 {
		t.Errorf("%d notes:\n%s", len(d.Notes), strings.Join(d.Warnings(), "\n"))
	}
	if c := d.Networks[0].Comment; !strings.Contains(c, "corosync link 0") || !strings.Contains(c, "add ether to channels if ring0 is one Ethernet segment") {
		t.Errorf("network comment %q", c)
	}
}

// corosync's own test of its Augeas lens: udp, token 1000, a second ring
// on one node only, quorum, resources and uidgid sections.
func TestAugeasLensTestConfig(t *testing.T) {
	d := convertFile(t, "augeas-lens-test.conf", Options{InterfaceOf: host{"192.168.122.2": "eth3", "192.168.123.1": "eth4"}.lookup})
	check(t, d, want{
		clusterID: DeriveClusterID("1=192.168.122.1,2=192.168.122.2"), nodeID: 2, nodeName: "cythara",
		nodes:    []migrate.Node{node(1, "balalaika", "ring0", "192.168.122.1"), node(2, "cythara", "ring0", "192.168.122.2")},
		networks: []migrate.Network{tcpNet("ring0", "eth3", 0)},
		timers:   [3]time.Duration{ms(250), ms(375), ms(500)},
		notes: []string{
			": no cluster_name: cluster.id",
			"4: threads 0 (line 8)",
			"6: secauth off (line 5)",
			"9: clear_node_high_bit no",
			"10: rrp_mode none",
			"11: transport udp",
			"15: bindnetaddr 192.168.122.1 of ring0",
			"16: mcastaddr of ring0",
			"17: ttl of ring0",
			"18: mcastport 5405 of ring0",
			"22: logging { } (lines 22-43)",
			"45: two_node 1 (line 49)",
			"45: last_man_standing_window 10000 (line 52)",
			"45: nodelist.node quorum_votes 2 (line 79)",
			"45: two nodes need a third vote",
			"56: resources { } (lines 56-67)",
			"69: uidgid { } (lines 69-72)",
			"84: ring1 is on 1 of the 2 nodes (not on balalaika)",
		},
	})
}

// corosync.conf(5)'s three-node nodelist, nothing else: corosync's
// defaults, token 3000 + 650 for the third node. --node by name; no
// interface of this host holds the address.
func TestManpageAddNode(t *testing.T) {
	d := convertFile(t, "manpage-add-node.conf", Options{Node: "NEW"})
	check(t, d, want{
		clusterID: DeriveClusterID("1=10.24.38.101,2=10.24.38.102,3=10.24.38.108"), nodeID: 3, nodeName: "NEW",
		nodes: []migrate.Node{node(1, "node1", "ring0", "10.24.38.101"), node(2, "node2", "ring0", "10.24.38.102"),
			node(3, "NEW", "ring0", "10.24.38.108")},
		networks: []migrate.Network{tcpNet("ring0", "CHANGEME0", 0)},
		timers:   [3]time.Duration{ms(912), ms(1368), ms(1825)}, // token 3650: 3650/4, halfway, 3650/2
		notes: []string{
			": derived from the nodelist's ids and ring0 addresses (1=10.24.38.101,2=10.24.38.102,3=10.24.38.108",
			": create /etc/tether/cluster.key",
			"15: ring0 address 10.24.38.108 is on no interface of this host: wrote the placeholder interface CHANGEME0",
		},
	})
	if c := d.Timers[0].Comment; !strings.Contains(c, "3650 / (2 x 2)") || !strings.Contains(c, "token 3650 = 3000 + (3 nodes - 2) x token_coefficient 650") {
		t.Errorf("heartbeat comment %q", c)
	}
	// The same file by id, and by the address of another node.
	if d := convertFile(t, "manpage-add-node.conf", Options{Node: "2"}); d.NodeID != 2 {
		t.Errorf("--node 2: node %d", d.NodeID)
	}
	if d := convertFile(t, "manpage-add-node.conf", Options{InterfaceOf: host{"10.24.38.101": "bond0"}.lookup}); d.NodeID != 1 || d.Networks[0].Interface != "bond0" {
		t.Errorf("found by address: node %d on %s", d.NodeID, d.Networks[0].Interface)
	}
}

// pcs's two-node knet cluster with crypto and two_node.
func TestPcsTwoNode(t *testing.T) {
	d := convertFile(t, "pcs-two-node.conf", Options{InterfaceOf: host{"10.0.0.2": "ens4"}.lookup, KeyFile: "/etc/tether/prod.key"})
	check(t, d, want{
		clusterID: DeriveClusterID("mycluster"), clusterName: "mycluster", nodeID: 2, nodeName: "node2",
		nodes:    []migrate.Node{node(1, "node1", "ring0", "10.0.0.1"), node(2, "node2", "ring0", "10.0.0.2")},
		networks: []migrate.Network{tcpNet("ring0", "ens4", 0)},
		timers:   [3]time.Duration{ms(750), ms(1125), ms(1500)},
		notes: []string{
			"2: cluster_uuid 5a1c1c0e64ae4bb8bb0b7f0b4b8b5c47 (line 7)",
			"5: crypto_cipher aes256 (line 5), crypto_hash sha256 (line 6) is not carried over",
			"5: create /etc/tether/prod.key on one node (openssl rand -hex 32 > /etc/tether/prod.key; chmod 600 /etc/tether/prod.key)",
			"24: two_node 1 (line 26)",
			"24: maps to tether's quorum section and witness (DESIGN.md, failover supervision)",
			"24: a witness tetherd (a node with witness: true and no resources; quorum: {witness: {node: ID}})",
			"29: logging { } (lines 29-34)",
		},
	})
	if d.KeyFile != "/etc/tether/prod.key" {
		t.Errorf("key file %s", d.KeyFile)
	}
}

// Two knet links with priorities and per-link ping timers: the
// higher-priority link comes first and gives the timers.
func TestPcsKnetTwoLinks(t *testing.T) {
	d := convertFile(t, "pcs-knet-two-links.conf", Options{InterfaceOf: host{"192.168.122.12": "eth0", "10.10.0.12": "eth1"}.lookup})
	check(t, d, want{
		clusterID: DeriveClusterID("hacluster"), clusterName: "hacluster", nodeID: 2, nodeName: "ha2.example.com",
		nodes: []migrate.Node{
			node(1, "ha1.example.com", "ring0", "192.168.122.11", "ring1", "10.10.0.11"),
			node(2, "ha2.example.com", "ring0", "192.168.122.12", "ring1", "10.10.0.12"),
			node(3, "ha3.example.com", "ring0", "192.168.122.13", "ring1", "10.10.0.13"),
		},
		networks: []migrate.Network{tcpNet("ring1", "eth1", 0), tcpNet("ring0", "eth0", 0)},
		timers:   [3]time.Duration{ms(200), ms(600), ms(1000)},
		notes: []string{
			"2: version 2 (line 2), cluster_uuid 0b7a3f5e2d8c4e9a8f1b6c2d3e4f5a6b (line 8), consensus 3600 (line 10), join 50 (line 11)",
			"5: crypto_model openssl (line 7)",
			"29: the networks are in priority order, ring1 (priority 2), ring0 (priority 1)",
			"28: ring0's knet ping timers (interval 912 ms, timeout 1825 ms) differ from ring1's (200 ms, 1000 ms)",
			"49: wait_for_all 1 (line 51)",
		},
	})
	if c := d.Networks[0].Comment; !strings.Contains(c, "corosync link 1, knet_link_priority 2") {
		t.Errorf("comment %q", c)
	}
	if c := d.Timers[0].Comment; c != "knet_ping_interval of ring1" {
		t.Errorf("heartbeat comment %q", c)
	}
}

// Proxmox VE's form: four nodes, two links by priority, quorum_votes.
func TestProxmoxFourNodes(t *testing.T) {
	d := convertFile(t, "proxmox-four-nodes.conf", Options{InterfaceOf: host{"10.0.10.3": "vmbr0", "10.0.20.3": "eno2"}.lookup})
	var nodes []migrate.Node
	for i := uint16(1); i <= 4; i++ {
		nodes = append(nodes, node(i, fmt.Sprint("pve", i), "ring0", fmt.Sprint("10.0.10.", i), "ring1", fmt.Sprint("10.0.20.", i)))
	}
	check(t, d, want{
		clusterID: DeriveClusterID("homelab"), clusterName: "homelab", nodeID: 3, nodeName: "pve3",
		nodes:    nodes,
		networks: []migrate.Network{tcpNet("ring1", "eno2", 0), tcpNet("ring0", "vmbr0", 0)},
		timers:   [3]time.Duration{ms(1075), ms(1612), ms(2150)}, // token 3000 + 2 x 650
		notes: []string{
			"1: logging { } (lines 1-4)",
			"37: nodelist.node quorum_votes 1 (line 10)",
			"37: nodelist.node quorum_votes 1 (line 31)",
			"43: config_version 4",
			"52: ip_version ipv4-6",
			"54: secauth on (line 54)",
			"55: totem: version 2 (line 55)",
		},
	})
}

// corosync 2's udpu with a nodelist and a redundant ring: ringnumber,
// netmtu (the network's MTU with udpu), no names.
func TestCorosync2UDPURRP(t *testing.T) {
	d := convertFile(t, "corosync2-udpu-rrp.conf", Options{InterfaceOf: host{"10.16.35.101": "eth0", "10.16.36.101": "eth1"}.lookup})
	check(t, d, want{
		clusterID: DeriveClusterID("legacy"), clusterName: "legacy", nodeID: 1, nodeName: "node1",
		nodes: []migrate.Node{
			node(1, "node1", "ring0", "10.16.35.101", "ring1", "10.16.36.101"),
			node(2, "node2", "ring0", "10.16.35.102", "ring1", "10.16.36.102"),
			node(3, "node3", "ring0", "10.16.35.103", "ring1", "10.16.36.103"),
		},
		networks: []migrate.Network{tcpNet("ring0", "eth0", 9000), tcpNet("ring1", "eth1", 9000)},
		timers:   [3]time.Duration{ms(1412), ms(2118), ms(2825)}, // token 5000 + 650
		notes: []string{
			"5: transport udpu",
			"6: rrp_mode passive",
			"12: bindnetaddr 10.16.35.0 of ring0",
			"14: ttl of ring0",
			"17: ringnumber is corosync 2's name for linknumber: read as link 1",
			"19: mcastport 5407 of ring1",
			"23: logging { } (lines 23-34)",
			"37: node 1 has no name: named node1",
			"49: node 3 has no name: named node3",
			"56: expected_votes 3 (line 58)",
		},
	})
	if c := d.Networks[0].Comment; !strings.Contains(c, "mtu from netmtu") {
		t.Errorf("comment %q", c)
	}
}

// pcs 0.9: host names for addresses, no names: placeholders, and the node
// found by this host's name as corosync finds it (ring0_addr for want of
// a name; the short host name).
func TestPcsHostnames(t *testing.T) {
	d := convertFile(t, "pcs-hostnames.conf", Options{Hostname: "rh7-2.example.com"})
	check(t, d, want{
		clusterID: DeriveClusterID("rhel7cluster"), clusterName: "rhel7cluster", nodeID: 2, nodeName: "node2",
		nodes:    []migrate.Node{node(1, "node1", "ring0", "192.0.2.1"), node(2, "node2", "ring0", "192.0.2.2")},
		networks: []migrate.Network{tcpNet("ring0", "CHANGEME0", 0)},
		timers:   [3]time.Duration{ms(750), ms(1125), ms(1500)},
		notes: []string{
			`10: node node1 ring0_addr "rh7-1" is not an IP address (a host name?): tether needs IP addresses and resolves no names; wrote the placeholder 192.0.2.1`,
			`15: ring0_addr "rh7-2"`,
			"14: named like this host (rh7-2.example.com)",
			"15: ring0 address is a placeholder, so its interface is unknown: wrote the placeholder interface CHANGEME0",
			"20: two_node 1 (line 22)",
		},
	})
}

// Every knet option the import reads, on IPv6, with link_mode active,
// knet_mtu, pong_count, sctp, a qdevice and nozzle.
func TestKnetTunedIPv6(t *testing.T) {
	d := convertFile(t, "knet-tuned-ipv6.conf", Options{InterfaceOf: host{"fd00:10::b": "eth1", "fd00:20::b": "eth2"}.lookup})
	check(t, d, want{
		clusterID: DeriveClusterID("lab6"), clusterName: "lab6", nodeID: 20, nodeName: "beta",
		nodes: []migrate.Node{
			node(10, "alpha", "ring0", "fd00:10::a", "ring1", "fd00:20::a"),
			node(20, "beta", "ring0", "fd00:10::b", "ring1", "fd00:20::b"),
			node(30, "gamma", "ring0", "fd00:10::c", "ring1", "fd00:20::c"),
		},
		networks: []migrate.Network{tcpNet("ring0", "eth1", 8982), tcpNet("ring1", "eth2", 8982)},
		timers:   [3]time.Duration{ms(100), ms(150), ms(200)}, // token 1000 (coefficient 0) / (2 x 5), / 5
		notes: []string{
			"2: system { } (lines 2-4)",
			"10: link_mode active",
			"14: netmtu 65000: with knet it is the largest message",
			"15: knet_pmtud_interval 60",
			"16: knet_compression_model zlib",
			"17: ip_dscp ef",
			"18: keyfile /etc/corosync/authkey (line 20)",
			"24: mcastport 5420 of ring0",
			"26: knet_ping_precision of ring0",
			"30: knet_transport sctp of ring1",
			"39: ring1's knet ping timers (interval 250 ms, timeout 500 ms) differ from ring0's (100 ms, 200 ms)",
			"55: device.net.host qnetd.example.org (line 61)",
			"55: a witness takes the place of corosync's qdevice",
			"67: nozzle { } (lines 67-71)",
		},
	})
	if c := d.Timers[0].Comment; !strings.Contains(c, "1000 / (2 x 5)") || strings.Contains(c, "token_coefficient") {
		t.Errorf("heartbeat comment %q", c)
	}
}

// The real files corosync itself cannot run, or this import cannot take.
func TestRealFilesRefused(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"votequorum-two-node.conf", "votequorum-two-node.conf:7: this node { } has no nodeid"},
		{"qdevice-manpage-example.conf", "qdevice-manpage-example.conf:16: Missing closing brace (section quorum opened at line 1)"},
		{"corosync2-udp-multicast.conf", "corosync2-udp-multicast.conf: no nodelist { } section"},
	} {
		err := convertErr(t, tc.file, Options{Node: "1"})
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant %s...", tc.file, err, tc.want)
		}
	}
	if err := convertErr(t, "corosync2-udp-multicast.conf", Options{}); !strings.Contains(err.Error(), "multicast") {
		t.Errorf("%v: does not say why a multicast configuration cannot be converted", err)
	}
}

// The cluster id must stay what this version derives: nodes imported by
// different tetherctl versions must agree.
func TestDeriveClusterIDIsFNV1aFolded(t *testing.T) {
	for name, id := range map[string]uint16{"debian": 108, "mycluster": 65461, "": 0x9dc5 ^ 0x811c} {
		h := fnv.New32a()
		h.Write([]byte(name))
		v := h.Sum32()
		if got := DeriveClusterID(name); got != id || got != uint16(v>>16)^uint16(v) {
			t.Errorf("DeriveClusterID(%q) = %d, want %d", name, got, id)
		}
	}
	d := convertFile(t, "pcs-two-node.conf", Options{Node: "node1", ClusterID: 4242, SetClusterID: true})
	if d.ClusterID != 4242 {
		t.Errorf("--cluster-id: %d", d.ClusterID)
	}
	for _, n := range d.Notes {
		if strings.Contains(n.Text, "cluster.id") {
			t.Errorf("a note about a derived cluster id with --cluster-id: %s", n.Text)
		}
	}
}

// Every item of every file is either converted or named in a Note.
func TestNothingDroppedSilently(t *testing.T) {
	for _, name := range []string{"debian-corosync.conf", "augeas-lens-test.conf", "manpage-add-node.conf", "pcs-two-node.conf",
		"pcs-knet-two-links.conf", "proxmox-four-nodes.conf", "corosync2-udpu-rrp.conf", "pcs-hostnames.conf", "knet-tuned-ipv6.conf"} {
		data := readTestdata(t, name)
		f, err := Parse(data, name)
		if err != nil {
			t.Fatal(err)
		}
		first := sections(sections(f.Root, "nodelist")[0], "node")[0]
		id := ""
		for _, it := range first.Items {
			if it.Key == "nodeid" {
				id = it.Value
			}
		}
		c := &converter{f: f, o: Options{Node: id, KeyFile: DefaultKeyFile}, used: map[*Item]bool{}}
		c.o.InterfaceOf = host{}.lookup
		if _, err := c.convert(); err != nil {
			t.Fatal(err)
		}
		var walk func(s *Section)
		walk = func(s *Section) {
			for _, it := range s.Items {
				if it.Section != nil {
					walk(it.Section)
					continue
				}
				if !c.used[it] && !c.noted(it) {
					t.Errorf("%s:%d: %s is neither converted nor noted", name, it.Line, it.Key)
				}
			}
		}
		walk(f.Root)
	}
}

// noted reports whether a Note names the item's line: as its own line or
// in the text, or as the range of a section noted as a whole.
func (c *converter) noted(it *Item) bool {
	for _, n := range c.notes {
		if n.line == it.Line || strings.Contains(n.text, fmt.Sprintf("(line %d)", it.Line)) {
			return true
		}
		var a, b int
		if i := strings.Index(n.text, "(lines "); i >= 0 {
			if _, err := fmt.Sscanf(n.text[i:], "(lines %d-%d)", &a, &b); err == nil && a <= it.Line && it.Line <= b {
				return true
			}
		}
	}
	return false
}

func TestErrorNamesFileAndLine(t *testing.T) {
	var e *Error
	err := convertErr(t, "votequorum-two-node.conf", Options{})
	if !errors.As(err, &e) || e.Line != 7 || e.File != "votequorum-two-node.conf" {
		t.Errorf("%#v", err)
	}
}
