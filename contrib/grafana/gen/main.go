// Command gen writes tether's Grafana dashboard, contrib/grafana/tether.json,
// from the builder in package grafana: `go run ./contrib/grafana/gen` from
// anywhere in the repository (or `go generate ./contrib/grafana`).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tether-ha/tether/contrib/grafana"
)

func main() {
	out := flag.String("out", "", "file to write (default contrib/grafana/tether.json in the module containing the working directory)")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if out == "" {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		out = filepath.Join(root, "contrib", "grafana", "tether.json")
	}
	data, err := grafana.JSON()
	if err != nil {
		return err
	}
	return os.WriteFile(out, data, 0o644)
}

// moduleRoot finds go.mod upwards from the working directory, so the
// default path is right whether run from the repository root (go run) or
// from contrib/grafana (go generate).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; pass -out")
		}
		dir = parent
	}
}
