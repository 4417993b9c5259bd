package testbed

import (
	"os"
	"os/exec"
)

// T is the subset of testing.TB the bed needs; *testing.T and *testing.B
// satisfy it, and Main provides one for programs that are not tests.
type T interface {
	Helper()
	Logf(format string, args ...any)
	// Fatalf logs, marks the run failed and ends the calling goroutine
	// (runtime.Goexit); registered cleanups still run.
	Fatalf(format string, args ...any)
	// Skipf logs and ends the calling goroutine without failing.
	Skipf(format string, args ...any)
	// Cleanup registers f to run when the test (or Main's function) ends,
	// last registered first.
	Cleanup(f func())
	// Failed reports whether the run has failed so far. The bed uses it
	// to dump node logs at cleanup.
	Failed() bool
}

// RequireRoot ends t unless the bed can run here: effective uid 0 and the
// ip(8) command present. Outside CI it skips, so `go test ./...` as a user
// passes; in CI (environment CI=true) it fails, because there end-to-end
// tests must run.
func RequireRoot(t T) {
	t.Helper()
	stop := t.Skipf
	if os.Getenv("CI") == "true" {
		stop = t.Fatalf
	}
	if os.Geteuid() != 0 {
		stop("end-to-end tests need root and network namespaces; run as root")
		return
	}
	if _, err := exec.LookPath("ip"); err != nil {
		stop("end-to-end tests need ip(8) from iproute2 (apt-get install iproute2): %v", err)
	}
}

// RequireTool returns the path of a command a test needs, or ends t: it
// skips outside CI, and fails in CI (environment CI=true), where .ci/deps
// must have installed pkg.
func RequireTool(t T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		stop := t.Skipf
		if os.Getenv("CI") == "true" {
			stop = t.Fatalf
		}
		stop("%s not installed (apt-get install %s; .ci/deps installs it)", name, pkg)
	}
	return path
}
