package corosync

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tether-ha/tether/agent/config"
)

// addSeeds adds every testdata file to f's corpus.
func addSeeds(f *testing.F, args ...any) {
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]any{data}, args...)...)
	}
}

// The parser never panics, takes what it takes with consistent lines,
// and refuses the rest with a syntax error naming a line of the file.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, "c.conf")
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.Line > strings.Count(string(data), "\n")+1 || se.Msg == "" {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		var walk func(s *Section, after int)
		walk = func(s *Section, after int) {
			last := after
			for _, it := range s.Items {
				if it.Line <= last || it.Key == "" || len(s.Path)+len(it.Key)+1 >= maxPathLen {
					t.Fatalf("item %+v in %s after line %d", it, s.Path, last)
				}
				last = it.Line
				if it.Section != nil {
					if it.Section.End < it.Line || it.Section.Path != join(s.Path, it.Key) {
						t.Fatalf("section %+v", it.Section)
					}
					walk(it.Section, it.Line)
					last = it.Section.End
				}
			}
		}
		walk(file.Root, 0)
	})
}

// fuzzHost holds 10.0.<k>.1 on eth<k> and 127.0.0.1 on lo, so that fuzzed
// files find a local node too.
func fuzzHost(a netip.Addr) string {
	if a == netip.MustParseAddr("127.0.0.1") {
		return "lo"
	}
	if b := a.As16(); a.Is4() && b[12] == 10 && b[13] == 0 && b[15] == 1 {
		return "eth" + strconv.Itoa(int(b[14]))
	}
	return ""
}

// Whatever converts without an error is a configuration tether takes.
func FuzzConvert(f *testing.F) {
	addSeeds(f, "")
	addSeeds(f, "1")
	f.Add([]byte(nodelist(3, 0, 1)), "")
	f.Add([]byte("totem {\n token: 1\n}\n"+nodelist(2, 0)), "2")
	f.Fuzz(func(t *testing.T, data []byte, node string) {
		d, err := ParseAndConvert(data, "c.conf", Options{Node: node, InterfaceOf: fuzzHost, Hostname: "n1"})
		if err != nil {
			var ce *Error
			var se *SyntaxError
			if !errors.As(err, &ce) && !errors.As(err, &se) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		out := d.Render()
		cfg, err := config.Parse(out, "imported.yaml")
		if err != nil {
			t.Fatalf("the import does not parse: %v\n%s", err, out)
		}
		if cfg.Node.ID != d.NodeID || len(cfg.Nodes) != len(d.Nodes) || len(cfg.Networks) != len(d.Networks) {
			t.Fatalf("tether read another configuration than the draft's:\n%s", out)
		}
		for _, n := range d.Notes {
			if !strings.HasPrefix(n.Where, "c.conf") {
				t.Fatalf("note without the file: %+v", n)
			}
		}
	})
}
