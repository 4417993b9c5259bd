package failover

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Reasons holds every Reason* constant of the package, each once: the
// metrics' decision state set is built from it, and a reason missing
// there would be a decision no series shows.
func TestReasonsComplete(t *testing.T) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var consts []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, "Reason") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Errorf("%s is not a string literal", n.Name)
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					consts = append(consts, v)
				}
			}
		}
	}
	if len(consts) < 10 {
		t.Fatalf("found only %d Reason* constants: %v", len(consts), consts)
	}
	got := slices.Sorted(slices.Values(Reasons))
	if len(slices.Compact(slices.Clone(got))) != len(Reasons) {
		t.Errorf("Reasons has duplicates: %v", Reasons)
	}
	slices.Sort(consts)
	if !slices.Equal(got, consts) {
		t.Errorf("Reasons %v, the Reason* constants %v", got, consts)
	}
}

// Every decision Decide returns has a reason of Reasons.
func TestDecisionsUseReasons(t *testing.T) {
	cfg := Config{Auto: true}
	for _, in := range []Inputs{
		{},
		{IsMirror: true},
		{IsMirror: true, Primary: Primary{State: NodeOpen}},
		{IsMirror: true, Primary: Primary{State: NodePartitioned}},
		{IsMirror: true, Primary: Primary{State: NodeDown}},
	} {
		if d := Decide(cfg, in); !slices.Contains(Reasons, d.Reason) {
			t.Errorf("Decide(%+v) = %q, not in Reasons", in, d.Reason)
		}
	}
}
