package exec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults for the Config fields left zero.
const (
	DefaultTimeout = 10 * time.Second
	DefaultLagUnit = "records"
)

// Config is one resource's exec driver on this node.
type Config struct {
	Resource string // the resource's name, for the hooks ($TETHER_RESOURCE)
	Self     string // this node's name ($TETHER_NODE)

	// The argv of each hook (see the package doc); all required.
	Status, Promote, Fence, Unfence, Follow []string

	Timeout time.Duration // per hook run; 0 means DefaultTimeout
	Env     []string      // extra KEY=VALUE for every hook; no TETHER_ keys
	LagUnit string        // Status.Lag's unit; "" means DefaultLagUnit
	Dir     string        // the hooks' working directory; "" means the agent's
}

// envPrefix is reserved for the variables the driver sets, so a hook can
// trust that every TETHER_ variable it sees comes from this run.
const envPrefix = "TETHER_"

// hooks lists the hooks by action name, in the package doc's order.
func (c Config) hooks() []struct {
	name string
	argv []string
} {
	return []struct {
		name string
		argv []string
	}{
		{actStatus, c.Status}, {actPromote, c.Promote}, {actFence, c.Fence},
		{actUnfence, c.Unfence}, {actFollow, c.Follow},
	}
}

// Validate checks c, naming every problem it finds. It looks at the hooks'
// files too, so it says at configuration time what the first failover
// would otherwise find out.
func (c Config) Validate() error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf("exec driver: "+format, a...)) }
	for _, f := range []struct{ name, v string }{{"resource", c.Resource}, {"self", c.Self}} {
		switch {
		case f.v == "":
			fail("%s is required", f.name)
		case strings.ContainsRune(f.v, 0):
			fail("%s contains a NUL byte", f.name)
		}
	}
	for _, h := range c.hooks() {
		if err := checkArgv(h.argv); err != nil {
			fail("hook %s: %v", h.name, err)
		}
	}
	if c.Timeout < 0 {
		fail("timeout must be positive (0 for the default %v), not %v", DefaultTimeout, c.Timeout)
	}
	for i, kv := range c.Env {
		k, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok || k == "":
			fail("env[%d] %q: want KEY=VALUE", i, kv)
		case strings.ContainsRune(kv, 0):
			fail("env[%d] %q contains a NUL byte", i, kv)
		case strings.HasPrefix(k, envPrefix):
			fail("env[%d]: %s: the %s prefix is the driver's own", i, k, envPrefix)
		}
	}
	if c.Dir != "" {
		if fi, err := os.Stat(c.Dir); err != nil {
			fail("dir: %v", err)
		} else if !fi.IsDir() {
			fail("dir %s is not a directory", c.Dir)
		}
	}
	return errors.Join(errs...)
}

func checkArgv(argv []string) error {
	if len(argv) == 0 {
		return errors.New("is required (the argv of a program)")
	}
	for _, a := range argv {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("argument %q contains a NUL byte", a)
		}
	}
	p := argv[0]
	if !filepath.IsAbs(p) {
		// Relative to what would depend on the agent's cwd and $PATH.
		return fmt.Errorf("%q is not an absolute path", p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	// access(2) answers for this process's user, mode bits alone do not.
	if err := unix.Access(p, unix.X_OK); err != nil {
		return fmt.Errorf("%s is not executable: %v", p, err)
	}
	return nil
}
