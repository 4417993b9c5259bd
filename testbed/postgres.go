package testbed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sys/unix"
)

// PostgreSQL back ends: a resource's servers, as on real cluster nodes.

// PostgresBinDir holds the PostgreSQL 15 programs (Debian's postgresql-15).
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

// PostgresPort is the port the bed's servers listen on (each on its
// node's hb0 address, in its own namespace).
const PostgresPort = 5432

// PostgresUser is the OS user the servers run as (initdb and pg_ctl
// refuse root) and their superuser.
const PostgresUser = "postgres"

// postgresReady bounds a start: crash recovery after a kill, on a loaded
// machine, takes a while.
const postgresReady = 60 * time.Second

// Postgres is a PostgreSQL server of node i: its data directory and the
// postmaster running on it, whoever started it (the bed, or tetherd's
// driver with pg_ctl: that one detaches, so the postmaster is found by
// its postmaster.pid, not as a child of the test).
type Postgres struct {
	b    *Bed
	Node int
	Dir  string // data directory
	Addr string // ip:port on the node's hb0
	log  string
	cred *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd // the postmaster the bed started, until it exits
	done chan struct{}
}

// PostgresDataDir is node i's data directory under root: tests write it
// into a config before the bed (and the server) exists.
func PostgresDataDir(root string, i int) string {
	return filepath.Join(root, fmt.Sprintf("pg%d", i))
}

// RequirePostgres ends t (skip, or fail under CI=true) without the
// PostgreSQL 15 programs or the postgres OS user.
func RequirePostgres(t T) {
	t.Helper()
	stop := t.Skipf
	if os.Getenv("CI") == "true" {
		stop = t.Fatalf
	}
	for _, p := range []string{"initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "postgres"} {
		if _, err := os.Stat(filepath.Join(PostgresBinDir, p)); err != nil {
			stop("PostgreSQL 15 not installed (%v): apt-get install postgresql-15; .ci/deps installs it", err)
			return
		}
	}
	if _, err := user.Lookup(PostgresUser); err != nil {
		stop("no %s OS user to run PostgreSQL as: %v", PostgresUser, err)
	}
}

// StartPostgresPrimary makes node i's server with initdb under root (see
// PostgresDataDir) and starts it: a primary for streaming replication,
// rewindable (wal_log_hints, data checksums), trusting the bed's
// networks. Cleanup stops it and removes its data directory.
func (b *Bed) StartPostgresPrimary(i int, root string) *Postgres {
	b.t.Helper()
	p := b.newPostgres(i, root)
	p.mustRun("", PostgresBinDir+"/initdb", "-D", p.Dir, "--auth=trust", "--username="+PostgresUser,
		"--data-checksums", "--no-sync", "--no-instructions")
	var hba strings.Builder
	for k := range b.opt.Networks {
		// Each network is 10.77.<k>.0/24 (ipAddr); routed ones are never
		// the first, which is where the servers listen, but trust them
		// too: a node's namespace is the only one on those addresses.
		pfx := netip.PrefixFrom(ipAddr(k, 0), 24)
		fmt.Fprintf(&hba, "host all all %s trust\nhost replication all %s trust\n", pfx, pfx)
	}
	p.appendFile("pg_hba.conf", hba.String())
	// fsync off: the faults kill processes, not the machine, so what a
	// killed server wrote is in the page cache; it keeps a 2-core machine
	// usable. The short receiver/sender timeouts let a replica notice a
	// partitioned upstream (and reconnect after the heal) in seconds.
	p.appendFile("postgresql.conf", `
port = `+strconv.Itoa(PostgresPort)+`
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_keep_size = '256MB'
wal_log_hints = on
wal_retrieve_retry_interval = '500ms'
wal_receiver_timeout = '5s'
wal_sender_timeout = '5s'
fsync = off
shared_buffers = '32MB'
max_connections = 40
`+p.listenConf())
	p.start()
	return p
}

// StartPostgresReplica makes node i's server a streaming replica of from
// (pg_basebackup -R over the bed's network, from node i's namespace) and
// starts it. Cleanup stops it and removes its data directory.
func (b *Bed) StartPostgresReplica(i int, from *Postgres) *Postgres {
	b.t.Helper()
	p := b.newPostgres(i, filepath.Dir(from.Dir))
	host, _, _ := net.SplitHostPort(from.Addr)
	p.mustRun(b.NodeNS(i), PostgresBinDir+"/pg_basebackup", "-D", p.Dir, "-R", "-X", "stream", "-c", "fast", "--no-sync",
		"-h", host, "-p", strconv.Itoa(PostgresPort), "-U", PostgresUser)
	// The primary's postgresql.conf came along: the last setting wins.
	p.appendFile("postgresql.conf", p.listenConf())
	p.start()
	return p
}

