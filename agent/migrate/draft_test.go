package migrate

import (
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/config"
)

// A Draft renders as a configuration tether reads back field for field,
// names and addresses that need quoting included, with its Notes as
// comments.
func TestRenderParses(t *testing.T) {
	d := Draft{
		Sources:   []string{"a.conf"},
		ClusterID: 9, ClusterName: "prod", KeyFile: "/etc/tether/cluster.key",
		NodeID: 1, NodeName: "n1",
		Nodes: []Node{
			{ID: 1, Name: "n1", Addresses: map[string]string{"ring0": "::2", "ring1": "10.0.0.1"}},
			{ID: 2, Name: "n2", Addresses: map[string]string{"ring0": "fe80::1", "ring1": "10.0.0.2"}},
		},
		Networks: []Network{
			{Name: "ring0", Interface: "eth0", Channels: []string{"tcp"}, MTU: 9000, Comment: "from a.conf:3"},
			{Name: "ring1", Interface: "eth1", Channels: []string{"ether", "tcp"}, Lowpri: true, EtherType: 0x88B6, Port: 7000},
		},
		Timers: []Timer{{Key: "heartbeat", Value: 200 * time.Millisecond}, {Key: "peertrouble", Value: time.Second},
			{Key: "peerinact", Value: 2 * time.Second, Comment: "token"}},
	}
	d.Notef("a.conf:7", "crypto_cipher: %s is not carried over", "aes256")
	out := d.Render()
	if !strings.Contains(string(out), "#   a.conf:7: crypto_cipher: aes256 is not carried over\n") {
		t.Errorf("the note is not a comment:\n%s", out)
	}
	c, err := config.Parse(out, "rendered")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if c.Cluster.ID != 9 || c.Cluster.Name != "prod" || c.Node.ID != 1 || len(c.Nodes) != 2 || len(c.Networks) != 2 {
		t.Fatalf("read back %+v", c)
	}
	if a := c.Nodes[0].Addresses["ring0"].String(); a != "::2" {
		t.Errorf("ring0 address of n1 read back as %q", a)
	}
	n := c.Networks[1]
	if !n.Lowpri || n.EtherType != 0x88B6 || n.Port != 7000 || c.Networks[0].MTU != 9000 {
		t.Errorf("networks read back %+v", c.Networks)
	}
	if c.Timers.Heartbeat != 200*time.Millisecond || c.Timers.PeerInact != 2*time.Second {
		t.Errorf("timers read back %+v", c.Timers)
	}
	if w := d.Warnings(); len(w) != 1 || w[0] != "a.conf:7: crypto_cipher: aes256 is not carried over" {
		t.Errorf("warnings %q", w)
	}
}
