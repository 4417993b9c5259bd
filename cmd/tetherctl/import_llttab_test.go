package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tether-ha/tether/agent"
	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/migrate/llttab"
)

const (
	testLLTTab = `# a Linux node as the installer writes it
set-node galaxy
set-cluster 1042
link eth1 eth-00:04:23:AC:12:C4 - ether - -
link eth2 eth-00:04:23:AC:12:C5 - ether - -
set-timer peerinact:800
set-verbose 1
`
	testLLTHosts = "0 galaxy\n1 nebula\n"
)

// fakeHost is this host's NICs for the import.
func fakeHost() llttab.Options {
	return llttab.Options{
		InterfacesByMAC: func(mac net.HardwareAddr) ([]string, error) {
			return map[string][]string{"00:04:23:ac:12:c4": {"ens1f0"}, "00:04:23:ac:12:c5": {"ens1f1"}}[mac.String()], nil
		},
		InterfaceByIP: func(netip.Addr) (string, error) { return "", nil },
		ReadFile:      func(string) ([]byte, error) { return nil, errors.New("no file here") },
	}
}

// importFiles writes the two LLT files in a temporary directory and
// returns their paths.
func importFiles(t *testing.T, tab, hosts string) (dir, tabPath, hostsPath string) {
	t.Helper()
	dir = t.TempDir()
	tabPath, hostsPath = filepath.Join(dir, "llttab"), filepath.Join(dir, "llthosts")
	for p, s := range map[string]string{tabPath: tab, hostsPath: hosts} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, tabPath, hostsPath
}

func runImport(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = importLLTTab(&env{getenv: func(string) string { return "" }, stdout: &o, stderr: &e}, args, fakeHost())
	return code, o.String(), e.String()
}

func TestImportLLTTabToStdout(t *testing.T) {
	_, tab, hosts := importFiles(t, testLLTTab, testLLTHosts)
	code, out, errOut := runImport(tab, hosts)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	cfg, err := config.Parse([]byte(out), "stdout")
	if err != nil {
		t.Fatalf("the output is not a tether configuration: %v\n%s", err, out)
	}
	if cfg.Cluster.ID != 1042 || cfg.Node.Name != "galaxy" || len(cfg.Nodes) != 2 ||
		cfg.Networks[0].Interface != "ens1f0" || cfg.Networks[1].Interface != "ens1f1" ||
		cfg.Timers.PeerInact.Seconds() != 8 || cfg.Cluster.KeyFile != llttab.DefaultKeyFile {
		t.Errorf("imported %+v", cfg)
	}
	// Every note is a warning on stderr, and a comment of the output.
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	for _, l := range lines {
		w, ok := strings.CutPrefix(l, "tetherctl: warning: ")
		if !ok {
			t.Errorf("stderr line %q is not a warning", l)
		}
		if !strings.Contains(out, "#   "+w+"\n") {
			t.Errorf("warning %q is not in the output's comments", w)
		}
	}
	for _, want := range []string{tab + ":7: set-verbose 1: LLT's verbosity", "cluster.key_file: tether authenticates every frame"} {
		if !strings.Contains(errOut, "tetherctl: warning: "+want) {
			t.Errorf("no warning %q in\n%s", want, errOut)
		}
	}
}