func (b *Bed) newPostgres(i int, root string) *Postgres {
	b.t.Helper()
	RequirePostgres(b.t)
	u, err := user.Lookup(PostgresUser)
	if err != nil {
		b.t.Fatalf("testbed: postgres: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	p := &Postgres{b: b, Node: i, Dir: PostgresDataDir(root, i),
		Addr: net.JoinHostPort(b.IP(i, b.opt.Networks[0].Name).String(), strconv.Itoa(PostgresPort)),
		log:  filepath.Join(root, fmt.Sprintf("pg%d.log", i)),
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.t.Fatalf("testbed: postgres: %v", err)
	}
	if err := traversable(root); err != nil {
		b.t.Fatalf("testbed: postgres: %v", err)
	}
	if err := os.Mkdir(p.Dir, 0o700); err != nil {
		b.t.Fatalf("testbed: postgres: data directory of node%d: %v", i, err)
	}
	// Registered before the server exists: a failed initdb or start
	// still leaves nothing behind.
	b.t.Cleanup(p.cleanup)
	if err := os.Chown(p.Dir, uid, gid); err != nil {
		b.t.Fatalf("testbed: postgres: %v", err)
	}
	return p
}

// traversable lets the postgres user reach dir: t.TempDir and the bed's
// directory are 0700 root. Only directories under the temp directory are
// opened (search permission, not listing); anything else fails.
func traversable(dir string) error {
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if d == tmp || !strings.HasPrefix(d, tmp+"/") {
				return fmt.Errorf("%s (mode %v) is closed to the %s user and not ours to open: put the data under %s", d, fi.Mode().Perm(), PostgresUser, tmp)
			}
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return err
			}
		}
		if d == "/" || d == tmp {
			return nil
		}
	}
}

func (p *Postgres) listenConf() string {
	host, _, _ := net.SplitHostPort(p.Addr)
	return fmt.Sprintf("listen_addresses = '%s'\n", host)
}

func (p *Postgres) appendFile(name, text string) {
	p.b.t.Helper()
	f, err := os.OpenFile(filepath.Join(p.Dir, name), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(text)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		p.b.t.Fatalf("testbed: postgres node%d: %v", p.Node, err)
	}
}

