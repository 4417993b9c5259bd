package config

import (
	"os"
	"path/filepath"
	"testing"
)

// The shipped example configurations are valid: an operator copies them.
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../../contrib/examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(data, f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
