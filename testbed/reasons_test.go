package testbed

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestSwapPorts(t *testing.T) {
	b := newBed(t)
	n0hb0, n0hb1 := nodeTap(t, b, 0, "hb0"), nodeTap(t, b, 0, "hb1")
	n1hb0, n1hb1 := nodeTap(t, b, 1, "hb0"), nodeTap(t, b, 1, "hb1")

	f := b.SwapPorts(1, "hb0", "hb1")
	tok := newToken(t)
	n1hb0.mustSend(t, tok, 64)
	n0hb1.expect(t, tok, "node1's hb0 frame on node0's hb1 after the swap")
	n0hb0.expectNone(t, tok, "node1's hb0 frame on hb0 after the swap")
	tok = newToken(t)
	n1hb1.mustSend(t, tok, 64)
	n0hb0.expect(t, tok, "node1's hb1 frame on node0's hb0 after the swap")
	n0hb1.expectNone(t, tok, "node1's hb1 frame on hb1 after the swap")

	f.Undo()
	for _, c := range []struct{ from, to, other *tap }{{n1hb0, n0hb0, n0hb1}, {n1hb1, n0hb1, n0hb0}} {
		tok = newToken(t)
		c.from.mustSend(t, tok, 64)
		c.to.expect(t, tok, "on its own network after undo")
		c.other.expectNone(t, tok, "on the other network after undo")
	}
}

func TestNICSilent(t *testing.T) {
	b := newBed(t)
	n0, n1, n2 := nodeTap(t, b, 0, "hb1"), nodeTap(t, b, 1, "hb1"), nodeTap(t, b, 2, "hb1")
	f := b.NICSilent(0, "hb1")
	if a := link(t, b.nodes[0].ns, "eth2"); a.OperState.String() != "up" {
		t.Errorf("a silent NIC lost its carrier: oper %v", a.OperState)
	}
	out := newToken(t)
	_ = n0.send(t, out, 64) // ENOBUFS expected
	in := newToken(t)
	n1.mustSend(t, in, 64)
	n2.expect(t, in, "control: node1 reaches node2")
	n1.expectNone(t, out, "node0's frame from a silent NIC")
	// The tap is an EtherType-bound socket, like tetherd's: the ingress
	// drop hides the frame from it.
	n0.expectNone(t, in, "a frame into a silent NIC")

	f.Undo()
	out = newToken(t)
	n0.mustSend(t, out, 64)
	n1.expect(t, out, "node0 -> node1 after undo")
	in = newToken(t)
	n1.mustSend(t, in, 64)
	n0.expect(t, in, "node1 -> node0 after undo")
	if rules, err := b.Exec(b.NodeNS(0), "nft", "list", "ruleset"); err != nil || strings.Contains(rules, "table") {
		t.Errorf("nft ruleset after undo: %q %v", rules, err)
	}
}

func TestHostAgent(t *testing.T) {
	RequireRoot(t)
	b := New(t, Options{BinDir: fakeBinDir(t)})
	h := b.AddHost("x")
	doc := h.AgentConfig(5)
	if n := doc["node"].(map[string]any); n["id"] != 5 || n["name"] != "hostx" {
		t.Errorf("node %v, want id 5 named hostx", n)
	}
	if nets := doc["networks"].([]any); len(nets) != 2 || nets[0].(map[string]any)["interface"] != "eth1" {
		t.Errorf("networks %v", nets)
	}
	if d := h.AgentConfig(1)["node"].(map[string]any); d["name"] != "node1" {
		t.Errorf("an id of the node table keeps its name: %v", d)
	}
	key := b.WriteKey("other.key")
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file %s: %v %v", key, fi, err)
	}

	a := h.StartAgent(doc)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if evs := a.Events(); len(evs) > 0 && evs[0].ID == "agent.start" {
			if ns := evs[0].Str("ns"); ns != h.NS {
				t.Errorf("the agent runs in %q, want the host's %q", ns, h.NS)
			}
			if !strings.Contains(evs[0].Str("args"), a.ConfigPath()) {
				t.Errorf("args %q do not name the config %s", evs[0].Str("args"), a.ConfigPath())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no agent.start:\n%s", a.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	data, err := os.ReadFile(a.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := yaml.Unmarshal(data, &back); err != nil || back["status"].(map[string]any)["socket"] != a.Socket() {
		t.Errorf("config written: %v %v", back, err)
	}
	if !a.Running() {
		t.Fatal("not running")
	}
	if err := a.Stop(); err != nil || a.ExitCode() != 0 {
		t.Errorf("stop: %v, exit %d", err, a.ExitCode())
	}
}
