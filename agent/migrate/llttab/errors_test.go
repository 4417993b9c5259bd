package llttab_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/migrate/llttab"
)

const twoHosts = "0 north\n1 south\n"

// Every problem that leaves no valid tether configuration is an error
// naming the file and the line.
func TestErrors(t *testing.T) {
	nineLinks := "set-node north\n"
	for i := 0; i < 9; i++ {
		nineLinks += "link l" + string(rune('0'+i)) + " eth" + string(rune('0'+i)) + " - ether - -\n"
	}
	cases := []struct {
		name, tab, hosts string
		file             string // of the first error
		line             int
		msg              string
	}{
		{"no set-node", "link eth1 eth1 - ether - -\n", twoHosts, "llttab", 0, "no set-node"},
		{"set-node twice", "set-node north\nset-node south\nlink a eth1 - ether - -\n", twoHosts, "llttab", 2, "set-node is given twice (first at line 1)"},
		{"set-node without name", "set-node\nlink a eth1 - ether - -\n", twoHosts, "llttab", 1, "set-node takes 1 argument(s), got 0"},
		{"unknown node name", "set-node west\nlink a eth1 - ether - -\n", twoHosts, "llttab", 1, `set-node west: unknown node name "west": llthosts names north, south`},
		{"node id not in llthosts", "set-node 5\nlink a eth1 - ether - -\n", twoHosts, "llttab", 1, "set-node 5: node id 5 is not in llthosts"},
		{"local node excluded", "set-node north\nlink a eth1 - ether - -\nexclude 0-3\n", twoHosts, "llttab", 3, "exclude 0-3 leaves out this node (north, id 0)"},
		{"no link", "set-node north\nset-cluster 3\n", twoHosts, "llttab", 0, "no link"},
		{"only lowpri links", "set-node north\nlink-lowpri pub eth0 - ether - -\n", twoHosts, "llttab", 2, "every link is link-lowpri"},
		{"short link", "set-node north\nlink eth1 eth1 - ether -\n", twoHosts, "llttab", 2, "link needs at least 6 fields"},
		{"long ether link", "set-node north\nlink eth1 eth1 - ether - - 10.0.0.1\n", twoHosts, "llttab", 2, "an ether link has 6 fields"},
		{"unknown link type", "set-node north\nlink eth1 eth1 - token - -\n", twoHosts, "llttab", 2, `unknown link type "token"`},
		{"bad SAP", "set-node north\nlink eth1 eth1 - ether 0xGG -\n", twoHosts, "llttab", 2, `SAP "0xGG": want - or a hexadecimal EtherType`},
		{"bad MTU", "set-node north\nlink eth1 eth1 - ether - big\n", twoHosts, "llttab", 2, `MTU "big"`},
		{"bad node range", "set-node north\nlink eth1 eth1 5-2 ether - -\n", twoHosts, "llttab", 2, `node range "5-2"`},
		{"bad tag", "set-node north\nlink eth:1 eth1 - ether - -\n", twoHosts, "llttab", 2, `link tag "eth:1": tether names are`},
		{"bad device", "set-node north\nlink a averyveryverylongname - ether - -\n", twoHosts, "llttab", 2, `device averyveryverylongname: "averyveryverylongname" is not a Linux interface name`},
		{"duplicate tag", "set-node north\nlink a eth1 - ether - -\nlink a eth2 - ether - -\n", twoHosts, "llttab", 3, `link tag "a" is given twice (first at line 2)`},
		{"one interface twice", "set-node north\nlink a eth1 - ether - -\nlink b eth1 - ether - -\n", twoHosts, "llttab", 3, "link b is on interface eth1, as link a is (line 2): tether needs one interface per network"},
		{"more than 8 links", nineLinks, twoHosts, "llttab", 10, "more than 8 links"},
		{"bad set-cluster", "set-node north\nset-cluster 70000\nlink a eth1 - ether - -\n", twoHosts, "llttab", 2, "set-cluster 70000: the cluster id must be a number from 0 to 65535"},
		{"udp without IP", "set-node north\nlink a /dev/udp - udp 50000 -\n", twoHosts, "llttab", 2, "a udp link has 7 or 8 fields"},
		{"udp with IPv6", "set-node north\nlink a /dev/udp - udp 50000 - fe80::1 -\n", twoHosts, "llttab", 2, "fe80::1 is not an IPv4 address"},
		{"udp6 with IPv4", "set-node north\nlink a /dev/udp6 - udp6 50000 - 10.0.0.1 -\n", twoHosts, "llttab", 2, "10.0.0.1 is not an IPv6 address"},
		{"udp routed without peers", "set-node north\nlink a /dev/udp - udp 50000 - 10.0.0.1 -\n", twoHosts, "llttab", 2,
			"link a has no broadcast address and no set-addr for south: LLT could not reach them"},
		{"set-addr of an unknown node", "set-node north\nlink a /dev/udp - udp 50000 - 10.0.0.1 10.0.0.255\nset-addr 7 a 10.0.0.7\n", twoHosts, "llttab", 3, `set-addr 7: no node "7" in llthosts`},
		{"set-addr of an unknown tag", "set-node north\nlink a eth1 - ether - -\nset-addr 1 b 10.0.0.7\n", twoHosts, "llttab", 3, `set-addr 1 b: no link has the tag "b"`},
		{"set-addr MAC on udp", "set-node north\nlink a /dev/udp - udp 50000 - 10.0.0.1 10.0.0.255\nset-addr 1 a 00:11:22:33:44:55\n", twoHosts, "llttab", 3,
			"set-addr 1 a: link a is udp, so the address must be the node's IPv4 address on it"},
		{"set-addr twice", "set-node north\nlink a /dev/udp - udp 50000 - 10.0.0.1 -\nset-addr 1 a 10.0.0.2\nset-addr south a 10.0.0.3\n", twoHosts, "llttab", 4,
			"node south's address on a is already given (line 3)"},
		{"set-addr of a taken address", "set-node north\nlink a /dev/udp - udp 50000 - 10.0.0.1 -\nset-addr 1 a 10.0.0.1\n", twoHosts, "llttab", 3,
			"10.0.0.1 is already node 0's address on a (line 2)"},
		{"set-addr not an address", "set-node north\nlink a eth1 - ether - -\nset-addr 1 a here\n", twoHosts, "llttab", 3, "set-addr here: not an IP address"},
		{"set-bcasthb not 0 or 1", "set-node north\nlink a eth1 - ether - -\nset-bcasthb 2\n", twoHosts, "llttab", 3, "set-bcasthb 2: want 0 or 1"},
		{"malformed set-timer", "set-node north\nlink a eth1 - ether - -\nset-timer peerinact=1600\n", twoHosts, "llttab", 3, "set-timer peerinact=1600: want NAME:VALUE"},
		{"zero timer", "set-node north\nlink a eth1 - ether - -\nset-timer heartbeat:0\n", twoHosts, "llttab", 3, "set-timer heartbeat:0: tether's timers go from 10 ms (1) to 1 h"},
		{"peertrouble above LLT's peerinact", "set-node north\nlink a eth1 - ether - -\nset-timer peertrouble:2000\n", twoHosts, "llttab", 3,
			"peertrouble 20s is not below peerinact 16s (LLT's default (peerinact:1600)): tether requires heartbeat < peertrouble < peerinact"},
		{"timers out of order", "set-node north\nlink a eth1 - ether - -\nset-timer peerinact:400\nset-timer heartbeat:500\n", twoHosts, "llttab", 4,
			"heartbeat 5s is not below peertrouble"},
		{"peertroublelo above peerinact", "set-node north\nlink a eth1 - ether - -\nlink-lowpri b eth0 - ether - -\nset-timer peertroublelo:1700\n", twoHosts, "llttab", 4,
			"peertroublelo 17s is not below peerinactlo 16s"},
		{"bad include", "set-node north\nlink a eth1 - ether - -\ninclude x\n", twoHosts, "llttab", 3, "include x: want a node id or a range"},
		{"llthosts id out of range", "set-node north\nlink a eth1 - ether - -\n", "0 north\n1024 big\n", "llthosts", 2, `node id "1024": want a number from 0 to 1023 (LLT's are 0 to 63)`},
		{"llthosts id not a number", "set-node north\nlink a eth1 - ether - -\n", "0 north\none south\n", "llthosts", 2, `node id "one"`},
		{"llthosts duplicate id", "set-node north\nlink a eth1 - ether - -\n", "0 north\n0 south\n", "llthosts", 2, "node id 0 is given twice (first at line 1)"},
		{"llthosts duplicate name", "set-node north\nlink a eth1 - ether - -\n", "0 north\n1 north\n", "llthosts", 2, `node name "north" is given twice`},
		{"llthosts bad name", "set-node north\nlink a eth1 - ether - -\n", "0 north\n1 so/uth\n", "llthosts", 2, `node name "so/uth"`},
		{"llthosts three words", "set-node north\nlink a eth1 - ether - -\n", "0 north\n1 south extra\n", "llthosts", 2, `want "NODE-ID NAME", got 3 words`},
		{"empty llthosts", "set-node north\nlink a eth1 - ether - -\n", "# nobody\n\n", "llthosts", 0, "no node"},
		{"control character", "set-node north\n\x00\nlink a eth1 - ether - -\n", twoHosts, "llttab", 2, "the line holds a control character or is not UTF-8"},
		{"not UTF-8", "set-node north\nlink a eth1 - ether - -\n", "0 north\n1 s\xffuth\n", "llthosts", 2, "not UTF-8"},
		{"set-node file without reader", "set-node /etc/nodename\nlink a eth1 - ether - -\n", twoHosts, "llttab", 1, "set-node /etc/nodename: the node's name is in that file, which this import cannot read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := llttab.Import([]byte(tc.tab), []byte(tc.hosts), llttab.Options{LLTTabFile: "llttab", LLTHostsFile: "llthosts"})
			if err == nil {
				t.Fatalf("no error; got\n%s", d.Render())
			}
			if d != nil {
				t.Errorf("a Draft with the error")
			}
			var e *llttab.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v: not an *llttab.Error", err)
			}
			if e.File != tc.file || e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("error %q (file %q line %d)\nwant %s:%d: ...%s...", err, e.File, e.Line, tc.file, tc.line, tc.msg)
			}
			if errors.Is(err, llttab.ErrInvalidOutput) {
				t.Errorf("an input problem reported as an importer bug: %v", err)
			}
		})
	}
}

