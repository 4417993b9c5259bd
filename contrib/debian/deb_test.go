// Package debian holds the Debian packaging (make deb) and the test that
// builds the package and checks it with dpkg-deb and lintian.
package debian

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tether-ha/tether/testbed"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// make deb builds a package that dpkg-deb describes as expected, lintian
// finds no error in, and whose unpacked tetherd checks its unpacked
// example configuration.
func TestDebianPackage(t *testing.T) {
	for _, tool := range [][2]string{{"make", "make"}, {"dpkg-deb", "dpkg"}, {"lintian", "lintian"}, {"objdump", "binutils"}} {
		testbed.RequireTool(t, tool[0], tool[1])
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	run(t, "make", "-C", root, "--no-print-directory", "deb", "BIN="+filepath.Join(dir, "bin"), "DEBDIR="+dir, "DEBVERSION=0.0.0+test")
	debs, _ := filepath.Glob(filepath.Join(dir, "tether_0.0.0+test_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %v", debs)
	}
	deb := debs[0]

	info := run(t, "dpkg-deb", "--info", deb)
	for _, want := range []string{"Package: tether", "Version: 0.0.0+test", "Depends: libc6 (>= 2.", "adduser",
		" postinst", " prerm", " postrm", " conffiles"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	if got := strings.TrimSpace(run(t, "dpkg-deb", "--ctrl-tarfile", deb)); got == "" {
		t.Error("empty control archive")
	}
	contents := run(t, "dpkg-deb", "--contents", deb)
	for _, want := range []string{"./usr/sbin/tetherd", "./usr/bin/tetherstat", "./usr/bin/tetherctl",
		"./lib/systemd/system/tetherd.service", "./etc/tether/tether.yaml", "./usr/share/doc/tether/copyright",
		"./usr/share/doc/tether/changelog.gz", "./usr/share/tether/wireshark/tether.lua",
		"./usr/share/tether/prometheus/tether.rules.yml", "./usr/share/tether/grafana/tether.json", "./usr/share/doc/tether/METRICS.md.gz"} {
		if !regexp.MustCompile(`root/root .* ` + regexp.QuoteMeta(want) + `\n`).MatchString(contents) {
			t.Errorf("package lacks %s (owned by root):\n%s", want, contents)
		}
	}

	lint, err := exec.Command("lintian", "--tag-display-limit", "0", deb).CombinedOutput()
	t.Logf("lintian:\n%s", lint)
	if err != nil {
		t.Errorf("lintian: %v", err)
	}
	for _, l := range strings.Split(string(lint), "\n") {
		if strings.HasPrefix(l, "E: ") {
			t.Errorf("lintian error: %s", l)
		}
	}

	x := filepath.Join(dir, "x")
	run(t, "dpkg-deb", "-x", deb, x)
	if v := run(t, filepath.Join(x, "usr/sbin/tetherd"), "--version"); !strings.Contains(v, "tetherd") {
		t.Errorf("tetherd --version: %q", v)
	}
	// The example config names /etc/tether/cluster.key, which the package
	// does not ship (every cluster makes its own): point it at one.
	conf, err := os.ReadFile(filepath.Join(x, "etc/tether/tether.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "cluster.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "/etc/tether/cluster.key") {
		t.Fatal("the example config no longer names /etc/tether/cluster.key")
	}
	cfg := filepath.Join(dir, "tether.yaml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(string(conf), "/etc/tether/cluster.key", key)), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, filepath.Join(x, "usr/sbin/tetherd"), "--config", cfg, "--check")

	// The maintainer scripts are valid sh; postinst creates the user and
	// enables the unit without starting it (the key and the node line
	// must be set up first).
	post, err := os.ReadFile("postinst")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		run(t, "sh", "-n", s)
	}
	if p := string(post); !strings.Contains(p, "adduser --system --group") || !strings.Contains(p, "deb-systemd-helper enable tetherd.service") {
		t.Errorf("postinst must create the user and enable the unit:\n%s", p)
	}
	for _, l := range strings.Split(string(post), "\n") {
		if l = strings.TrimSpace(l); !strings.HasPrefix(l, "#") && strings.Contains(l, "start") {
			t.Errorf("postinst starts something: %q", l)
		}
	}
}
