package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var cmpOpts = []cmp.Option{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmpopts.EquateEmpty(),
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestLoadExample(t *testing.T) {
	c, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		File:    "testdata/example.yaml",
		Cluster: Cluster{ID: 7, Name: "prod", KeyFile: "/etc/tether/cluster.key"},
		Node:    NodeRef{ID: 1, Name: "node1"},
		Nodes: []Node{
			{ID: 0, Name: "node0", Addresses: map[string]netip.Addr{"hb0": ip("192.168.10.1"), "hb1": ip("192.168.20.1"), "pub": ip("10.0.0.1")}},
			{ID: 1, Name: "node1", Addresses: map[string]netip.Addr{"hb0": ip("192.168.10.2"), "hb1": ip("192.168.20.2"), "pub": ip("10.0.0.2")}},
		},
		Networks: []Network{
			{Name: "hb0", Interface: "eth1", Channels: []string{"ether", "tcp"}, EtherType: 0x88B5, Port: 7947},
			{Name: "hb1", Interface: "eth2", Channels: []string{"ether", "tcp"}, MTU: 9000, EtherType: 0x88B5, Port: 7947},
			{Name: "pub", Interface: "eth0", Channels: []string{"tcp"}, Lowpri: true, EtherType: 0x88B5, Port: 7947},
		},
		Timers: Timers{
			Heartbeat: 100 * time.Millisecond, PeerTrouble: 300 * time.Millisecond, PeerInact: 600 * time.Millisecond,
			HeartbeatLo: 500 * time.Millisecond, PeerTroubleLo: 2 * time.Second, PeerInactLo: 3 * time.Second,
		},
		TCP: TCP{SendBufLimit: DefaultSendBufLimit, HandshakeTimeout: DefaultHandshakeTimeout,
			ConnectTimeout: DefaultConnectTimeout, BackoffMax: DefaultBackoffMax},
		Status:      Status{Socket: "/run/tether/tether.sock"},
		Metrics:     Metrics{Listen: DefaultMetricsListen},
		Diagnostics: defaultDiagnostics(),
	}
	if d := cmp.Diff(want, c, cmpOpts...); d != "" {
		t.Errorf("example (-want +got):\n%s", d)
	}
	if got := c.Self(); got.Name != "node1" {
		t.Errorf("Self() = %+v, want node1", got)
	}
	if got := c.Peers(); len(got) != 1 || got[0].Name != "node0" {
		t.Errorf("Peers() = %+v, want [node0]", got)
	}
}

// DESIGN.md's example, verbatim, gives the tcp network "pub" no node
// addresses: it is refused, and the error says what to add. (The shipped
// testdata/example.yaml adds them.)
func TestDesignExampleLacksPubAddresses(t *testing.T) {
	const design = `cluster: {id: 7, name: prod, key_file: /etc/tether/cluster.key}
node: {id: 1, name: node1}
nodes:                       # like /etc/llthosts; node addresses per network for tcp
  - {id: 0, name: node0, addresses: {hb0: 192.168.10.1, hb1: 192.168.20.1}}
  - {id: 1, name: node1, addresses: {hb0: 192.168.10.2, hb1: 192.168.20.2}}
networks:                    # like llttab 'link'
  - {name: hb0, interface: eth1, channels: [ether, tcp]}
  - {name: hb1, interface: eth2, channels: [ether, tcp], mtu: 9000}
  - {name: pub, interface: eth0, channels: [tcp], lowpri: true}
timers: {heartbeat: 100ms, peertrouble: 300ms, peerinact: 600ms}
public: {bind: 10.0.0.2:7946, join: [10.0.0.1:7946]}    # memberlist, optional
metrics: {listen: 127.0.0.1:9187}
status: {socket: /run/tether/tether.sock}
`
	_, err := Parse([]byte(design), "tether.yaml")
	checkErrors(t, err, "tether.yaml", []string{
		`tether.yaml:4: nodes[0].addresses: node "node0" has no address on network "pub", which carries the tcp channel`,
		`tether.yaml:5: nodes[1].addresses: node "node1" has no address on network "pub", which carries the tcp channel`,
	})
}

