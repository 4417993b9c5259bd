package llttab_test

import (
	"strings"
	"testing"

	"github.com/tether-ha/tether/agent/migrate"
	"github.com/tether-ha/tether/agent/migrate/llttab"
)

// importLinks imports an llttab of north (llthosts north, south) made of
// lines, naming a real key file, and returns the Draft and its warnings as
// one string.
func importLinks(t *testing.T, h host, lines ...string) (*migrate.Draft, string) {
	t.Helper()
	tab := "set-node north\n" + strings.Join(lines, "\n") + "\n"
	d, err := llttab.Import([]byte(tab), []byte(twoHosts), h.options(writeKey(t)))
	if err != nil {
		t.Fatalf("Import: %v\n%s", err, tab)
	}
	return d, strings.Join(d.Warnings(), "\n")
}

func wantNote(t *testing.T, notes string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(notes, w) {
			t.Errorf("no note %q in\n%s", w, notes)
		}
	}
}

func TestDeviceForms(t *testing.T) {
	for _, tc := range []struct {
		device, iface string
		unix          bool // a Solaris, HP-UX or AIX name, to check
	}{
		{"eth1", "eth1", false},
		{"bond0.100", "bond0.100", false},
		{"ens1f0", "ens1f0", false},
		{"eth-00:11:22:33:44:55", "ens3", false},
		{"eth-00-11-22-33-44-55", "ens3", false}, // net.ParseMAC's other form
		{"/dev/e1000g:0", "e1000g0", true},
		{"/dev/ce:1", "ce1", true},
		{"lan:1", "lan1", true},
		{"/dev/dlpi/en:2", "en2", true},
		{"/dev/hme0", "hme0", true},
		{"/dev/net/net0", "net0", true},
		{"eth-nomac", "eth-nomac", false}, // a Linux name that begins with eth-
	} {
		t.Run(tc.device, func(t *testing.T) {
			h := host{macs: map[string][]string{"00:11:22:33:44:55": {"ens3"}}}
			d, notes := importLinks(t, h, "link hb0 "+tc.device+" - ether - -")
			if got := d.Networks[0].Interface; got != tc.iface {
				t.Errorf("interface %q, want %q", got, tc.iface)
			}
			if tc.unix {
				wantNote(t, notes, "llttab:2: link hb0: device "+tc.device+" is a Solaris, HP-UX or AIX name: interface "+tc.iface+" is a guess, check the Linux name of that NIC")
			} else if strings.Contains(notes, "llttab:2") {
				t.Errorf("a note on a Linux name:\n%s", notes)
			}
			checkTether(t, d)
		})
	}
}

func TestSAPAndMTU(t *testing.T) {
	d, notes := importLinks(t, host{},
		"link a eth1 - ether 0xCAFE 1500",
		"link b eth2 - ether caff -",
		"link c eth3 - ether 0x88CC 40",
		"link d eth4 - ether 0x0500 70000",
	)
	got := d.Networks
	if got[0].EtherType != 0 || got[0].MTU != 1500 {
		t.Errorf("a: LLT's own SAP and MTU 1500: ethertype %#x mtu %d, want tether's default and 1500", got[0].EtherType, got[0].MTU)
	}
	if got[1].EtherType != 0xCAFF {
		t.Errorf("b: ethertype %#x, want 0xCAFF", got[1].EtherType)
	}
	if got[2].EtherType != 0 || got[2].MTU != 0 || got[3].EtherType != 0 {
		t.Errorf("c, d: %+v %+v", got[2], got[3])
	}
	wantNote(t, notes,
		"llttab:3: link b: SAP 0xCAFF is carried over as ethertype",
		"llttab:4: link c: SAP 0x88CC cannot be a tether EtherType",
		"llttab:4: link c: MTU 40 is outside tether's 68 to 65535: not carried over",
		"llttab:5: link d: SAP 0x0500 cannot be a tether EtherType",
		"llttab:5: link d: MTU 70000 is outside",
		"ether networks use tether's EtherType 0x88B5",
	)
	if strings.Contains(notes, "llttab:2") {
		t.Errorf("a note on LLT's default SAP:\n%s", notes)
	}
	checkTether(t, d)
}

