package postgresql

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The tests run real PostgreSQL 15 servers: a primary from initdb and
// replicas from pg_basebackup -R, in a t.TempDir, on free ports of
// 127.0.0.1, as the postgres OS user when the tests run as root (initdb
// and pg_ctl refuse root).

const testBin = DefaultBinDir

// testTimeout is the drivers' Timeout in the tests: generous, as -race and
// a busy CI machine slow everything.
const testTimeout = 20 * time.Second

type pgEnv struct {
	t     *testing.T
	root  string // owned by the OS user: data directories, sockets
	cred  *syscall.Credential
	nodes map[string]*pgNode
}

type pgNode struct {
	name     string
	dir      string
	port     int
	conninfo string
}

// needPostgres skips (fails under CI=true) without PostgreSQL 15.
func needPostgres(t *testing.T) {
	t.Helper()
	for _, p := range []string{"initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "postgres"} {
		if _, err := os.Stat(filepath.Join(testBin, p)); err != nil {
			missing(t, fmt.Sprintf("PostgreSQL 15 is not installed (%v): install postgresql-15", err))
		}
	}
}

func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func newPGEnv(t *testing.T) *pgEnv {
	t.Helper()
	needPostgres(t)
	e := &pgEnv{t: t, nodes: map[string]*pgNode{}}
	root := t.TempDir()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(t, "tests run as root and there is no postgres OS user to run initdb as (initdb refuses root): "+err.Error())
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		e.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// The postgres user must reach root: open t.TempDir's parents.
		for _, dir := range []string{root, filepath.Dir(root)} { // .../TestName123/001
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		root = filepath.Join(root, "pg")
		if err := os.Mkdir(root, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	e.root = root
	return e
}

// run runs a PostgreSQL program as the OS user.
func (e *pgEnv) run(prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(testBin, prog), args...)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(), "LC_ALL=C", "HOME="+e.root)
	if e.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred}
	}
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (e *pgEnv) must(prog string, args ...string) {
	e.t.Helper()
	if _, err := e.run(prog, args...); err != nil {
		e.t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (e *pgEnv) newNode(name string) *pgNode {
	n := &pgNode{name: name, dir: filepath.Join(e.root, name), port: freePort(e.t)}
	n.conninfo = fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", n.port)
	e.nodes[name] = n
	// Stopped even when the test fails: a server left running would hold
	// the port and the temp dir.
	e.t.Cleanup(func() { e.stopImmediate(n) })
	return n
}

// primary initdb's, configures and starts a primary.
func (e *pgEnv) primary(name string) *pgNode {
	e.t.Helper()
	n := e.newNode(name)
	e.must("initdb", "-D", n.dir, "--auth=trust", "--username=postgres", "--data-checksums", "--no-sync", "--no-instructions")
	e.appendFile(n.dir, "postgresql.conf", fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
wal_level = replica
max_wal_senders = 10
hot_standby = on
wal_keep_size = '128MB'
wal_retrieve_retry_interval = '500ms'
fsync = off
`, n.port, e.root))
	e.appendFile(n.dir, "pg_hba.conf", "\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n")
	e.start(n)
	return n
}

// replica makes a streaming replica of from with pg_basebackup -R.
func (e *pgEnv) replica(name string, from *pgNode) *pgNode {
	e.t.Helper()
	n := e.newNode(name)
	e.must("pg_basebackup", "-D", n.dir, "-R", "-X", "stream", "-c", "fast", "--no-sync",
		"-h", "127.0.0.1", "-p", strconv.Itoa(from.port), "-U", "postgres")
	e.appendFile(n.dir, "postgresql.conf", fmt.Sprintf("\nport = %d\n", n.port))
	e.start(n)
	return n
}

func (e *pgEnv) appendFile(dir, name, text string) {
	e.t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		e.t.Fatal(err)
	}
}

func (e *pgEnv) start(n *pgNode) {
	e.t.Helper()
	e.must("pg_ctl", "start", "-D", n.dir, "-w", "-t", "60", "-l", filepath.Join(n.dir, logFile))
}

func (e *pgEnv) stop(n *pgNode) {
	e.t.Helper()
	e.must("pg_ctl", "stop", "-D", n.dir, "-m", "fast", "-w", "-t", "60")
}

func (e *pgEnv) stopImmediate(n *pgNode) {
	if e.running(n) {
		_, _ = e.run("pg_ctl", "stop", "-D", n.dir, "-m", "immediate", "-w", "-t", "60")
	}
}

func (e *pgEnv) running(n *pgNode) bool {
	_, err := e.run("pg_ctl", "status", "-D", n.dir)
	return err == nil
}

// config is a driver configuration for node self of the environment.
func (e *pgEnv) config(self string) Config {
	ci := map[string]string{}
	for name, n := range e.nodes {
		ci[name] = n.conninfo
	}
	return Config{Self: self, Conninfo: ci, DataDir: e.nodes[self].dir, BinDir: testBin, Timeout: testTimeout}
}

func (e *pgEnv) driver(cfg Config) *Driver {
	e.t.Helper()
	d, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = d.Close() })
	return d
}

func connect(t *testing.T, n *pgNode) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, n.conninfo)
	if err != nil {
		t.Fatalf("connect to %s: %v", n.name, err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// exec runs one statement on a fresh session of n.
func exec1(n *pgNode, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, n.conninfo)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql, args...)
	return err
}

func mustExec(t *testing.T, n *pgNode, sql string, args ...any) {
	t.Helper()
	if err := exec1(n, sql, args...); err != nil {
		t.Fatalf("%s on %s: %v", sql, n.name, err)
	}
}

// count is SELECT count(*) ... on a fresh session of n.
func count(n *pgNode, sql string, args ...any) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, n.conninfo)
	if err != nil {
		return 0, err
	}
	defer c.Close(context.Background())
	var k int
	err = c.QueryRow(ctx, sql, args...).Scan(&k)
	return k, err
}

// eventually polls check until it holds or the deadline passes, then
// fails with what check saw last.
func eventually(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, seen := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last seen: %s", what, timeout, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
