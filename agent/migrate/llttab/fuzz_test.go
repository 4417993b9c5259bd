package llttab_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/migrate/llttab"
)

// fuzzOptions are look-ups that answer for some inputs and not others, so
// that both the resolved and the placeholder paths are fuzzed.
func fuzzOptions() llttab.Options {
	return llttab.Options{
		LLTTabFile: "llttab", LLTHostsFile: "llthosts", KeyFile: "/k",
		InterfacesByMAC: func(mac net.HardwareAddr) ([]string, error) {
			switch mac[5] % 3 {
			case 0:
				return nil, nil
			case 1:
				return []string{fmt.Sprintf("m%x", mac[5])}, nil
			}
			return []string{fmt.Sprintf("m%x", mac[5]), "bond0"}, nil
		},
		InterfaceByIP: func(ip netip.Addr) (string, error) {
			if b := ip.As16(); b[15]%2 == 0 {
				return fmt.Sprintf("i%x", b[15]), nil
			}
			return "", nil
		},
		ReadFile: func(path string) ([]byte, error) {
			if strings.HasSuffix(path, "x") {
				return nil, os.ErrNotExist
			}
			return []byte("node1\n"), nil
		},
	}
}

// FuzzImport feeds llttab and llthosts pairs (seeded with every testdata
// pair): no panic, every failure is an *Error naming one of the two files,
// and every configuration produced passes tether's own config.Parse.
func FuzzImport(f *testing.F) {
	tabs, err := filepath.Glob(filepath.Join("testdata", "*.llttab"))
	if err != nil || len(tabs) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, p := range tabs {
		tab, hosts := testdata(f, strings.TrimSuffix(filepath.Base(p), ".llttab"))
		f.Add(tab, hosts)
	}
	f.Add([]byte("set-node 0\nlink a eth-00:00:00:00:00:01 - ether - -\nlink b /dev/udp 0-1 udp - - 10.0.0.2 10.0.0.255\nset-addr 1 b 10.0.0.3\nset-timer peerinact:1\n"), []byte("0 n0\n1 n1\n"))
	f.Fuzz(func(t *testing.T, tab, hosts []byte) {
		d, err := llttab.Import(tab, hosts, fuzzOptions())
		if err != nil {
			if errors.Is(err, llttab.ErrInvalidOutput) {
				t.Fatalf("the importer produced a configuration tether refuses: %v\nllttab:\n%s\nllthosts:\n%s", err, tab, hosts)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "llttab") && !strings.HasPrefix(line, "llthosts") {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			var e *llttab.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not an *llttab.Error", err)
			}
			return
		}
		cfg, err := config.Parse(d.Render(), "imported.yaml")
		if err != nil {
			t.Fatalf("config.Parse refuses the import: %v\n%s", err, d.Render())
		}
		if cfg.Node.ID != d.NodeID || len(cfg.Networks) != len(d.Networks) || len(cfg.Nodes) != len(d.Nodes) {
			t.Fatalf("tether reads node %d, %d networks, %d nodes; the Draft has %d, %d, %d",
				cfg.Node.ID, len(cfg.Networks), len(cfg.Nodes), d.NodeID, len(d.Networks), len(d.Nodes))
		}
		for _, w := range d.Warnings() {
			if w == "" || strings.Contains(w, "\n") {
				t.Fatalf("warning %q is not one line", w)
			}
		}
	})
}