// base is a minimal valid configuration of 7 lines; extra lines start at 8.
func base(extra ...string) string {
	return `cluster: {id: 7, key_file: /etc/tether/cluster.key}
node: {id: 1, name: node1}
nodes:
  - {id: 0, name: node0}
  - {id: 1, name: node1}
networks:
  - {name: hb0, interface: eth1}
` + strings.Join(extra, "\n")
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(base()), "")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Cluster: Cluster{ID: 7, Name: "tether", KeyFile: "/etc/tether/cluster.key"},
		Node:    NodeRef{ID: 1, Name: "node1"},
		Nodes:   []Node{{ID: 0, Name: "node0"}, {ID: 1, Name: "node1"}},
		Networks: []Network{
			{Name: "hb0", Interface: "eth1", Channels: []string{"ether"}, EtherType: DefaultEtherType, Port: DefaultTCPPort},
		},
		Timers: Timers{
			Heartbeat: DefaultHeartbeat, PeerTrouble: DefaultPeerTrouble, PeerInact: DefaultPeerInact,
			HeartbeatLo: DefaultHeartbeatLo, PeerTroubleLo: DefaultPeerTroubleLo, PeerInactLo: DefaultPeerInactLo,
		},
		TCP: TCP{SendBufLimit: DefaultSendBufLimit, HandshakeTimeout: DefaultHandshakeTimeout,
			ConnectTimeout: DefaultConnectTimeout, BackoffMax: DefaultBackoffMax},
		Status:      Status{Socket: DefaultStatusSocket},
		Metrics:     Metrics{Listen: DefaultMetricsListen},
		Diagnostics: defaultDiagnostics(),
	}
	if d := cmp.Diff(want, c, cmpOpts...); d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
}

