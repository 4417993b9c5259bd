package testbed

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// writeFiles writes the cluster key and every node's config.
func (b *Bed) writeFiles() {
	b.t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		b.t.Fatalf("testbed: random key: %v", err)
	}
	if err := os.WriteFile(b.KeyPath(), []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		b.t.Fatalf("testbed: write key: %v", err)
	}
	for i := range b.nodes {
		doc := b.configDoc(i)
		if b.opt.EditConfig != nil {
			b.opt.EditConfig(i, doc)
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			b.t.Fatalf("testbed: node %d config: %v", i, err)
		}
		if err := os.WriteFile(b.ConfigPath(i), out, 0o644); err != nil {
			b.t.Fatalf("testbed: write node %d config: %v", i, err)
		}
	}
}

// configDoc is node i's tetherd config (DESIGN.md "Configuration").
func (b *Bed) configDoc(i int) map[string]any {
	nodes := make([]any, len(b.nodes))
	for j := range b.nodes {
		addrs := map[string]any{}
		for k, n := range b.opt.Networks {
			addrs[n.Name] = b.nodeAddr(k, j).String()
		}
		nodes[j] = map[string]any{"id": j, "name": fmt.Sprintf("node%d", j), "addresses": addrs}
	}
	nets := make([]any, len(b.opt.Networks))
	for k, n := range b.opt.Networks {
		m := map[string]any{"name": n.Name, "interface": ifaceName(k), "channels": n.Channels}
		if n.Lowpri {
			m["lowpri"] = true
		}
		if n.MTU > 0 {
			m["mtu"] = n.MTU
		}
		nets[k] = m
	}
	doc := map[string]any{
		"cluster":  map[string]any{"id": int(b.opt.ClusterID), "name": "tb", "key_file": b.KeyPath()},
		"node":     map[string]any{"id": i, "name": fmt.Sprintf("node%d", i)},
		"nodes":    nodes,
		"networks": nets,
		"status":   map[string]any{"socket": b.Socket(i)},
	}
	if len(b.opt.Timers) > 0 {
		tm := map[string]any{}
		for k, v := range b.opt.Timers {
			tm[k] = v
		}
		doc["timers"] = tm
	}
	return doc
}

// Build compiles tetherd and tetherstat of the module containing the
// current directory (found with `go env GOMOD`) into a new temporary
// directory, removed at t's cleanup, and returns it for Options.BinDir.
// Each call builds; share the result (see the package example).
func Build(t T) (binDir string) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("testbed: go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("testbed: Build: not inside a Go module (go env GOMOD = %q)", gomod)
	}
	return build(t, filepath.Dir(gomod), "./cmd/tetherd", "./cmd/tetherstat")
}

// build runs `go build -o <tmp>/ pkgs...` in dir.
func build(t T, dir string, pkgs ...string) string {
	t.Helper()
	bin, err := os.MkdirTemp("", "tbbin")
	if err != nil {
		t.Fatalf("testbed: temp dir: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(bin); err != nil {
			t.Logf("testbed: remove %s: %v", bin, err)
		}
	})
	args := append([]string{"build", "-o", bin + "/"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testbed: go %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return bin
}
