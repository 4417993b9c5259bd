package testbed

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEventLogIncremental(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n0.log")
	write := func(s string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	var l eventLog
	if evs, err := l.refresh(path, 4); err != nil || len(evs) != 0 {
		t.Fatalf("missing log: %v %v", evs, err)
	}
	write(runMarker + "1 of node4 at x: ip netns exec\n")
	write(`{"time":"2025-01-02T03:04:05.123456789Z","level":"INFO","msg":"link down","event":"link.down","network":"hb0","peer_id":2,"up":false,"g":{"a":1}}` + "\n")
	write("panic: not json\n")
	write(`{"time":"2025-01-02T03:04:06Z","level":"WARN","msg":"half`) // incomplete line
	evs, err := l.refresh(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1: %+v", len(evs), evs)
	}
	e := evs[0]
	if e.Node != 4 || e.Run != 1 || e.ID != "link.down" || e.Msg != "link down" || e.Level != "INFO" ||
		!e.Time.Equal(time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)) {
		t.Errorf("event %+v", e)
	}
	if e.Str("network") != "hb0" || e.Str("peer_id") != "2" || e.Str("up") != "false" || e.Str("g") != `{"a":1}` || e.Str("none") != "" {
		t.Errorf("Str: %s", e)
	}
	if n, ok := e.Int("peer_id"); !ok || n != 2 {
		t.Errorf("Int(peer_id) = %d, %v", n, ok)
	}
	if _, ok := e.Int("network"); ok {
		t.Error("Int of a non-number succeeded")
	}
	if f, ok := e.Float("peer_id"); !ok || f != 2 {
		t.Errorf("Float(peer_id) = %v, %v", f, ok)
	}
	if _, ok := e.Float("network"); ok {
		t.Error("Float of a non-number succeeded")
	}
	if _, ok := e.Attrs["event"]; ok {
		t.Error("Attrs repeats the event id")
	}

	write(` line"}` + "\n" + runMarker + "2 of node4 at y\n" + `{"time":"2025-01-02T03:04:07Z","level":"INFO","msg":"up","event":"agent.start"}` + "\n")
	evs, err = l.refresh(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, e := range evs {
		got = append(got, e.Msg+"/"+e.ID+"/"+string(rune('0'+e.Run)))
	}
	want := []string{"link down/link.down/1", "half line//1", "up/agent.start/2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestTail(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\n", 5, "a\nb\n"},
		{"", 3, ""},
		{"a\n", 0, ""},
	} {
		if got := tail(c.in, c.n); got != c.want {
			t.Errorf("tail(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestNFTTables(t *testing.T) {
	rs := `
table netdev drop0 {
	chain egress { type filter hook egress device "eth1" priority 0; drop }
}
add table inet tcpblock
table plain { }
table netdev drop0 { }
delete table ip other
`
	got := nftTables(rs)
	want := []string{"netdev drop0", "inet tcpblock", "ip plain"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}
}

func TestNormalize(t *testing.T) {
	o, err := normalize(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Nodes != 3 || o.ClusterID != 7 || len(o.Networks) != 2 || o.Networks[1].Name != "hb1" || o.Networks[0].Channels[0] != "ether" {
		t.Errorf("defaults: %+v", o)
	}
	for _, bad := range []Options{
		{Nodes: MaxNodes + 1},
		{Networks: []NetworkSpec{{Name: "HB0"}}},
		{Networks: []NetworkSpec{{Name: "hb0"}, {Name: "hb0"}}},
		{Networks: []NetworkSpec{{Name: "averyverylongname"}}},
		{Networks: []NetworkSpec{{Name: "hb0", MTU: 20}}},
	} {
		if _, err := normalize(bad); err == nil {
			t.Errorf("normalize(%+v) accepted", bad)
		}
	}
}

func TestNormalizeRouted(t *testing.T) {
	o, err := normalize(Options{Networks: []NetworkSpec{{Name: "hb0"}, {Name: "wan", Routed: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"tcp"}, o.Networks[1].Channels); diff != "" {
		t.Errorf("routed default channels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ether"}, o.Networks[0].Channels); diff != "" {
		t.Errorf("bridged default channels (-want +got):\n%s", diff)
	}
	_, err = normalize(Options{Networks: []NetworkSpec{{Name: "wan", Routed: true, Channels: []string{"tcp", "ether"}}}})
	if err == nil || !strings.Contains(err.Error(), `"wan"`) || !strings.Contains(err.Error(), "ether") {
		t.Errorf("routed network with the ether channel: %v", err)
	}
	many := make([]NetworkSpec, maxRoutedIndex+2)
	for k := range many {
		many[k] = NetworkSpec{Name: fmt.Sprintf("n%d", k)}
	}
	many[maxRoutedIndex].Routed = true
	if _, err := normalize(Options{Nodes: 1, Networks: many}); err != nil {
		t.Errorf("routed network at index %d: %v", maxRoutedIndex, err)
	}
	many[maxRoutedIndex+1].Routed = true
	if _, err := normalize(Options{Nodes: 1, Networks: many}); err == nil {
		t.Errorf("routed network at index %d accepted: its addresses do not fit", maxRoutedIndex+1)
	}
}

func TestBuild(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	mod := t.TempDir()
	files := map[string]string{
		"go.mod":              "module example.com/fake\n\ngo 1.22\n",
		"cmd/tetherd/m.go":    "package main\nfunc main() {}\n",
		"cmd/other/m.go":      "package main\nfunc main() {}\n",
		"cmd/broken/m.go":     "package main\nfunc main() { undefined() }\n",
		"cmd/tetherstat/m.go": "package main\nfunc main() {}\n",
	}
	for name, body := range files {
		p := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var bin string
	t.Run("ok", func(t *testing.T) {
		bin = build(t, mod, "./cmd/tetherd", "./cmd/tetherstat")
		for _, exe := range []string{"tetherd", "tetherstat"} {
			if fi, err := os.Stat(filepath.Join(bin, exe)); err != nil || fi.Mode()&0o111 == 0 {
				t.Errorf("%s not built: %v", exe, err)
			}
		}
	})
	if _, err := os.Stat(bin); !os.IsNotExist(err) {
		t.Errorf("bin dir %s not removed at cleanup: %v", bin, err)
	}
	var out bytes.Buffer
	code := runMain(func(mt T) { build(mt, mod, "./cmd/broken") }, &out, nil)
	if code != ExitFailed || !strings.Contains(out.String(), "undefined") {
		t.Errorf("broken build: code %d, output:\n%s", code, out.String())
	}
}
