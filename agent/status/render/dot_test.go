package render

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/tether-ha/tether/testbed"
)

var dotEdge = regexp.MustCompile(`(?m)^\t(n\d+) -- (n\d+) \[(.*)\];$`)

// One edge per pair of nodes and network, in the worse state of the two
// ends' views, labelled with the reasons (once when both ends agree, each
// end's own when not); unknown links grey and dashed; the local node
// drawn heavier.
func TestDot(t *testing.T) {
	var b bytes.Buffer
	if err := Dot(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	edges := map[string]string{}
	for _, m := range dotEdge.FindAllStringSubmatch(out, -1) {
		net := strings.Fields(strings.TrimPrefix(m[3], `label="`))[0]
		k := m[1] + "-" + m[2] + " " + net
		if _, dup := edges[k]; dup {
			t.Errorf("two edges %s", k)
		}
		edges[k] = m[3]
	}
	if len(edges) != 10*2 { // 5 nodes: 10 pairs, 2 networks
		t.Errorf("%d edges, want 20:\n%s", len(edges), out)
	}
	for k, want := range map[string]string{
		"n1-n2 hb0": `label="hb0 DOWN\nnode1: one-way-out\nnode2: one-way-in", color="#c62828", fontcolor="#c62828", penwidth=2, style=bold`,
		"n0-n1 hb1": `label="hb1 TROUBLE\nlossy", color="#ef6c00", fontcolor="#ef6c00", penwidth=2`,
		"n0-n1 hb0": `label="hb0 UP", color="#2e7d32", fontcolor="#2e7d32"`,
		"n0-n2 hb1": `label="hb1 DOWN\nnode0: peer-silent\nnode2: carrier-lost", color="#c62828", fontcolor="#c62828", penwidth=2`,
		"n0-n3 hb0": `label="hb0 ?", color="gray60", fontcolor="gray40", style=dashed`,
	} {
		if edges[k] != want {
			t.Errorf("edge %s:\n got [%s]\nwant [%s]", k, edges[k], want)
		}
	}
	if !strings.Contains(out, "\tn0 [label=\"node0\\nOPEN\", fillcolor=\"#c8e6c9\", penwidth=3];\n") {
		t.Errorf("local node not drawn as such:\n%s", out)
	}
	if got := dotQuote("a \"b\" \\ c\nd"); got != `"a \"b\" \\ c\nd"` {
		t.Errorf("dotQuote = %s", got)
	}
}

// Graphviz renders it (the README's tetherstat --dot | dot -Tsvg).
func TestDotRendersWithGraphviz(t *testing.T) {
	bin := testbed.RequireTool(t, "dot", "graphviz")
	var b bytes.Buffer
	if err := Dot(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-Tsvg")
	cmd.Stdin = &b
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	svg, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("dot -Tsvg: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"<svg", "node4", "one&#45;way&#45;out", "carrier&#45;lost"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
}