// All problems are reported at once, in file and line order, so that one
// run shows everything to fix.
func TestErrorsTogether(t *testing.T) {
	tab := "set-node north\nlink a eth1 - ether - -\nlink a eth2 - ether - -\nset-timer heartbeat:x\nset-addr 9 a 10.0.0.1\n"
	_, err := llttab.Import([]byte(tab), []byte("0 north\n1 south\n1 east\n"), llttab.Options{})
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		"/etc/llttab:4: set-timer heartbeat:x",
		"/etc/llthosts:3: node id 1 is given twice",
	}
	if len(got) != len(want) {
		t.Fatalf("errors:\n%s\nwant %d", err, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d: %q, want %q...", i, got[i], want[i])
		}
	}
	// With the syntax right, the conversion's own problems, in order.
	_, err = llttab.Import([]byte("set-node north\nlink a eth1 - ether - -\nlink a eth2 - ether - -\nset-addr 9 a 10.0.0.1\nset-timer heartbeat:0\n"), []byte(twoHosts), llttab.Options{})
	got = strings.Split(err.Error(), "\n")
	want = []string{
		`/etc/llttab:3: link tag "a" is given twice`,
		`/etc/llttab:4: set-addr 9: no node "9"`,
		"/etc/llttab:5: set-timer heartbeat:0",
	}
	if len(got) != len(want) {
		t.Fatalf("errors:\n%s\nwant %d", err, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d: %q, want %q...", i, got[i], want[i])
		}
	}
}

