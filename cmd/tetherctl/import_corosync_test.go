package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-ha/tether/agent"
	"github.com/tether-ha/tether/agent/config"
)

// twoNodes is a corosync.conf whose node1 is on this host's loopback (on
// every Linux host, found through netlink) and node2 on a documentation
// address no host has.
const twoNodes = `totem {
	version: 2
	cluster_name: ctltest
	crypto_cipher: aes256
	crypto_hash: sha256
}
nodelist {
	node {
		nodeid: 1
		name: node1
		ring0_addr: 127.0.0.1
	}
	node {
		nodeid: 2
		name: node2
		ring0_addr: 192.0.2.50
	}
}
quorum {
	provider: corosync_votequorum
	two_node: 1
}
`

func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "corosync.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImportCorosyncHelp(t *testing.T) {
	for _, args := range [][]string{{"import-corosync", "-h"}, {"import-corosync", "--help"}, {"import-corosync", "x.conf", "-h"}} {
		code, out, errOut := tetherctl(args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: tetherctl import-corosync [options] [COROSYNC.CONF]") ||
			!strings.Contains(out, "--cluster-id N") || !strings.Contains(out, "/etc/tether/cluster.key") || errOut != "" {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}

func TestImportCorosyncUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"a.conf", "b.conf"}, `unexpected argument "b.conf"`},
		{[]string{"--cluster-id", "65536"}, `--cluster-id "65536": want a number from 0 to 65535`},
		{[]string{"--cluster-id", "-1"}, `--cluster-id "-1"`},
		{[]string{"--key-file", "cluster.key"}, `--key-file "cluster.key": want an absolute path`},
		{[]string{"--node="}, "--node needs a node name or id"},
		{[]string{"-o", ""}, "-o needs a file name"},
		{[]string{"--bogus"}, "unknown option -bogus"},
	} {
		code, out, errOut := tetherctl(append([]string{"import-corosync"}, tc.args...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "tetherctl import-corosync -h") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

func TestImportCorosyncRefusals(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.conf")
	syntax := writeConf(t, "totem {\n  token = 3000\n}\n")
	noNodes := writeConf(t, "totem {\n  version: 2\n}\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{missing}, "tetherctl: import-corosync: open " + missing + ": no such file or directory"},
		{[]string{syntax}, "tetherctl: import-corosync: " + syntax + ":2: Line is not opening or closing section or key value"},
		{[]string{noNodes}, "tetherctl: import-corosync: " + noNodes + ": no nodelist { } section"},
		{[]string{writeConf(t, strings.Replace(twoNodes, "127.0.0.1", "192.0.2.49", 1))}, "pass --node NAME|ID"},
		{[]string{writeConf(t, twoNodes), "--node", "node7"}, "--node node7: no such node in the nodelist (nodes: node1 (id 1), node2 (id 2))"},
	} {
		code, out, errOut := tetherctl(append([]string{"import-corosync"}, tc.args...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// Without --node the import finds this host's node and its interface
// through netlink (127.0.0.1 is on lo).
func TestImportCorosyncToStdout(t *testing.T) {
	conf := writeConf(t, twoNodes)
	code, out, errOut := tetherctl("import-corosync", conf)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	cfg, err := config.Parse([]byte(out), "")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if cfg.Node.ID != 1 || cfg.Networks[0].Interface != "lo" || cfg.Cluster.Name != "ctltest" || cfg.Cluster.KeyFile != "/etc/tether/cluster.key" ||
		cfg.Timers.Heartbeat.Milliseconds() != 750 || cfg.Timers.PeerInact.Milliseconds() != 1500 {
		t.Errorf("imported %+v %+v %+v %+v\n%s", cfg.Cluster, cfg.Node, cfg.Networks, cfg.Timers, out)
	}
	// Every note is a warning on stderr, naming the file and line.
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	comments := strings.Count(out, "\n#   ")
	if len(lines) != comments || comments < 4 {
		t.Errorf("%d warnings for %d notes:\n%s", len(lines), comments, errOut)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "tetherctl: warning: "+conf) {
			t.Errorf("warning %q", l)
		}
	}
	for _, want := range []string{conf + ":4: corosync's crypto crypto_cipher aes256", conf + ":19: votequorum", "two nodes need a third vote"} {
		if !strings.Contains(errOut, want) || !strings.Contains(out, want) {
			t.Errorf("no %q in the warnings and the output", want)
		}
	}
}

// -o writes the file; --node, --cluster-id and --key-file are honoured,
// and the result passes what tetherd --check runs.
func TestImportCorosyncToFile(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "cluster.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tether.yaml")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, errOut := tetherctl("import-corosync", writeConf(t, twoNodes), "--node", "node2", "--cluster-id", "77", "--key-file", key, "-o", out)
	if code != 0 || stdout != "" || !strings.Contains(errOut, "tetherctl: warning: ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	cfg, _, err := agent.Check(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.ID != 77 || cfg.Node.ID != 2 || cfg.Node.Name != "node2" || cfg.Networks[0].Interface != "CHANGEME0" || cfg.Cluster.KeyFile != key {
		t.Errorf("imported %+v %+v %+v", cfg.Cluster, cfg.Node, cfg.Networks)
	}
	if strings.Contains(errOut, "cluster.id") {
		t.Errorf("a derived cluster id is reported with --cluster-id: %s", errOut)
	}
	if !strings.Contains(errOut, "wrote the placeholder interface CHANGEME0") {
		t.Errorf("no warning about the placeholder interface: %s", errOut)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tether.yaml.tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
