package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tether-ha/tether/agent/migrate"
	"github.com/tether-ha/tether/replicator/logstore"
)

// maxImportFile bounds what the importers read of a file: llttab,
// llthosts and corosync.conf are a few KiB.
const maxImportFile = 1 << 20

// readImportFile reads path, refusing a file over maxImportFile (it is no
// what: "an LLT file", "a corosync.conf").
func readImportFile(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxImportFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxImportFile {
		return nil, fmt.Errorf("%s is larger than %d bytes: not %s", path, maxImportFile, what)
	}
	return data, nil
}

// writeDraft prints d's warnings and writes its configuration to out
// (replaced atomically) or, when out is "" or "-", to stdout. prefix
// starts the error messages.
func writeDraft(e *env, prefix string, d *migrate.Draft, out string) int {
	for _, w := range d.Warnings() {
		fmt.Fprintf(e.stderr, "tetherctl: warning: %s\n", w)
	}
	yaml := d.Render()
	var err error
	if out == "" || out == "-" {
		_, err = e.stdout.Write(yaml)
	} else {
		err = logstore.WriteFileAtomic(logstore.OSFS{}, filepath.Dir(out), filepath.Base(out), yaml)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "%swriting the configuration: %v\n", prefix, err)
		return exitError
	}
	return exitOK
}
