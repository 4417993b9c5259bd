package postgresql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// logFile is where pg_ctl start sends the server's output (in DataDir).
const logFile = "tether-postgresql.log"

// maxOutput bounds what of a command's output (or the server log) goes
// into an error.
const maxOutput = 4096

// osUser is who owns the data directory and runs pg_ctl and pg_rewind.
type osUser struct {
	name     string
	uid, gid uint32
	home     string
}

// resolveOSUser finds name (default: DataDir's owner).
func resolveOSUser(name, dataDir string) (osUser, error) {
	var (
		u   *user.User
		err error
	)
	if name == "" {
		fi, serr := os.Stat(dataDir)
		if serr != nil {
			return osUser{}, fmt.Errorf("postgresql: data directory: %w", serr)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return osUser{}, fmt.Errorf("postgresql: cannot read the owner of %s", dataDir)
		}
		u, err = user.LookupId(strconv.FormatUint(uint64(st.Uid), 10))
		if err != nil {
			// An owner without a passwd entry still works by number.
			return osUser{name: strconv.FormatUint(uint64(st.Uid), 10), uid: st.Uid, gid: st.Gid}, nil
		}
	} else if u, err = user.Lookup(name); err != nil {
		return osUser{}, fmt.Errorf("postgresql: OSUser: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return osUser{}, fmt.Errorf("postgresql: OSUser %s: uid %q", u.Username, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return osUser{}, fmt.Errorf("postgresql: OSUser %s: gid %q", u.Username, u.Gid)
	}
	return osUser{name: u.Username, uid: uint32(uid), gid: uint32(gid), home: u.HomeDir}, nil
}

// switching reports whether commands must change user: PostgreSQL's tools
// refuse to run as root.
func (u osUser) switching() bool {
	return os.Geteuid() == 0 && u.uid != 0
}

// tailBuffer keeps the last max bytes written to it: the end of a
// command's output is where it says why it failed.
type tailBuffer struct {
	max     int
	buf     []byte
	dropped int64
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.dropped += int64(over)
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return n, nil
}

func (b *tailBuffer) String() string {
	s := strings.TrimSpace(string(b.buf))
	if b.dropped > 0 {
		s = fmt.Sprintf("[%d bytes cut] ...%s", b.dropped, s)
	}
	return s
}

// run runs one of BinDir's programs as the OS user, bounded by ctx, and
// returns its (bounded) output. The error names the command, its exit
// status and its output.
func (d *Driver) run(ctx context.Context, env []string, prog string, args ...string) (string, int, error) {
	path := filepath.Join(d.cfg.BinDir, prog)
	cmd := exec.CommandContext(ctx, path, args...)
	out := &tailBuffer{max: maxOutput}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Stdin = nil
	cmd.Dir = d.cfg.DataDir // the OS user can enter it; root's cwd may be closed to it
	cmd.WaitDelay = time.Second
	cmd.Env = os.Environ()
	if d.user.switching() {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: d.user.uid, Gid: d.user.gid}}
		cmd.Env = setEnv(cmd.Env, "USER", d.user.name)
		cmd.Env = setEnv(cmd.Env, "LOGNAME", d.user.name)
		if d.user.home != "" {
			cmd.Env = setEnv(cmd.Env, "HOME", d.user.home) // libpq's ~/.pgpass is the OS user's
		}
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		cmd.Env = setEnv(cmd.Env, k, v)
	}
	err := cmd.Run()
	if err == nil {
		return out.String(), 0, nil
	}
	code := -1
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return out.String(), code, fmt.Errorf("%s %s: %w: %s", prog, args[0], err, out.String())
}

func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// waitSeconds is pg_ctl's -t for what is left of ctx.
func waitSeconds(ctx context.Context) string {
	dl, ok := ctx.Deadline()
	if !ok {
		return "60"
	}
	s := math.Ceil(time.Until(dl).Seconds())
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(int(s))
}

// running asks pg_ctl status whether a postmaster runs on DataDir.
func (d *Driver) running(ctx context.Context) (bool, error) {
	out, code, err := d.run(ctx, nil, "pg_ctl", "status", "-D", d.cfg.DataDir)
	switch {
	case err == nil:
		return true, nil
	case code == 3: // not running
		return false, nil
	case code == 4:
		return false, fmt.Errorf("pg_ctl status: no accessible data directory %s: %s", d.cfg.DataDir, out)
	default:
		return false, err
	}
}

// stop stops the server (fast: sessions are cut, the shutdown checkpoint
// is written and streamed). Stopped already: nothing.
func (d *Driver) stop(ctx context.Context) error {
	up, err := d.running(ctx)
	if err != nil || !up {
		return err
	}
	d.dropConns()
	if _, _, err := d.run(ctx, nil, "pg_ctl", "stop", "-D", d.cfg.DataDir, "-m", "fast", "-w", "-t", waitSeconds(ctx)); err != nil {
		// Stopped meanwhile (by someone else) is what was asked.
		if up, rerr := d.running(ctx); rerr == nil && !up {
			return nil
		}
		return fmt.Errorf("stop %s: %w", d.cfg.DataDir, err)
	}
	return nil
}

// start starts the server and waits until it accepts connections.
// Running already: nothing.
func (d *Driver) start(ctx context.Context) error {
	up, err := d.running(ctx)
	if err != nil || up {
		return err
	}
	log := filepath.Join(d.cfg.DataDir, logFile)
	if _, _, err := d.run(ctx, nil, "pg_ctl", "start", "-D", d.cfg.DataDir, "-w", "-t", waitSeconds(ctx), "-l", log); err != nil {
		return fmt.Errorf("start %s: %w; %s: %s", d.cfg.DataDir, err, log, tailOf(log))
	}
	return nil
}

// tailOf is the end of a file, for errors.
func tailOf(path string) string {
	b, err := readTail(path, maxOutput)
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(b))
}
