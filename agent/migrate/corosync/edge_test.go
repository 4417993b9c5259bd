package corosync

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/migrate"
)

// nodelist is a nodelist of n nodes 1..n on 10.0.<ring>.<id> for the
// given rings.
func nodelist(n int, rings ...int) string {
	var b strings.Builder
	b.WriteString("nodelist {\n")
	for i := 1; i <= n; i++ {
		b.WriteString("  node {\n    nodeid: " + strconv.Itoa(i) + "\n    name: n" + strconv.Itoa(i) + "\n")
		for _, r := range rings {
			b.WriteString("    ring" + strconv.Itoa(r) + "_addr: 10.0." + strconv.Itoa(r) + "." + strconv.Itoa(i) + "\n")
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func convertString(t *testing.T, in string, o Options) (*migrate.Draft, error) {
	t.Helper()
	d, err := ParseAndConvert([]byte(in), "corosync.conf", o)
	if err == nil {
		checkValid(t, d)
	}
	return d, err
}

func TestConversionErrors(t *testing.T) {
	cases := []struct {
		name, in string
		o        Options
		want     string // a prefix of the error
		also     string // and a part of it
	}{
		{"empty file", "", Options{}, "corosync.conf: no nodelist { } section", "cannot be converted"},
		{"duplicate nodeid", "nodelist {\n node {\n  nodeid: 2\n  ring0_addr: 10.0.0.1\n }\n node {\n  nodeid: 2\n  ring0_addr: 10.0.0.2\n }\n}\n",
			Options{Node: "2"}, "corosync.conf:6: nodeid 2 is also the node at line 2", "unique"},
		{"nodeid above 1023", "nodelist {\n node {\n  nodeid: 1024\n  ring0_addr: 10.0.0.1\n }\n}\n", Options{},
			"corosync.conf:3: nodeid 1024 is above tether's largest node id (1023)", "not renumbered"},
		{"nodeid 0", "nodelist {\n node {\n  nodeid: 0\n  ring0_addr: 10.0.0.1\n }\n}\n", Options{}, "corosync.conf:3: nodeid 0 is reserved", ""},
		{"nodeid not a number", "nodelist {\n node {\n  nodeid: one\n  ring0_addr: 10.0.0.1\n }\n}\n", Options{},
			`corosync.conf:3: nodeid: "one" is not a whole number`, "corosync refuses it too"},
		{"missing nodeid", "nodelist {\n node {\n  name: a\n  ring0_addr: 10.0.0.1\n }\n}\n", Options{}, "corosync.conf:2: this node { } has no nodeid", ""},
		{"no ring address", "nodelist {\n node {\n  nodeid: 1\n  name: a\n }\n}\n", Options{}, "corosync.conf:2: this node { } has no ring0_addr", ""},
		{"two nodelists", nodelist(1, 0) + nodelist(1, 0), Options{Node: "1"}, "corosync.conf:8: a second nodelist { } (the first is at line 1)", ""},
		{"empty nodelist", "nodelist {\n}\n", Options{}, "corosync.conf:1: the nodelist has no node { }", ""},
		{"ring8", "nodelist {\n node {\n  nodeid: 1\n  ring8_addr: 10.0.0.1\n }\n}\n", Options{}, "corosync.conf:4: ring8_addr: corosync has links 0 to 7 only", ""},
		{"ring00", "nodelist {\n node {\n  nodeid: 1\n  ring00_addr: 10.0.0.1\n }\n}\n", Options{}, "corosync.conf:4: ring00_addr: write it ring0_addr", ""},
		{"bad transport", "totem {\n transport: iba\n}\n" + nodelist(1, 0), Options{}, `corosync.conf:2: totem.transport "iba"`, ""},
		{"bad token", "totem {\n token: 3s\n}\n" + nodelist(1, 0), Options{Node: "1"}, `corosync.conf:2: token: "3s" is not a whole number`, ""},
		{"bad linknumber", "totem {\n interface {\n  linknumber: 9\n }\n}\n" + nodelist(1, 0), Options{Node: "1"},
			"corosync.conf:3: link number 9: corosync has links 0 to 7 only", ""},
		{"duplicate address", "nodelist {\n node {\n  nodeid: 1\n  ring0_addr: 10.0.0.1\n }\n node {\n  nodeid: 2\n  ring0_addr: 10.0.0.1\n }\n}\n",
			Options{Node: "1"}, "corosync.conf:8: ring0_addr 10.0.0.1 is also node node1's (line 4)", ""},
		{"no local node", nodelist(2, 0), Options{Hostname: "elsewhere"},
			"corosync.conf: cannot tell which node this host is: none of the ring addresses (10.0.0.1, 10.0.0.2) is an address of this host and no node is named like it (elsewhere)",
			"pass --node NAME|ID (nodes: n1 (id 1), n2 (id 2))"},
		{"unknown --node", nodelist(2, 0), Options{Node: "n9"}, "corosync.conf: --node n9: no such node in the nodelist (nodes: n1 (id 1), n2 (id 2))", ""},
		{"two nodes on this host", nodelist(2, 0), Options{InterfaceOf: host{"10.0.0.1": "lo", "10.0.0.2": "lo"}.lookup},
			"corosync.conf: ring addresses of several nodes (n1 (id 1), n2 (id 2)) are on this host: pass --node", ""},
		{"two rings on one interface", nodelist(2, 0, 1), Options{InterfaceOf: host{"10.0.0.1": "eth0", "10.0.1.1": "eth0"}.lookup},
			"corosync.conf:6: ring0 and ring1 of node n1 (10.0.0.1 and 10.0.1.1) are both on interface eth0", "one interface per network"},
		{"names clash", "nodelist {\n node {\n  nodeid: 2\n  ring0_addr: 10.0.0.1\n }\n node {\n  nodeid: 3\n  name: node2\n  ring0_addr: 10.0.0.2\n }\n}\n",
			Options{Node: "2"}, "corosync.conf:8: node 3 would be named node2 like node 2 (line 2)", ""},
		{"no ring on every node", "nodelist {\n node {\n  nodeid: 1\n  ring0_addr: 10.0.0.1\n }\n node {\n  nodeid: 2\n  ring1_addr: 10.0.1.2\n }\n}\n",
			Options{Node: "1"}, "corosync.conf:1: no ring is on every node", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := convertString(t, tc.in, tc.o)
			if err == nil {
				t.Fatalf("converted:\n%s", d.Render())
			}
			if !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.also) {
				t.Errorf("error:\n%v\nwant it to start with\n%s\nand contain %q", err, tc.want, tc.also)
			}
		})
	}
}

// notesOf is every Note as "line: text".
func notesOf(d *migrate.Draft) string { return strings.Join(d.Warnings(), "\n") }

func mustNote(t *testing.T, d *migrate.Draft, parts ...string) {
	t.Helper()
	all := notesOf(d)
	for _, p := range parts {
		if !strings.Contains(all, p) {
			t.Errorf("no note contains %q; notes:\n%s", p, all)
		}
	}
}

func TestNames(t *testing.T) {
	in := "nodelist {\n" +
		" node {\n  nodeid: 1\n  name: has space\n  ring0_addr: 10.0.0.1\n }\n" +
		" node {\n  nodeid: 2\n  name: \"quoted\"\n  ring0_addr: 10.0.0.2\n }\n" +
		" node {\n  nodeid: 3\n  name: a-long-host-name-of-cluster1.dc1.example.com\n  ring0_addr: 10.0.0.3\n }\n" +
		" node {\n  nodeid: 4\n  ring0_addr: 10.0.0.4\n }\n" +
		"}\n"
	d, err := convertString(t, in, Options{Node: "a-long-host-name-of-cluster1.dc1.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range d.Nodes {
		names = append(names, n.Name)
	}
	if got := strings.Join(names, " "); got != "node1 node2 a-long-host-name-of-cluster1 node4" {
		t.Errorf("names %s", got)
	}
	if d.NodeID != 3 {
		t.Errorf("--node by corosync's name: node %d", d.NodeID)
	}
	mustNote(t, d, `corosync.conf:4: node name "has space" is not a valid tether name`,
		`corosync.conf:9: node name "\"quoted\"" is not a valid tether name (1 to 32 letters, digits, '.', '_' or '-'; corosync keeps the quotes as part of the name): named node2`,
		"corosync.conf:14: node name \"a-long-host-name-of-cluster1.dc1.example.com\" is not a valid tether name (1 to 32 letters, digits, '.', '_' or '-'): named a-long-host-name-of-cluster1, its short name",
		"corosync.conf:17: node 4 has no name: named node4")
	if d, err := convertString(t, in, Options{Node: "node4"}); err != nil || d.NodeID != 4 {
		t.Errorf("--node by tether's name: %v", err)
	}
}

func TestTotemKeys(t *testing.T) {
	in := "totem {\n token: 1000\n cluster_name: \"prod\"\n token: 2000\n key: s3cr3t-key\n key: s3cr3t-key2\n knet_mtu: 1400\n netmtu: 1500\n" +
		" interface {\n  linknumber: 3\n  mcastport: 5410\n }\n}\n" + nodelist(2, 0) + "stray: value\n"
	d, err := convertString(t, in, Options{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Timers[0].Value != ms(500) || d.Timers[2].Value != ms(1000) {
		t.Errorf("the last token (2000) gives 500/1000 ms: %+v", d.Timers)
	}
	if d.ClusterName != "" || d.ClusterID != DeriveClusterID(`"prod"`) {
		t.Errorf("cluster %q %d", d.ClusterName, d.ClusterID)
	}
	if d.Networks[0].MTU != 1400 {
		t.Errorf("knet_mtu: mtu %d", d.Networks[0].MTU)
	}
	mustNote(t, d, "corosync.conf:4: token is given 2 times (also line 2): corosync uses the last",
		`corosync.conf:3: cluster_name "\"prod\"" is not a valid tether name`, "corosync keeps the quotes as part of the name",
		"key (not shown) (line 6)", "corosync.conf:8: netmtu 1500: with knet",
		"corosync.conf:9: interface { } of link 3: no ring3 on every node", "corosync.conf:26: top-level stray value (line 26)")
	if all := notesOf(d); strings.Contains(all, "s3cr3t") || strings.Contains(string(d.Render()), "s3cr3t") {
		t.Errorf("the inline crypto key leaks into the output:\n%s", all)
	}
}

// tether's invariants hold whatever the knet timers: 1 ms <= heartbeat <
// peertrouble < peerinact <= 1 h.
func TestTimersKeepTetherInvariants(t *testing.T) {
	cases := []struct {
		name, totem string
		want        [3]time.Duration
		note        string
	}{
		{"interval equals timeout", " interface {\n  linknumber: 0\n  knet_ping_interval: 1000\n  knet_ping_timeout: 1000\n }\n",
			[3]time.Duration{ms(333), ms(666), ms(1000)}, "is not below the ping timeout"},
		{"tiny token", " token: 1\n", [3]time.Duration{ms(1), ms(2), ms(3)}, "the knet ping timeout (0 ms) is outside what tether takes: peerinact is 3 ms"},
		{"huge token", " token: 4294967295\n", [3]time.Duration{20 * time.Minute, 40 * time.Minute, time.Hour}, "peerinact is 3600000 ms"},
		{"pong count 0 reads as 2", " interface {\n  knet_pong_count: 0\n }\n", [3]time.Duration{ms(750), ms(1125), ms(1500)}, ""},
		{"coefficient for 5 nodes", " token: 1000\n token_coefficient: 100\n", [3]time.Duration{ms(325), ms(487), ms(650)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := 2
			if strings.Contains(tc.name, "5 nodes") {
				n = 5
			}
			d, err := convertString(t, "totem {\n"+tc.totem+"}\n"+nodelist(n, 0), Options{Node: "1"})
			if err != nil {
				t.Fatal(err)
			}
			got := [3]time.Duration{d.Timers[0].Value, d.Timers[1].Value, d.Timers[2].Value}
			if got != tc.want {
				t.Errorf("timers %v, want %v", got, tc.want)
			}
			if tc.note != "" {
				mustNote(t, d, tc.note)
			}
		})
	}
}

func TestAddresses(t *testing.T) {
	in := "nodelist {\n" +
		" node {\n  nodeid: 1\n  ring0_addr: fe80::1%eth0\n  ring1_addr: 10.1.0.1\n }\n" +
		" node {\n  nodeid: 2\n  ring0_addr: 192.0.2.1\n  ring1_addr: 10.1.0.2\n }\n" +
		" node {\n  nodeid: 3\n  ring0_addr: \"10.0.0.3\"\n  ring1_addr: 10.1.0.3\n }\n" +
		"}\n"
	d, err := convertString(t, in, Options{InterfaceOf: host{"10.1.0.1": "bad name"}.lookup})
	if err != nil {
		t.Fatal(err)
	}
	// The placeholders skip 192.0.2.1, node 2's real address.
	if a := d.Nodes[0].Addresses["ring0"]; a != "192.0.2.2" {
		t.Errorf("node1 ring0 %s", a)
	}
	if a := d.Nodes[2].Addresses["ring0"]; a != "192.0.2.3" {
		t.Errorf("node3 ring0 %s", a)
	}
	if d.NodeID != 1 || d.Networks[0].Interface != "CHANGEME0" || d.Networks[1].Interface != "CHANGEME1" {
		t.Errorf("node %d networks %+v", d.NodeID, d.Networks)
	}
	mustNote(t, d, `corosync.conf:4: node node1 ring0_addr "fe80::1%eth0" is an address with a zone`,
		`corosync.conf:14: node node3 ring0_addr "\"10.0.0.3\"" is quoted (corosync keeps the quotes`,
		`corosync.conf:5: this host's interface holding 10.1.0.1 is named "bad name", which tether cannot use as an interface name: wrote CHANGEME1`)
}

func TestPlaceholderSequence(t *testing.T) {
	next := placeholderSeq()
	var got []string
	for i := 1; i <= 3*254+2; i++ {
		a := next()
		if i == 1 || i == 254 || i == 255 || i == 3*254 || i > 3*254 {
			got = append(got, a.String())
		}
	}
	if s := strings.Join(got, " "); s != "192.0.2.1 192.0.2.254 198.51.100.1 203.0.113.254 2001:db8::1 2001:db8::2" {
		t.Errorf("placeholders %s", s)
	}
}

func TestLocalNodeByHostname(t *testing.T) {
	in := "nodelist {\n node {\n  nodeid: 1\n  name: alpha.example.com\n  ring0_addr: 10.0.0.1\n }\n" +
		" node {\n  nodeid: 2\n  name: beta\n  ring0_addr: 10.0.0.2\n }\n}\n"
	for host, id := range map[string]uint16{"alpha.example.com": 1, "beta.example.com": 2, "alpha": 1} {
		d, err := convertString(t, in, Options{Hostname: host})
		if err != nil || d.NodeID != id {
			t.Errorf("host %s: %v, want node %d", host, err, id)
			continue
		}
		mustNote(t, d, "named like this host ("+host+")")
	}
}

// A value holding a line break or bytes YAML does not take cannot end the
// comment it is quoted in and inject the rest into the configuration.
func TestNotesCannotInjectYAML(t *testing.T) {
	for _, bad := range []string{"x\rnode: 9", "x\u2028node: 9", "x\u0085node: 1", "\xff\xfe", "\x01\x7f"} {
		in := nodelist(1, 0) + "stray: " + bad + "\n"
		d, err := convertString(t, in, Options{Node: "1"}) // checkValid parses the output
		if err != nil {
			t.Fatal(err)
		}
		if out := string(d.Render()); strings.Contains(out, "\r") || strings.Contains(out, "\u2028") || strings.Contains(out, "\u0085") {
			t.Errorf("a line break reached the output:\n%q", out)
		}
	}
	if got := printable("a\rb\xffc\u2028d\te"); got != `a\u000db\xffc\u2028d`+"\te" {
		t.Errorf("printable: %q", got)
	}
}

// IPv6 forms that YAML could misread in a flow mapping (a trailing "::",
// a leading "::") come through as the same addresses.
func TestIPv6AddressesSurviveYAML(t *testing.T) {
	in := "nodelist {\n node {\n  nodeid: 1\n  ring0_addr: 2001:db8:1::\n }\n node {\n  nodeid: 2\n  ring0_addr: ::2\n }\n" +
		" node {\n  nodeid: 3\n  ring0_addr: ::ffff:10.0.0.3\n }\n}\n"
	d, err := convertString(t, in, Options{Node: "1"}) // checkValid compares what tether reads
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"2001:db8:1::", "::2", "::ffff:10.0.0.3"} {
		if got := d.Nodes[i].Addresses["ring0"]; got != want {
			t.Errorf("node %d: %s, want %s", i+1, got, want)
		}
	}
}