// -o and --key-file, given after the files: the file written is what
// tetherd --check accepts with the key beside it.
func TestImportLLTTabToFile(t *testing.T) {
	dir, tab, hosts := importFiles(t, testLLTTab, testLLTHosts)
	key := filepath.Join(dir, "cluster.key")
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tether.yaml")
	if err := os.WriteFile(out, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, errOut := runImport(tab, hosts, "-o", out, "--key-file", key)
	if code != exitOK || stdout != "" {
		t.Fatalf("exit %d, stdout %q\n%s", code, stdout, errOut)
	}
	cfg, _, err := agent.Check(out)
	if err != nil {
		t.Fatalf("tetherd --check refuses the written file: %v", err)
	}
	if cfg.Cluster.KeyFile != key {
		t.Errorf("key file %s, want %s", cfg.Cluster.KeyFile, key)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("output mode %v (%v), want 0644", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("files left in %s: %v", dir, entries)
	}
}

// A file that cannot be converted: every problem with its file and line,
// exit 2, nothing written.
func TestImportLLTTabErrors(t *testing.T) {
	dir, tab, hosts := importFiles(t, "set-node west\nlink eth1 eth1 - ether - -\nlink eth1 eth2 - ether - -\n", testLLTHosts)
	out := filepath.Join(dir, "tether.yaml")
	code, stdout, errOut := runImport("-o", out, tab, hosts)
	if code != exitError || stdout != "" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	want := "tetherctl: " + tab + `:1: set-node west: unknown node name "west": ` + hosts + " names galaxy, nebula\n" +
		"tetherctl: " + tab + `:3: link tag "eth1" is given twice (first at line 2): each link needs its own tag` + "\n" +
		"tetherctl: nothing was written\n"
	if errOut != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s written: %v", out, err)
	}
}

func TestImportLLTTabUsage(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"/etc/llttab", "-h"}} {
		code, out, _ := tetherctl(append([]string{"import-llttab"}, args...)...)
		if code != exitOK || !strings.HasPrefix(out, "Usage: tetherctl import-llttab [-o FILE] [--key-file PATH] [LLTTAB [LLTHOSTS]]") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	_, tab, hosts := importFiles(t, testLLTTab, testLLTHosts)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{tab, hosts, "extra"}, `unexpected argument "extra": give LLTTAB and LLTHOSTS at most`},
		{[]string{"--bogus", tab}, "unknown option -bogus"},
		{[]string{"--key-file", "cluster.key", tab, hosts}, `--key-file "cluster.key": want an absolute path`},
		{[]string{tab, hosts, "-o"}, "flag needs an argument: -o"},
	} {
		code, out, errOut := runImport(tc.args...)
		if code != exitError || out != "" || !strings.Contains(errOut, "tetherctl: "+tc.want) || !strings.Contains(errOut, "Run 'tetherctl import-llttab -h' for usage.") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	code, _, errOut := runImport(filepath.Join(t.TempDir(), "none"), hosts)
	if code != exitError || !strings.Contains(errOut, "none: no such file or directory") {
		t.Errorf("a missing llttab: exit %d, %q", code, errOut)
	}
}

// Without arguments it reads LLT's own files.
func TestImportLLTTabDefaults(t *testing.T) {
	if _, err := os.Stat(llttab.DefaultLLTTab); err == nil {
		t.Skip(llttab.DefaultLLTTab + " exists on this host")
	}
	code, _, errOut := tetherctl("import-llttab")
	if code != exitError || errOut != "tetherctl: open "+llttab.DefaultLLTTab+": no such file or directory\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	_, _, hosts := importFiles(t, testLLTTab, testLLTHosts)
	if code, _, errOut := runImport(hosts); code != exitError || !strings.Contains(errOut, "open "+llttab.DefaultLLTHosts) && !strings.Contains(errOut, hosts+":1:") {
		t.Errorf("one argument: exit %d, stderr %q (want LLTHOSTS to default to %s)", code, errOut, llttab.DefaultLLTHosts)
	}
}

// The real look-ups, on this host's own interfaces.
func TestHostLookups(t *testing.T) {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifs {
		if len(ifi.HardwareAddr) != 6 || bytes.Equal(ifi.HardwareAddr, make([]byte, 6)) {
			continue
		}
		names, err := interfacesByMAC(ifi.HardwareAddr)
		if err != nil || !slices.Contains(names, ifi.Name) {
			t.Errorf("interfacesByMAC(%s) = %v, %v; want %s among them", ifi.HardwareAddr, names, err, ifi.Name)
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, _ := netip.AddrFromSlice(ipn.IP)
			if got, err := interfaceByIP(ip.Unmap()); err != nil || got != ifi.Name {
				t.Errorf("interfaceByIP(%s) = %q, %v; want %s", ip, got, err, ifi.Name)
			}
		}
	}
	if got, err := interfaceByIP(netip.MustParseAddr("127.0.0.1")); err != nil || got != "lo" {
		t.Errorf("interfaceByIP(127.0.0.1) = %q, %v; want lo", got, err)
	}
	if got, err := interfaceByIP(netip.MustParseAddr("198.51.100.253")); err != nil || got != "" {
		t.Errorf("interfaceByIP(an address of no interface) = %q, %v", got, err)
	}
	if got, err := interfacesByMAC(net.HardwareAddr{0x02, 0xde, 0xad, 0xbe, 0xef, 0x77}); err != nil || len(got) != 0 {
		t.Errorf("interfacesByMAC(a MAC of no interface) = %v, %v", got, err)
	}
}
