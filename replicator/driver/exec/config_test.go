package exec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-exec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good, _ := fakeConfig(t)
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no resource", func(c *Config) { c.Resource = "" }, "exec driver: resource is required"},
		{"no self", func(c *Config) { c.Self = "" }, "exec driver: self is required"},
		{"NUL in self", func(c *Config) { c.Self = "a\x00" }, "self contains a NUL byte"},
		{"no status", func(c *Config) { c.Status = nil }, "exec driver: hook status: is required"},
		{"no follow", func(c *Config) { c.Follow = []string{} }, "exec driver: hook follow: is required"},
		{"relative", func(c *Config) { c.Promote = []string{"bin/promote"} }, `hook promote: "bin/promote" is not an absolute path`},
		{"bare name", func(c *Config) { c.Promote = []string{"sh"} }, `hook promote: "sh" is not an absolute path`},
		{"missing", func(c *Config) { c.Fence = []string{"/nonexistent/fence"} }, "hook fence: stat /nonexistent/fence: no such file or directory"},
		{"directory", func(c *Config) { c.Unfence = []string{dir} }, "hook unfence: " + dir + " is not a regular file"},
		{"not executable", func(c *Config) { c.Follow = []string{notExec} }, "hook follow: " + notExec + " is not executable"},
		{"NUL in arg", func(c *Config) { c.Status = []string{"/bin/sh", "a\x00b"} }, "hook status: argument"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout must be positive"},
		{"env without =", func(c *Config) { c.Env = []string{"FOO"} }, `env[0] "FOO": want KEY=VALUE`},
		{"env without key", func(c *Config) { c.Env = []string{"=x"} }, `env[0] "=x": want KEY=VALUE`},
		{"reserved env", func(c *Config) { c.Env = []string{"A=1", "TETHER_NODE=b"} }, "env[1]: TETHER_NODE: the TETHER_ prefix is the driver's own"},
		{"missing dir", func(c *Config) { c.Dir = "/nonexistent" }, "dir: stat /nonexistent"},
		{"dir a file", func(c *Config) { c.Dir = notExec }, "dir " + notExec + " is not a directory"},
	} {
		c := good
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}

	// Every problem is named, not just the first.
	err := Config{}.Validate()
	for _, want := range []string{"resource", "self", "hook status", "hook promote", "hook fence", "hook unfence", "hook follow"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty config: Validate = %v, want it to name %s", err, want)
		}
	}
}