// command is prog run as the postgres user, in namespace ns when set
// (ip netns exec needs root: setpriv drops it after).
func (p *Postgres) command(ns string, prog string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if ns == "" {
		cmd = exec.Command(prog, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	} else {
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns, "setpriv",
			"--reuid=" + PostgresUser, "--regid=" + PostgresUser, "--init-groups", "--", prog}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.Dir = p.Dir // the postgres user can enter it, not necessarily the test's cwd
	cmd.Env = append(os.Environ(), "LC_ALL=C", "HOME="+p.Dir, "USER="+PostgresUser, "LOGNAME="+PostgresUser)
	return cmd
}

func (p *Postgres) mustRun(ns, prog string, args ...string) {
	p.b.t.Helper()
	cmd := p.command(ns, prog, args...)
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(2*postgresReady, func() { _ = cmd.Process.Kill() }) // a hung initdb or base backup
	defer timer.Stop()
	if out, err := cmd.CombinedOutput(); err != nil {
		p.b.t.Fatalf("testbed: postgres node%d: %s %s: %v\n%s", p.Node, filepath.Base(prog), strings.Join(args, " "), err, out)
	}
}

// start runs the postmaster in the node's namespace, in the foreground
// as the bed's child (SIGKILL'd if the test dies), and waits until it
// takes connections.
func (p *Postgres) start() {
	p.b.t.Helper()
	f, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		p.b.t.Fatalf("testbed: postgres node%d: %v", p.Node, err)
	}
	defer f.Close() // the child has its own copy
	fmt.Fprintf(f, "### testbed: start of node%d's postgres at %s\n", p.Node, time.Now().Format(time.RFC3339Nano))
	cmd := p.command(p.b.NodeNS(p.Node), PostgresBinDir+"/postgres", "-D", p.Dir)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		p.b.t.Fatalf("testbed: postgres node%d: %v", p.Node, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	go func() { // owned by p: Kill waits for it
		_ = cmd.Wait()
		close(done)
	}()
	var last error
	deadline := time.Now().Add(postgresReady)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = p.ping(ctx)
		cancel()
		if last == nil {
			return
		}
		select {
		case <-done:
			p.b.t.Fatalf("testbed: postgres node%d exited at start: %v\n%s", p.Node, cmd.ProcessState, tail(readFile(p.log), 30))
		default:
		}
		if time.Now().After(deadline) {
			p.b.t.Fatalf("testbed: postgres node%d not answering after %v: %v\n%s", p.Node, postgresReady, last, tail(readFile(p.log), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func (p *Postgres) ping(ctx context.Context) error {
	c, err := p.Connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.Ping(ctx)
}

// Conninfo is the libpq conninfo of the server as the superuser (what a
// tether config names).
func (p *Postgres) Conninfo() string {
	host, port, _ := net.SplitHostPort(p.Addr)
	return fmt.Sprintf("host=%s port=%s user=%s dbname=postgres sslmode=disable", host, port, PostgresUser)
}

// ConnConfig is a pgx configuration of Conninfo whose dials are made from
// the node's namespace.
func (p *Postgres) ConnConfig() *pgx.ConnConfig {
	cfg, err := pgx.ParseConfig(p.Conninfo() + " connect_timeout=2")
	if err != nil {
		panic(err) // Conninfo is ours
	}
	ns := p.b.NodeNS(p.Node)
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		var d net.Dialer
		err := InNS(ns, func() (err error) {
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	cfg.RuntimeParams["application_name"] = "testbed"
	return cfg
}

// Connect opens one session (the caller closes it).
func (p *Postgres) Connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, p.ConnConfig())
}

// Client is one session of the server that reconnects as needed (a
// pgxpool needs a module this one does not require). Use it from one
// goroutine at a time.
type Client struct {
	p    *Postgres
	conn *pgx.Conn
}

// Client returns a session that connects at its first use (the caller
// closes it).
func (p *Postgres) Client() *Client { return &Client{p: p} }

// Exec runs one statement; a broken session is replaced at the next call.
func (c *Client) Exec(ctx context.Context, sql string, args ...any) error {
	return c.with(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, sql, args...)
		return err
	})
}

// QueryRow runs a one-row query into dest.
func (c *Client) QueryRow(ctx context.Context, sql string, args []any, dest ...any) error {
	return c.with(ctx, func(conn *pgx.Conn) error { return conn.QueryRow(ctx, sql, args...).Scan(dest...) })
}

func (c *Client) with(ctx context.Context, f func(*pgx.Conn) error) error {
	if c.conn == nil || c.conn.IsClosed() {
		conn, err := c.p.Connect(ctx)
		if err != nil {
			return err
		}
		c.conn = conn
	}
	err := f(c.conn)
	if err != nil && (c.conn.IsClosed() || c.conn.PgConn().TxStatus() != 'I') {
		c.Close() // killed, terminated or timed out mid-statement: a new one next time
	}
	return err
}

// Close closes the session.
func (c *Client) Close() {
	if c.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.conn.Close(ctx)
		c.conn = nil
	}
}

// Kill kills the server as a node crash does: the postmaster and every
// process it forked (backends make themselves session leaders, so a
// process group is not enough), all with SIGKILL, and waits until they
// are gone. Nothing if it is not running.
func (p *Postgres) Kill() {
	p.b.t.Helper()
	if err := p.kill(); err != nil {
		p.b.t.Fatalf("testbed: postgres node%d: %v", p.Node, err)
	}
}

func (p *Postgres) kill() error {
	roots := p.postmasters()
	for _, pid := range roots {
		_ = syscall.Kill(pid, syscall.SIGSTOP) // forks nothing more while its children are listed
	}
	all := descendants(roots)
	for _, pid := range all {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done != nil {
		<-done
	}
	// Orphans are reaped by PID 1, here seconds later: until then a
	// zombie postmaster's pid would make the next postmaster refuse the
	// lock file. Dead means not running, zombie or not.
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range all {
		for running(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("pid %d still running 30s after SIGKILL", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	p.removeStaleLock()
	return nil
}

// removeStaleLock removes a killed server's postmaster.pid and its
// System V shared memory segment (both as a reboot would), once no
// process runs on them.
func (p *Postgres) removeStaleLock() {
	lines := p.pidFile()
	if len(lines) == 0 {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(lines[0])); err == nil && running(pid) {
		return
	}
	if len(lines) >= 7 {
		if f := strings.Fields(lines[6]); len(f) == 2 {
			if id, err := strconv.Atoi(f[1]); err == nil {
				var desc unix.SysvShmDesc
				if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &desc); err == nil && desc.Nattch == 0 &&
					strconv.FormatUint(uint64(uint32(desc.Perm.Key)), 10) == f[0] {
					_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
				}
			}
		}
	}
	_ = os.Remove(filepath.Join(p.Dir, "postmaster.pid"))
}

// pidFile is postmaster.pid's lines (nil without one).
func (p *Postgres) pidFile() []string {
	b, err := os.ReadFile(filepath.Join(p.Dir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	return strings.Split(string(b), "\n")
}

// postmasters are the running postmasters of the data directory: the one
// postmaster.pid names (checked: a running postgres whose lock file names
// this directory), and the bed's own child.
func (p *Postgres) postmasters() []int {
	var pids []int
	if lines := p.pidFile(); len(lines) >= 2 && filepath.Clean(strings.TrimSpace(lines[1])) == filepath.Clean(p.Dir) {
		if pid, err := strconv.Atoi(strings.TrimSpace(lines[0])); err == nil && pid > 0 && running(pid) &&
			strings.Contains(readFile(fmt.Sprintf("/proc/%d/cmdline", pid)), "postgres") {
			pids = append(pids, pid)
		}
	}
	p.mu.Lock()
	if p.cmd != nil && p.done != nil {
		select {
		case <-p.done:
		default:
			// ip netns exec and setpriv exec: the child is the postmaster.
			if pid := p.cmd.Process.Pid; len(pids) == 0 || pids[0] != pid {
				pids = append(pids, pid)
			}
		}
	}
	p.mu.Unlock()
	return pids
}

// running: the process exists and is not a zombie.
func running(pid int) bool {
	st := readFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(st, ')')
	if st == "" || i < 0 || i+2 >= len(st) {
		return false
	}
	return st[i+2] != 'Z' && st[i+2] != 'X'
}

// descendants are roots and every process under them.
func descendants(roots []int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st := readFile(fmt.Sprintf("/proc/%d/stat", pid))
		i := strings.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(st[i+1:]) // state, ppid, ...
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	seen := map[int]bool{}
	queue := append([]int(nil), roots...)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out
}

// Restart starts a killed (or stopped) server again: crash recovery,
// then the role its data directory says.
func (p *Postgres) Restart() {
	p.b.t.Helper()
	p.Kill()
	p.start()
}

// RestartFenced is Restart with default_transaction_read_only = on in
// postgresql.auto.conf first, as the driver's fence writes it: the server
// takes no write before tether, which resets it there, says so (as a
// deployment starts redis fenced).
func (p *Postgres) RestartFenced() {
	p.b.t.Helper()
	p.Kill()
	path := filepath.Join(p.Dir, "postgresql.auto.conf")
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.b.t.Fatalf("testbed: postgres node%d: %v", p.Node, err)
	}
	var kept strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(old)))
	for sc.Scan() {
		if !strings.HasPrefix(strings.TrimSpace(sc.Text()), "default_transaction_read_only") {
			kept.WriteString(sc.Text() + "\n")
		}
	}
	kept.WriteString("default_transaction_read_only = 'on'\n")
	err = os.WriteFile(path, []byte(kept.String()), 0o600)
	if err == nil {
		err = os.Chown(path, int(p.cred.Uid), int(p.cred.Gid))
	}
	if err != nil {
		p.b.t.Fatalf("testbed: postgres node%d: %v", p.Node, err)
	}
	p.start()
}

// Signal sends sig to the postmaster and every process it forked
// (SIGSTOP, SIGCONT: a paused node).
func (p *Postgres) Signal(sig syscall.Signal) {
	roots := p.postmasters()
	if sig == syscall.SIGSTOP {
		for _, pid := range roots {
			_ = syscall.Kill(pid, sig) // first: no new children meanwhile
		}
	}
	all := descendants(roots)
	for i := len(all) - 1; i >= 0; i-- { // children before the postmaster, for SIGCONT
		_ = syscall.Kill(all[i], sig)
	}
}

// Running reports whether a postmaster runs on the data directory.
func (p *Postgres) Running() bool { return len(p.postmasters()) > 0 }

// LogPath is the server log of the bed's starts (tetherd's pg_ctl starts
// log to tether-postgresql.log in the data directory).
func (p *Postgres) LogPath() string { return p.log }

// cleanup stops the bed's tetherds first (their driver would start a
// server killed under it), kills the server and removes its data.
func (p *Postgres) cleanup() {
	p.b.stopAll()
	if err := p.kill(); err != nil {
		p.b.t.Logf("testbed: cleanup: postgres node%d: %v", p.Node, err)
	}
	if p.b.t.Failed() {
		for _, log := range []string{p.log, filepath.Join(p.Dir, "tether-postgresql.log")} {
			if s := readFile(log); s != "" {
				p.b.t.Logf("testbed: postgres node%d: %s:\n%s", p.Node, log, tail(s, 40))
			}
		}
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		p.b.t.Logf("testbed: cleanup: postgres node%d: %v", p.Node, err)
	}
	_ = os.Remove(p.log)
}