func TestSetNodeFile(t *testing.T) {
	tab := []byte("set-node /etc/nodename\nlink a eth1 - ether - -\n")
	for _, tc := range []struct {
		name, content string
		missing       bool
		want          string // the node, or the error
	}{
		{"name", "south\n", false, "south"},
		{"id", "  1  \n", false, "south"},
		{"comment first", "# the node\n\nnorth extra words\n", false, "north"},
		{"missing", "", true, "llttab:1: set-node /etc/nodename: reading this node's name from it: open /etc/nodename: file does not exist"},
		{"empty", "\n  \n", false, "llttab:1: set-node /etc/nodename: the file holds no node name"},
		{"unknown", "west\n", false, `llttab:1: set-node /etc/nodename: unknown node name "west"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := host{files: map[string]string{"/etc/nodename": tc.content}}
			if tc.missing {
				h.files = nil
			}
			d, err := llttab.Import(tab, []byte(twoHosts), h.options(""))
			switch {
			case err != nil && !strings.HasPrefix(err.Error(), tc.want):
				t.Errorf("error %v, want %s", err, tc.want)
			case err == nil && d.NodeName != tc.want:
				t.Errorf("node %s (%d), want %s", d.NodeName, d.NodeID, tc.want)
			case err == nil && !strings.Contains(strings.Join(d.Warnings(), "\n"), "llttab:1: set-node /etc/nodename: this node is "+tc.want):
				t.Errorf("no note says where the name came from:\n%s", strings.Join(d.Warnings(), "\n"))
			}
		})
	}
}

// include and exclude apply in order to every node id, all in at first:
// 1-5 out, 3 back, 4-9 back (4 and 5), 4 out again.
func TestIncludeExclude(t *testing.T) {
	hosts := "0 n0\n1 n1\n2 n2\n3 n3\n4 n4\n5 n5\n"
	tab := "set-node n0\nlink a eth1 - ether - -\nexclude 1-5\ninclude 3\ninclude 4-9\nexclude 4\n"
	d, err := llttab.Import([]byte(tab), []byte(hosts), llttab.Options{LLTTabFile: "llttab", LLTHostsFile: "llthosts"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint16
	for _, n := range d.Nodes {
		ids = append(ids, n.ID)
	}
	if fmt.Sprint(ids) != "[0 3 5]" {
		t.Errorf("nodes %v, want 0, 3 and 5", ids)
	}
	notes := strings.Join(d.Warnings(), "\n")
	for _, want := range []string{
		"llttab:3: exclude 1-5: node n1 (id 1, llthosts:2) is left out of nodes",
		"llttab:3: exclude 1-5: node n2 (id 2, llthosts:3)",
		"llttab:6: exclude 4-4: node n4 (id 4, llthosts:5)",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("no note %q in\n%s", want, notes)
		}
	}
}

// A short peerinact set in the llttab lowers LLT's defaults that are not
// below it (LLT took such a file; tether requires the order).
func TestTimersBelowAShortPeerinact(t *testing.T) {
	tab := "set-node north\nlink a eth1 - ether - -\nlink-lowpri p eth0 - ether - -\nset-timer peerinact:100\n"
	d, err := llttab.Import([]byte(tab), []byte(twoHosts), llttab.Options{LLTTabFile: "llttab"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{
		"heartbeat": 125 * time.Millisecond, "peertrouble": 500 * time.Millisecond, "peerinact": time.Second,
		"heartbeatlo": 125 * time.Millisecond, "peertroublelo": 500 * time.Millisecond, "peerinactlo": time.Second,
	}
	if len(d.Timers) != 6 {
		t.Fatalf("timers %+v", d.Timers)
	}
	for _, tm := range d.Timers {
		if tm.Value != want[tm.Key] {
			t.Errorf("%s = %v, want %v", tm.Key, tm.Value, want[tm.Key])
		}
	}
	notes := strings.Join(d.Warnings(), "\n")
	for _, w := range []string{
		"llttab:4: set-timer peerinact:100: LLT's default peertrouble 2s is not below peerinact 1s: set to 500ms",
		"llttab:4: set-timer peerinact:100: LLT's default heartbeat 500ms is not below peertrouble 500ms: set to 125ms",
		"llttab:4: set-timer peerinact:100: LLT's default peertroublelo 4s is not below peerinactlo 1s: set to 500ms",
		"llttab:4: set-timer peerinact:100: LLT's default heartbeatlo 1s is not below peertroublelo 500ms: set to 125ms",
	} {
		if !strings.Contains(notes, w) {
			t.Errorf("no note %q in\n%s", w, notes)
		}
	}
	if strings.Contains(notes, "no set-timer") {
		t.Error("the defaults note with a set-timer")
	}
}

// A set-timer tether has no equivalent for keeps tether's defaults: the
// LLT node did not tune its link timing.
func TestOnlyOtherTimers(t *testing.T) {
	tab := "set-node north\nlink a eth1 - ether - -\nset-timer oos:20\n"
	d, err := llttab.Import([]byte(tab), []byte(twoHosts), llttab.Options{LLTTabFile: "llttab"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Timers) != 0 {
		t.Errorf("timers %+v", d.Timers)
	}
	notes := strings.Join(d.Warnings(), "\n")
	if !strings.Contains(notes, "llttab:3: set-timer oos:20: LLT's wait for out-of-sequence data") || !strings.Contains(notes, "llttab: no set-timer: LLT ran with its defaults") {
		t.Errorf("notes:\n%s", notes)
	}
}

// Without look-ups (nil functions), device names that need the host are
// placeholders with a note, and nothing is guessed.
func TestNoLookups(t *testing.T) {
	tab := "set-node north\nlink a eth-00:11:22:33:44:55 - ether - -\nlink b /dev/udp - udp 50000 - 10.0.0.1 10.0.0.255\n"
	d, err := llttab.Import([]byte(tab), []byte(twoHosts), llttab.Options{LLTTabFile: "llttab"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Networks[0].Interface != "FIXME-a" || d.Networks[1].Interface != "FIXME-b" {
		t.Errorf("interfaces %s, %s", d.Networks[0].Interface, d.Networks[1].Interface)
	}
	notes := strings.Join(d.Warnings(), "\n")
	for _, w := range []string{
		"llttab:2: link a: device eth-00:11:22:33:44:55 was not looked up (run the import on the node itself): interface FIXME-a is a placeholder",
		"llttab:3: link b: the interface holding 10.0.0.1 was not looked up",
	} {
		if !strings.Contains(notes, w) {
			t.Errorf("no note %q in\n%s", w, notes)
		}
	}
}

// A placeholder never takes a name some link uses, nor one too long for
// Linux.
func TestPlaceholderNames(t *testing.T) {
	tab := "set-node north\nlink a eth-00:11:22:33:44:55 - ether - -\nlink b FIXME-a - ether - -\nlink averyveryverylongtag eth-00:11:22:33:44:56 - ether - -\n"
	d, err := llttab.Import([]byte(tab), []byte(twoHosts), llttab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{d.Networks[0].Interface, d.Networks[1].Interface, d.Networks[2].Interface}
	if got[0] == "FIXME-a" || got[1] != "FIXME-a" || len(got[2]) > 15 || got[0] == got[2] {
		t.Errorf("interfaces %q", got)
	}
}

func TestLookupFailures(t *testing.T) {
	fail := errors.New("netlink: permission denied")
	o := llttab.Options{LLTTabFile: "llttab",
		InterfacesByMAC: func(net.HardwareAddr) ([]string, error) { return nil, fail },
		InterfaceByIP:   func(netip.Addr) (string, error) { return "", fail },
	}
	tab := "set-node north\nlink a eth-00:11:22:33:44:55 - ether - -\nlink b /dev/udp - udp 50000 - 10.0.0.1 10.0.0.255\n"
	_, err := llttab.Import([]byte(tab), []byte(twoHosts), o)
	if err == nil || !strings.Contains(err.Error(), "llttab:2: device eth-00:11:22:33:44:55: looking up the interface with MAC 00:11:22:33:44:55: netlink: permission denied") ||
		!strings.Contains(err.Error(), "llttab:3: link b: looking up the interface holding 10.0.0.1: netlink: permission denied") {
		t.Errorf("error %v", err)
	}
}