func TestIPLinks(t *testing.T) {
	h := host{ips: map[string]string{"10.0.0.1": "eth1", "fd00::1": "eth2", "10.9.0.1": "ib0", "10.8.0.1": "eth0"}}
	d, notes := importLinks(t, h,
		"link a /dev/udp - udp 50000 8192 10.0.0.1 10.0.0.255",
		"link b /dev/udp6 - udp6 50001 - fd00::1 -",
		"link c udp - rdma 50002 - 10.9.0.1 10.9.0.255",
		"link-lowpri pub udp - udp - - 10.8.0.1 -",
		"set-addr 1 a 10.0.0.2",
		"set-addr south b fd00::2",
		"set-addr 1 c 10.9.0.2",
		"set-addr 1 pub 10.8.0.2",
		"set-addr 0 a 10.0.0.9",
	)
	want := []migrate.Network{
		tcp("a", "eth1", "from llttab:2, device /dev/udp, IP 10.0.0.1 is on eth1 here"),
		tcp("b", "eth2", "from llttab:3, device /dev/udp6, IP fd00::1 is on eth2 here"),
		tcp("c", "ib0", "from llttab:4, device udp, IP 10.9.0.1 is on ib0 here"),
		lowpri(tcp("pub", "eth0", "from llttab:5, device udp, IP 10.8.0.1 is on eth0 here")),
	}
	checkDraft(t, d, &migrate.Draft{Sources: d.Sources, KeyFile: d.KeyFile, NodeName: "north",
		Nodes: []migrate.Node{
			node(0, "north", "a", "10.0.0.1", "b", "fd00::1", "c", "10.9.0.1", "pub", "10.8.0.1"),
			node(1, "south", "a", "10.0.0.2", "b", "fd00::2", "c", "10.9.0.2", "pub", "10.8.0.2"),
		},
		Networks: want,
	})
	wantNote(t, notes,
		"llttab:2: link a: MTU 8192 (LLT's UDP datagram size) is not carried over",
		"llttab:4: link c: LLT over RDMA: tether has no RDMA channel",
		"llttab:5: link pub: LLT's UDP port (its default) is not carried over",
		"llttab:10: set-addr 0 a: this node's address on a is 10.0.0.1 (line 2): 10.0.0.9 is ignored",
	)
	checkTether(t, d)
}

// udp6 direct-attached links find their peers by multicast: no set-addr,
// so the network runs tether's ether channel on the segment.
func TestUDP6Multicast(t *testing.T) {
	h := host{ips: map[string]string{"fe80::21a:64ff:fe92:1b46": "eth1"}}
	d, notes := importLinks(t, h, "link link1 /dev/udp6 - udp6 50000 - fe80::21a:64ff:fe92:1b46 -")
	if n := d.Networks[0]; n.Interface != "eth1" || len(n.Channels) != 1 || n.Channels[0] != "ether" {
		t.Errorf("network %+v", n)
	}
	wantNote(t, notes, "llttab:2: link link1: LLT found south by multicast (no set-addr)")
	checkTether(t, d)
}

func TestSetAddrOfLeftOutNode(t *testing.T) {
	tab := "set-node north\nlink a /dev/udp - udp 50000 - 10.0.0.1 -\nset-addr 1 a 10.0.0.2\nset-addr 2 a 10.0.0.3\nexclude 2\n"
	d, err := llttab.Import([]byte(tab), []byte(twoHosts+"2 east\n"), llttab.Options{LLTTabFile: "llttab"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Nodes) != 2 || d.Networks[0].Channels[0] != "tcp" {
		t.Errorf("nodes %+v networks %+v", d.Nodes, d.Networks)
	}
	wantNote(t, strings.Join(d.Warnings(), "\n"), "llttab:4: set-addr 2 a: node east is left out of nodes: ignored")
}

func TestComments(t *testing.T) {
	tab := "# LLT configuration\n\n  set-node north   # this node\n\tset-cluster 7#x\n"
	_, err := llttab.Import([]byte(tab+"link a eth1 - ether - -\n"), []byte(twoHosts), llttab.Options{LLTTabFile: "llttab"})
	if err == nil || !strings.Contains(err.Error(), "llttab:4: set-cluster 7#x: the cluster id must be a number") {
		t.Errorf("a # inside a word is not a comment: error %v", err)
	}
	d, err := llttab.Import([]byte("# LLT\n\n  set-node north   # this node\n\tset-cluster 7 #x\nlink a eth1 - ether - - # primary\n"), []byte("# hosts\n0 north # me\n\n1 south\n"), llttab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.ClusterID != 7 || d.NodeName != "north" || len(d.Nodes) != 2 || d.Networks[0].Interface != "eth1" {
		t.Errorf("%+v", d)
	}
}
