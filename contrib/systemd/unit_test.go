// Package systemd holds tetherd's systemd unit and the test that checks it
// with systemd's own analyzer.
package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tether-ha/tether/testbed"
)

const unit = "tetherd.service"

func analyzer(t *testing.T) string {
	t.Helper()
	return testbed.RequireTool(t, "systemd-analyze", "systemd")
}

var exposure = regexp.MustCompile(`Overall exposure level for tetherd\.service: ([0-9.]+)`)

// The unit's exposure, as `systemd-analyze security` rates it, is at most
// 2.0 ("OK"): it runs unprivileged but for CAP_NET_RAW, in a read-only
// system, with the syscalls and address families it needs.
func TestUnitSecurityExposure(t *testing.T) {
	out, err := exec.Command(analyzer(t), "security", "--offline=yes", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := exposure.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	if level > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0:\n%s", level, out)
	}
	t.Logf("exposure level %.1f", level)
}

// `systemd-analyze verify` finds nothing to say of the unit. It checks that
// the commands exist, so they point at this test's own executable (the
// package installs tetherd at /usr/sbin/tetherd); everything else is the
// unit as shipped. verify exits 0 on an unknown directive and only warns:
// any output is a failure.
func TestUnitVerifies(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "/usr/sbin/tetherd ") {
		t.Fatal("the unit does not run /usr/sbin/tetherd")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, unit)
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/usr/sbin/tetherd ", self+" ")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyzer(t), "verify", "--man=no", p).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// What the agent relies on is in the unit: readiness and the watchdog by
// sd_notify, the one capability, the address families of its channels.
func TestUnitDirectives(t *testing.T) {
	f, err := os.Open(unit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("not a directive: %q", line)
			continue
		}
		got[k] = append(got[k], v)
	}
	for k, want := range map[string]string{
		"Type":                    "notify",
		"NotifyAccess":            "main",
		"WatchdogSec":             "10s",
		"User":                    "tether",
		"AmbientCapabilities":     "CAP_NET_RAW",
		"CapabilityBoundingSet":   "CAP_NET_RAW",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET",
		"RuntimeDirectory":        "tether", // the status socket's directory (/run/tether)
		"Restart":                 "always",
	} {
		if v := got[k]; len(v) != 1 || v[0] != want {
			t.Errorf("%s=%v, want %s", k, v, want)
		}
	}
}