func TestParseValidVariants(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{"timers in integer milliseconds and durations", base("timers: {heartbeat: 50, peertrouble: 1.5s, peerinact: 2s, heartbeatlo: 1s, peertroublelo: 90s, peerinactlo: 1h}"),
			func(t *testing.T, c *Config) {
				want := Timers{50 * time.Millisecond, 1500 * time.Millisecond, 2 * time.Second, time.Second, 90 * time.Second, time.Hour}
				if c.Timers != want {
					t.Errorf("timers = %+v, want %+v", c.Timers, want)
				}
			}},
		{"ethertype as string and hex int, port, mtu", base(
			"  - {name: hb1, interface: eth2, ethertype: \"0x88b6\", port: 7000, mtu: 68}",
			"  - {name: hb2, interface: eth3, ethertype: 0x9000, mtu: 65535}"),
			func(t *testing.T, c *Config) {
				if c.Networks[1].EtherType != 0x88B6 || c.Networks[2].EtherType != 0x9000 || c.Networks[1].Port != 7000 ||
					c.Networks[1].MTU != 68 || c.Networks[2].MTU != 65535 {
					t.Errorf("networks = %+v", c.Networks)
				}
			}},
		{"nodes sorted by id", `cluster: {id: 0x10, key_file: /k}
node: {id: 1023, name: z}
nodes:
  - {id: 1023, name: z}
  - {id: 5, name: b}
  - {id: 0, name: a.b_c-D}
networks: [{name: n, interface: e}]
`, func(t *testing.T, c *Config) {
			if c.Cluster.ID != 16 {
				t.Errorf("cluster id = %d, want 16", c.Cluster.ID)
			}
			var ids []uint16
			for _, n := range c.Nodes {
				ids = append(ids, n.ID)
			}
			if d := cmp.Diff([]uint16{0, 5, 1023}, ids); d != "" {
				t.Errorf("node ids (-want +got):\n%s", d)
			}
		}},
		{"empty sections keep defaults; null public and metrics are absent", base("timers:", "public:", "status: {}", "metrics:", "diagnostics: {}"),
			func(t *testing.T, c *Config) {
				if c.Status.Socket != DefaultStatusSocket || c.Timers.Heartbeat != DefaultHeartbeat || c.Diagnostics != defaultDiagnostics() ||
					c.Metrics.Listen != DefaultMetricsListen {
					t.Errorf("got status %q timers %+v diagnostics %+v metrics %+v", c.Status.Socket, c.Timers, c.Diagnostics, c.Metrics)
				}
			}},
		{"public", base("public: {bind: 10.0.0.2:7946, join: [10.0.0.1:7946, 10.0.0.3:7946]}"), func(t *testing.T, c *Config) {
			if c.Public == nil || c.Public.Bind != "10.0.0.2:7946" || len(c.Public.Join) != 2 {
				t.Errorf("public: %+v", c.Public)
			}
		}},
		{"replicator defaults", base("replicator: {}"), func(t *testing.T, c *Config) {
			if c.Replicator == nil || c.Replicator.Dir != DefaultReplicatorDir || c.Replicator.API != DefaultReplicatorAPI {
				t.Errorf("replicator: %+v", c.Replicator)
			}
		}},
		{"no replicator", base(), func(t *testing.T, c *Config) {
			if c.Replicator != nil {
				t.Errorf("replicator without the section: %+v", c.Replicator)
			}
		}},
		{"metrics off", base("metrics: {listen: off}"), func(t *testing.T, c *Config) {
			if c.Metrics.Listen != "" {
				t.Errorf("metrics.listen off: %q, want \"\"", c.Metrics.Listen)
			}
		}},
		{"metrics on IPv6", base("metrics: {listen: '[::1]:9100'}"), func(t *testing.T, c *Config) {
			if c.Metrics.Listen != "[::1]:9100" {
				t.Errorf("metrics.listen: %q", c.Metrics.Listen)
			}
		}},
		{"diagnostics", base("diagnostics: {loss_threshold: 20, loss_window: 5s, flap_count: 4, flap_window: 1m, flap_hold: 1s, flap_hold_max: 10s, mtu_probe_every: -1, broadcast_every: 500ms}"),
			func(t *testing.T, c *Config) {
				want := Diagnostics{LossThreshold: 20, LossWindow: 5 * time.Second, FlapCount: 4, FlapWindow: time.Minute,
					FlapHold: time.Second, FlapHoldMax: 10 * time.Second, MTUProbeEvery: -1, BroadcastEvery: 500 * time.Millisecond}
				if c.Diagnostics != want {
					t.Errorf("got %+v, want %+v", c.Diagnostics, want)
				}
			}},
		{"anchors and aliases", `cluster: {id: 1, key_file: &kf /k}
node: &me {id: 1, name: n1}
nodes:
  - *me
  - {id: 2, name: n2, addresses: {a: &a 10.0.0.2}}
networks: [{name: a, interface: eth0, channels: [ether]}]
status: {socket: *kf}
`, func(t *testing.T, c *Config) {
			if c.Nodes[0].Name != "n1" || c.Status.Socket != "/k" || c.Nodes[1].Addresses["a"] != ip("10.0.0.2") {
				t.Errorf("got %+v", c)
			}
		}},
		{"lowpri tcp network with ipv6", `cluster: {id: 1, key_file: /k}
node: {id: 1, name: n1}
nodes:
  - {id: 1, name: n1, addresses: {pub: "fd00::1"}}
networks:
  - {name: hb0, interface: eth1}
  - {name: pub, interface: eth0, channels: [tcp], lowpri: true, port: 1}
`, func(t *testing.T, c *Config) {
			if !c.Networks[1].Lowpri || c.Nodes[0].Addresses["pub"] != ip("fd00::1") {
				t.Errorf("got %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "t.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := checkInvariants(c); err != nil {
				t.Errorf("invariant: %v", err)
			}
			tt.check(t, c)
		})
	}
}

var errLine = regexp.MustCompile(`^([^:]+)(:\d+)?: `)

// checkErrors checks that err has exactly one line per want, in order,
// each containing its want, and that every line starts with the file name
// and, if any, the line.
func checkErrors(t *testing.T, err error, file string, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, l := range lines {
		if m := errLine.FindStringSubmatch(l); m == nil || m[1] != file {
			t.Errorf("error line %q does not start with %q", l, file+":")
		}
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d error lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i := range want {
		if !strings.Contains(lines[i], want[i]) {
			t.Errorf("error line %d:\n got %q\nwant it to contain %q", i+1, lines[i], want[i])
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // one per error line, in order
	}{
		// Document.
		{"empty file", "", []string{"t.yaml: the file is empty"}},
		{"only comments", "# nothing\n\n", []string{"t.yaml: the file is empty"}},
		{"null document", "---\n~\n", []string{"t.yaml:2: the configuration is empty"}},
		{"syntax error with line", "cluster: [1,\n  node: 2\n", []string{"t.yaml:2: YAML syntax error: did not find expected ',' or ']'"}},
		{"syntax error without line", "cluster: node: 2\n", []string{"t.yaml: YAML syntax error: mapping values are not allowed"}},
		{"tab indentation", "cluster:\n\tid: 1\n", []string{"t.yaml:2: YAML syntax error: found character that cannot start any token"}},
		{"unknown anchor", "cluster: *nope\n", []string{"t.yaml: YAML syntax error: unknown anchor 'nope' referenced"}},
		{"two documents", base("---", "a: 1"), []string{"t.yaml:8: a second YAML document (---) is not allowed"}},
		{"root is a list", "- cluster\n", []string{"t.yaml:1: must be a mapping (key: value), not a list"}},
		{"root is a scalar", "hello\n", []string{`t.yaml:1: must be a mapping (key: value), not "hello"`}},

		// Keys.
		{"unknown top-level key, near", base("metric: {listen: ''}"), []string{`t.yaml:8: unknown key "metric" (did you mean "metrics"?)`}},
		{"tcp tuning out of range", base("tcp: {sendbuf_limit: 100, handshake_timeout: fast}"), []string{
			`t.yaml:8: tcp.sendbuf_limit: 100 is out of range: must be from 4096 to 1073741824`,
			`t.yaml:8: tcp.handshake_timeout: invalid duration "fast"`}},
		{"unknown top-level key, far", base("colour: blue"), []string{`t.yaml:8: unknown key "colour" (known keys: cluster, node, nodes, networks, timers, public, tcp, metrics, replicator, diagnostics, resources, quorum, status)`}},
		{"unknown network key", base("  - name: hb1", "    interface: eth2", "    mtus: 9000"),
			[]string{`t.yaml:10: networks[1]: unknown key "mtus" (did you mean "mtu"?)`}},
		{"duplicate key", base("timers:", "  heartbeat: 10ms", "  heartbeat: 20ms"),
			[]string{`t.yaml:10: timers: duplicate key "heartbeat", first given at line 9`}},
		{"merge key", base("x: &t {heartbeat: 10ms}", "timers: {<<: *t}"),
			[]string{`t.yaml:8: unknown key "x"`, `t.yaml:9: timers: merge keys (<<) are not supported`}},
		{"key is not a name", base("? [a, b]", ": 1"), []string{"t.yaml:8: a key must be a plain name, not a list"}},
		{"missing section", "node: {id: 1, name: node1}\nnodes: [{id: 1, name: node1}]\nnetworks: [{name: a, interface: b}]\n",
			[]string{`t.yaml:1: missing required key "cluster"`}},
		{"everything missing", "status: {}\n", []string{
			`t.yaml:1: missing required key "cluster"`, `t.yaml:1: missing required key "node"`,
			`t.yaml:1: missing required key "nodes"`, `t.yaml:1: missing required key "networks"`}},

		// cluster.
		{"cluster missing key_file", strings.Replace(base(), "key_file: /etc/tether/cluster.key", "name: x", 1),
			[]string{`t.yaml:1: cluster: missing required key "key_file"`}},
		{"cluster is a list", strings.Replace(base(), "{id: 7, key_file: /etc/tether/cluster.key}", "[7]", 1),
			[]string{"t.yaml:1: cluster: must be a mapping (key: value), not a list"}},
		{"cluster id too big", strings.Replace(base(), "id: 7", "id: 65536", 1),
			[]string{"t.yaml:1: cluster.id: 65536 is out of range: must be from 0 to 65535"}},
		{"cluster id negative", strings.Replace(base(), "id: 7", "id: -1", 1),
			[]string{"t.yaml:1: cluster.id: -1 is out of range"}},
		{"cluster id not a number", strings.Replace(base(), "id: 7", "id: seven", 1),
			[]string{`t.yaml:1: cluster.id: must be a whole number, not "seven"`}},
		{"cluster id float", strings.Replace(base(), "id: 7", "id: 7.5", 1),
			[]string{`t.yaml:1: cluster.id: must be a whole number, not "7.5"`}},
		{"cluster id leading zero", strings.Replace(base(), "id: 7", "id: 010", 1),
			[]string{`t.yaml:1: cluster.id: "010" has a leading zero`}},
		{"cluster id is a list", strings.Replace(base(), "id: 7", "id: [7]", 1),
			[]string{"t.yaml:1: cluster.id: must be a single value, not a list"}},
		{"cluster id has a strange tag", strings.Replace(base(), "id: 7", "id: !!binary 7", 1),
			[]string{`t.yaml:1: cluster.id: unsupported YAML tag "!!binary"`}},
		{"tag with a newline", strings.Replace(base(), "id: 7", "id: !<tag:x%0Ay> 7", 1),
			[]string{`t.yaml:1: cluster.id: unsupported YAML tag "tag:x\ny"`}},
		{"cluster name invalid", strings.Replace(base(), "id: 7,", "id: 7, name: my cluster,", 1),
			[]string{`t.yaml:1: cluster.name: invalid name "my cluster"`}},
		{"key_file relative", strings.Replace(base(), "/etc/tether/cluster.key", "cluster.key", 1),
			[]string{`t.yaml:1: cluster.key_file: "cluster.key" is not an absolute path`}},

		// node.
		{"node id null", strings.Replace(base(), "node: {id: 1,", "node: {id: ~,", 1),
			[]string{"t.yaml:2: node.id: no value given"}},
		{"node id too big", strings.Replace(base(), "node: {id: 1,", "node: {id: 1024,", 1),
			[]string{"t.yaml:2: node.id: 1024 is out of range: must be from 0 to 1023"}},
		{"node name differs", strings.Replace(base(), "node: {id: 1, name: node1}", "node: {id: 1, name: node9}", 1),
			[]string{`t.yaml:2: node: node is {id: 1, name: node9} but nodes has id 1 named "node1" (line 5): they must match`}},
		{"node id differs", strings.Replace(base(), "node: {id: 1, name: node1}", "node: {id: 5, name: node1}", 1),
			[]string{`t.yaml:2: node: node is {id: 5, name: node1} but nodes has node1 with id 1 (line 5): they must match`}},
		{"node not listed", strings.Replace(base(), "node: {id: 1, name: node1}", "node: {id: 5, name: node5}", 1),
			[]string{`t.yaml:2: node: node {id: 5, name: node5} is not in nodes`}},

		// nodes.
		{"nodes empty", strings.Replace(base(), "  - {id: 0, name: node0}\n  - {id: 1, name: node1}\n", "  []\n", 1),
			[]string{"t.yaml:3: nodes: at least one node (this one) is needed"}},
		{"nodes is a mapping", strings.Replace(base(), "  - {id: 0, name: node0}\n  - {id: 1, name: node1}\n", "  a: b\n", 1),
			[]string{"t.yaml:3: nodes: must be a list, not a mapping"}},
		{"duplicate node id", strings.Replace(base(), "  - {id: 1, name: node1}\n", "  - {id: 1, name: node1}\n  - {id: 1, name: node2}\n", 1),
			[]string{"t.yaml:6: nodes[2].id: duplicate id 1, first used at line 5"}},
		{"duplicate node name", strings.Replace(base(), "  - {id: 1, name: node1}\n", "  - {id: 1, name: node1}\n  - {id: 2, name: node0}\n", 1),
			[]string{`t.yaml:6: nodes[2].name: duplicate name "node0", first used at line 4`}},
		{"node name too long", strings.Replace(base(), "name: node0", "name: "+strings.Repeat("n", 33), 1),
			[]string{"t.yaml:4: nodes[0].name: invalid name"}},
		{"node name bad char", strings.Replace(base(), "name: node0", "name: node/0", 1),
			[]string{`t.yaml:4: nodes[0].name: invalid name "node/0": use 1 to 32 letters, digits, '.', '_' or '-'`}},
		{"node missing name", strings.Replace(base(), "{id: 0, name: node0}", "{id: 0}", 1),
			[]string{`t.yaml:4: nodes[0]: missing required key "name"`}},
		{"address for unknown network", strings.Replace(base(), "{id: 0, name: node0}", "{id: 0, name: node0, addresses: {hb9: 10.0.0.1}}", 1),
			[]string{`t.yaml:4: nodes[0].addresses.hb9: unknown network "hb9": the networks are hb0`}},
		{"address key with a newline", strings.Replace(base(), "{id: 0, name: node0}", `{id: 0, name: node0, addresses: {"hb\n0": 10.0.0.1, "": 10.0.0.2}}`, 1),
			[]string{`t.yaml:4: nodes[0].addresses."": unknown network ""`, `t.yaml:4: nodes[0].addresses."hb\n0": unknown network "hb\n0"`}},
		{"address not an ip", strings.Replace(base(), "{id: 0, name: node0}", "{id: 0, name: node0, addresses: {hb0: 300.1.1.1}}", 1),
			[]string{`t.yaml:4: nodes[0].addresses.hb0: "300.1.1.1" is not an IP address`}},
		{"address with zone", strings.Replace(base(), "{id: 0, name: node0}", "{id: 0, name: node0, addresses: {hb0: \"fe80::1%eth1\"}}", 1),
			[]string{`t.yaml:4: nodes[0].addresses.hb0: "fe80::1%eth1" has a zone`}},
		{"address multicast", strings.Replace(base(), "{id: 0, name: node0}", "{id: 0, name: node0, addresses: {hb0: 224.0.0.1}}", 1),
			[]string{`t.yaml:4: nodes[0].addresses.hb0: 224.0.0.1 is not a unicast address`}},
		{"addresses is a list", strings.Replace(base(), "{id: 0, name: node0}", "{id: 0, name: node0, addresses: [10.0.0.1]}", 1),
			[]string{`t.yaml:4: nodes[0].addresses: must be a mapping (name: value), not a list`}},
		{"same address twice", `cluster: {id: 7, key_file: /k}
node: {id: 1, name: node1}
nodes:
  - id: 0
    name: node0
    addresses: {hb0: 10.0.0.1}
  - id: 1
    name: node1
    addresses:
      hb0: 10.0.0.1
networks:
  - {name: hb0, interface: eth1, channels: [tcp]}
`, []string{`t.yaml:10: nodes[1].addresses.hb0: address 10.0.0.1 is already node "node0"'s on network hb0 (line 6)`}},
		{"tcp network without address", strings.Replace(base(), "interface: eth1}", "interface: eth1, channels: [ether, tcp]}", 1) +
			"  - {name: hb1, interface: eth2}\n",
			[]string{
				`t.yaml:4: nodes[0].addresses: node "node0" has no address on network "hb0", which carries the tcp channel: add hb0: IP to its addresses`,
				`t.yaml:5: nodes[1].addresses: node "node1" has no address on network "hb0"`,
			}},

		// networks.
		{"networks empty", strings.Replace(base(), "  - {name: hb0, interface: eth1}\n", "  []\n", 1),
			[]string{"t.yaml:6: networks: at least one network is needed"}},
		{"networks null", strings.Replace(base(), "  - {name: hb0, interface: eth1}\n", "", 1),
			[]string{"t.yaml:6: networks: at least one network is needed"}},
		{"too many networks", base(
			"  - {name: n1, interface: e1}", "  - {name: n2, interface: e2}", "  - {name: n3, interface: e3}", "  - {name: n4, interface: e4}",
			"  - {name: n5, interface: e5}", "  - {name: n6, interface: e6}", "  - {name: n7, interface: e7}", "  - {name: n8, interface: e8}"),
			[]string{"t.yaml:15: networks[8]: too many networks: at most 8 are supported"}},
		{"duplicate network name", base("  - {name: hb0, interface: eth2}"),
			[]string{`t.yaml:8: networks[1].name: duplicate network name "hb0", first used at line 7`}},
		{"two networks on one interface", base("  - {name: hb1, interface: eth1}"),
			[]string{`t.yaml:8: networks[1].interface: interface "eth1" is already used by network "hb0" (line 7): each network needs its own interface`}},
		{"network missing interface", base("  - {name: hb1}"),
			[]string{`t.yaml:8: networks[1]: missing required key "interface"`}},
		{"interface name too long", base("  - {name: hb1, interface: abcdefghijklmnop}"),
			[]string{`t.yaml:8: networks[1].interface: invalid interface name "abcdefghijklmnop"`}},
		{"interface name with slash", base("  - {name: hb1, interface: eth/1}"),
			[]string{`t.yaml:8: networks[1].interface: invalid interface name "eth/1"`}},
		{"interface name dot", base("  - {name: hb1, interface: '..'}"),
			[]string{`t.yaml:8: networks[1].interface: invalid interface name ".."`}},
		{"interface name with space", base("  - {name: hb1, interface: 'eth 1'}"),
			[]string{`t.yaml:8: networks[1].interface: invalid interface name "eth 1"`}},
		{"interface name empty", base("  - {name: hb1, interface: ''}"),
			[]string{`t.yaml:8: networks[1].interface: invalid interface name ""`}},
		{"unknown channel", base("  - {name: hb1, interface: eth2, channels: [ether, udp]}"),
			[]string{`t.yaml:8: networks[1].channels[1]: unknown channel "udp": channels are "ether" and "tcp"`}},
		{"duplicate channel", base("  - name: hb1", "    interface: eth2", "    channels:", "      - ether", "      - ether"),
			[]string{`t.yaml:12: networks[1].channels[1]: channel "ether" is given twice`}},
		{"no channel", base("  - {name: hb1, interface: eth2, channels: []}"),
			[]string{`t.yaml:8: networks[1].channels: must name at least one channel (ether, tcp)`}},
		{"channels not a list", base("  - {name: hb1, interface: eth2, channels: ether}"),
			[]string{`t.yaml:8: networks[1].channels: must be a list, not "ether"`}},
		{"mtu too small", base("  - {name: hb1, interface: eth2, mtu: 67}"),
			[]string{`t.yaml:8: networks[1].mtu: 67 is out of range: must be from 68 to 65535`}},
		{"mtu too big", base("  - {name: hb1, interface: eth2, mtu: 65536}"),
			[]string{`t.yaml:8: networks[1].mtu: 65536 is out of range`}},
		{"lowpri not a bool", base("  - {name: hb1, interface: eth2, lowpri: yes}"),
			[]string{`t.yaml:8: networks[1].lowpri: must be true or false, not "yes"`}},
		{"ethertype ipv4", base("  - {name: hb1, interface: eth2, ethertype: 0x0800}"),
			[]string{`t.yaml:8: networks[1].ethertype: 0x0800 is IPv4: choose another EtherType (default 0x88B5)`}},
		{"ethertype arp as string", base("  - {name: hb1, interface: eth2, ethertype: \"0x0806\"}"),
			[]string{`t.yaml:8: networks[1].ethertype: 0x0806 is ARP`}},
		{"ethertype ipv6", base("  - {name: hb1, interface: eth2, ethertype: 0x86dd}"),
			[]string{`t.yaml:8: networks[1].ethertype: 0x86DD is IPv6`}},
		{"ethertype vlan", base("  - {name: hb1, interface: eth2, ethertype: 0x8100}", "  - {name: hb2, interface: eth3, ethertype: 0x88a8}", "  - {name: hb3, interface: eth4, ethertype: 0x9100}"),
			[]string{`t.yaml:8: networks[1].ethertype: 0x8100 is 802.1Q VLAN`, `t.yaml:9: networks[2].ethertype: 0x88A8 is 802.1ad VLAN`, `t.yaml:10: networks[3].ethertype: 0x9100 is QinQ VLAN`}},
		{"ethertype is a length", base("  - {name: hb1, interface: eth2, ethertype: 0x05ff}"),
			[]string{`t.yaml:8: networks[1].ethertype: 1535 is out of range: must be from 1536 to 65535`}},
		{"ethertype not a number", base("  - {name: hb1, interface: eth2, ethertype: ipv4}"),
			[]string{`t.yaml:8: networks[1].ethertype: must be a whole number, not "ipv4"`}},
		{"port zero", base("  - {name: hb1, interface: eth2, port: 0}"),
			[]string{`t.yaml:8: networks[1].port: 0 is out of range: must be from 1 to 65535`}},
		{"every network lowpri", strings.Replace(base(), "interface: eth1}", "interface: eth1, lowpri: true}", 1),
			[]string{`t.yaml:6: networks: every network is lowpri: at least one must carry full-rate heartbeats (lowpri: false)`}},

		// timers.
		{"timer quoted number", base("timers: {heartbeat: \"100\"}"),
			[]string{`t.yaml:8: timers.heartbeat: invalid duration "100": give whole milliseconds (100) or a duration with a unit`}},
		{"timer float", base("timers: {heartbeat: 1.5}"),
			[]string{`t.yaml:8: timers.heartbeat: invalid duration "1.5"`}},
		{"timer zero", base("timers: {heartbeat: 0}"),
			[]string{`t.yaml:8: timers.heartbeat: 0s is out of range: must be from 1ms to 1h0m0s`}},
		{"timer below 1ms", base("timers: {heartbeat: 500us}"),
			[]string{`t.yaml:8: timers.heartbeat: 500µs is out of range`}},
		{"timer above 1h", base("timers: {peerinactlo: 61m}"),
			[]string{`t.yaml:8: timers.peerinactlo: 1h1m0s is out of range`}},
		{"timer huge integer", base("timers: {peerinactlo: 99999999999}"),
			[]string{`t.yaml:8: timers.peerinactlo: 99999999999 ms is out of range`}},
		{"timer unknown", base("timers: {heartbeats: 10ms}"),
			[]string{`t.yaml:8: timers: unknown key "heartbeats" (did you mean "heartbeat"?)`}},
		{"peertrouble equals heartbeat", base("timers:", "  heartbeat: 100ms", "  peertrouble: 100"),
			[]string{`t.yaml:10: timers.peertrouble: 100ms must be greater than heartbeat (100ms): the rule is heartbeat < peertrouble < peerinact`}},
		{"heartbeat alone too big", base("timers:", "  heartbeat: 400ms"),
			[]string{`t.yaml:9: timers.heartbeat: 400ms must be less than peertrouble (300ms): the rule is heartbeat < peertrouble < peerinact`}},
		{"peerinact below peertrouble", base("timers: {peertrouble: 700ms}"),
			[]string{`t.yaml:8: timers.peertrouble: 700ms must be less than peerinact (600ms)`}},
		{"lowpri order", base("timers: {peerinactlo: 1s}"),
			[]string{`t.yaml:8: timers.peerinactlo: 1s must be greater than peertroublelo (2s): the rule is heartbeatlo < peertroublelo < peerinactlo`}},

		// public, metrics, diagnostics.
		{"public without bind", base("public: {join: [10.0.0.1:7946]}"),
			[]string{`t.yaml:8: public: missing required key "bind"`}},
		{"public join not an address", base("public: {bind: 10.0.0.2:7946, join: [node1:7946]}"),
			[]string{`t.yaml:8: public.join[0]: "node1:7946" is not an address: want IP:port such as 10.0.0.1:7946`}},
		{"public bind unspecified", base("public: {bind: '0.0.0.0:7946'}"),
			[]string{`t.yaml:8: public.bind: "0.0.0.0:7946": want a node's own IP and a port, not 0`}},
		{"quorum witness is a node", base("quorum: {witness: {node: 2}}"),
			[]string{`t.yaml:8: quorum.witness: a tetherd witness is a node: give it witness: true in nodes`}},
		{"replicator dir relative", base("replicator: {dir: var/lib/tether}"),
			[]string{`t.yaml:8: replicator.dir: "var/lib/tether" is not an absolute path`}},
		{"replicator api not an address", base("replicator: {api: localhost:9188}"),
			[]string{`t.yaml:8: replicator.api: "localhost:9188" is not an address: want IP:port such as 10.0.0.1:7946`}},
		{"metrics on a host name", base("metrics: {listen: 'localhost:9187'}"),
			[]string{`t.yaml:8: metrics.listen: "localhost:9187" is not an address: want IP:port such as 127.0.0.1:9187 (or "off")`}},
		{"metrics without a port", base("metrics: {listen: '10.0.0.1:0'}"),
			[]string{`t.yaml:8: metrics.listen: "10.0.0.1:0" has no port`}},
		{"metrics unknown key", base("metrics: {port: 9187}"),
			[]string{`t.yaml:8: metrics: unknown key "port" (known keys: listen)`}},
		{"loss threshold out of range", base("diagnostics: {loss_threshold: 0}"),
			[]string{`t.yaml:8: diagnostics.loss_threshold: 0 is out of range: must be from 1 to 100`}},
		{"flap hold above its maximum", base("diagnostics: {flap_hold: 1m, flap_hold_max: 10s}"),
			[]string{`t.yaml:8: diagnostics.flap_hold: flap_hold (1m0s) must not be above flap_hold_max (10s)`}},
		{"mtu probes every 0", base("diagnostics: {mtu_probe_every: 0}"),
			[]string{`t.yaml:8: diagnostics.mtu_probe_every: must be a number of heartbeats (1 probes every heartbeat), or -1 to turn MTU probes off`}},
		{"negative window", base("diagnostics: {loss_window: -1s}"),
			[]string{`t.yaml:8: diagnostics.loss_window: -1s is out of range: must be from 1ms to 1h0m0s`}},
		{"status socket relative", base("status: {socket: tether.sock}"),
			[]string{`t.yaml:8: status.socket: "tether.sock" is not an absolute path`}},
		{"status socket too long", base("status: {socket: /" + strings.Repeat("s", 107) + "}"),
			[]string{`t.yaml:8: status.socket: path is 108 bytes long: a unix socket path must be at most 107`}},

		// Several problems at once, reported in line order.
		{"several problems", `cluster: {id: 70000, key_file: /k}
node: {id: 1, name: node1}
nodes:
  - {id: 1, name: node1, adresses: {}}
networks:
  - {name: hb0, interface: eth1, mtu: 9}
timers: {heartbeat: 1 s}
`, []string{
			"t.yaml:1: cluster.id: 70000 is out of range",
			`t.yaml:4: nodes[0]: unknown key "adresses" (did you mean "addresses"?)`,
			"t.yaml:6: networks[0].mtu: 9 is out of range",
			`t.yaml:7: timers.heartbeat: invalid duration "1 s"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "t.yaml")
			if c != nil {
				t.Errorf("Parse returned a config with an error")
			}
			checkErrors(t, err, "t.yaml", tt.want)
		})
	}
}

func TestParseNoFileName(t *testing.T) {
	_, err := Parse([]byte("cluster: 1\n"), "")
	if err == nil || !strings.HasPrefix(err.Error(), "<config>:1: cluster: must be a mapping") {
		t.Errorf("err = %v, want it to start with <config>:1: cluster: must be a mapping", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: err = %v, want it to name the file", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(base("colour: red")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad)
	checkErrors(t, err, bad, []string{`:8: unknown key "colour"`})
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, maxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: err = %v, want larger than", err)
	}
}

func TestParseErrorCap(t *testing.T) {
	var extra []string
	for i := range maxReported + 10 {
		extra = append(extra, fmt.Sprintf("unknown%d: 1", i))
	}
	_, err := Parse([]byte(base(extra...)), "t.yaml")
	want := make([]string, 0, maxReported+1)
	for i := range maxReported {
		want = append(want, fmt.Sprintf(`t.yaml:%d: unknown key "unknown%d"`, 8+i, i))
	}
	want = append(want, "t.yaml: and 10 more problems")
	checkErrors(t, err, "t.yaml", want)
}

func defaultDiagnostics() Diagnostics {
	return Diagnostics{LossThreshold: DefaultLossThreshold, LossWindow: DefaultLossWindow, FlapCount: DefaultFlapCount,
		FlapWindow: DefaultFlapWindow, FlapHold: DefaultFlapHold, FlapHoldMax: DefaultFlapHoldMax,
		MTUProbeEvery: DefaultMTUProbeEvery, BroadcastEvery: DefaultBroadcastEvery}
}
