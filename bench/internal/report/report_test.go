package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	tab := Table{Title: "T", Head: []string{"a", "b"}, Rows: [][]string{{"1", "2"}}, Notes: []string{"note"}}
	if err := Write(dir, "x", "Heading", map[string]int{"n": 3}, []Table{tab}); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "x.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "# Heading\n\n### T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nnote\n\n"; string(md) != want {
		t.Fatalf("x.md =\n%q\nwant\n%q", md, want)
	}
	js, err := os.ReadFile(filepath.Join(dir, "x.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]int
	if err := json.Unmarshal(js, &back); err != nil || back["n"] != 3 {
		t.Fatalf("x.json = %s (%v), want n 3", js, err)
	}
	var txt bytes.Buffer
	Print(&txt, []Table{tab})
	if !strings.Contains(txt.String(), "== T\na  b\n1  2\nnote\n") {
		t.Fatalf("Print =\n%s", txt.String())
	}
}
