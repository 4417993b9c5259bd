package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/llt"
)

// loConfig writes a one-node-and-a-peer config on the loopback interface
// (tcp channel only: no raw sockets, no root) and its key file, and returns
// the config path and the status socket (node0 of loConfigs; node1 does not
// run).
func loConfig(t *testing.T) (cfgPath, socket string) {
	t.Helper()
	paths, sockets := loConfigs(t, 2)
	return paths[0], sockets[0]
}

// When the agent's run loop fails, Daemon.Run stops everything it started
// (status server, key reloads, watchdog) and returns the error, so tetherd
// exits non-zero and systemd restarts it. It used to wait for its
// goroutines before cancelling them: forever.
func TestDaemonReturnsWhenTheRunLoopFails(t *testing.T) {
	cfgPath, socket := loConfig(t)
	boom := errors.New("netlink watch: boom")
	started := make(chan struct{})
	d := &Daemon{ConfigPath: cfgPath, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		run: func(a *Agent, ctx context.Context) error {
			close(started)
			time.Sleep(50 * time.Millisecond)
			return boom
		}}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("Run returned before the agent ran: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("Run returned %v, want the run loop's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Daemon.Run did not return after the agent's run loop failed")
	}
	// The status server is gone with it.
	if c, err := net.Dial("unix", socket); err == nil {
		c.Close()
		t.Fatal("the status socket still answers after Run returned")
	}
}

// A cancelled context is a clean stop: nil.
func TestDaemonStopsCleanly(t *testing.T) {
	cfgPath, _ := loConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{ConfigPath: cfgPath, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Daemon.Run did not return after cancel")
	}
}

// stuckHandler is a log output that never takes a record (a stalled
// journald): every Handle blocks until the test ends.
type stuckHandler struct {
	slog.Handler
	calls   atomic.Int64
	release chan struct{}
}

func (h *stuckHandler) Handle(ctx context.Context, r slog.Record) error {
	h.calls.Add(1)
	<-h.release
	return nil
}

// A daemon whose log output is stuck keeps heartbeating: its peer sees
// its link come up and stay up, and its status socket answers. (Logging
// used to run under the engine's lock: the first record stopped it.)
func TestStuckLogOutputDoesNotStopHeartbeats(t *testing.T) {
	paths, sockets := loConfigs(t, 2)
	stuck := &stuckHandler{Handler: slog.NewTextHandler(io.Discard, nil), release: make(chan struct{})}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		close(stuck.release) // a stuck daemon must be able to finish, pass or fail
		wg.Wait()
	}()
	for i, lg := range []*slog.Logger{slog.New(stuck), quiet} {
		d := &Daemon{ConfigPath: paths[i], Log: lg}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Run(ctx); err != nil {
				t.Errorf("node%d: %v", i, err)
			}
		}()
	}
	c1 := status.NewClient(sockets[1])
	up := func() bool {
		st, err := c1.Status(context.Background())
		if err != nil {
			return false
		}
		l := findLink(st, 0, "lo")
		return l != nil && l.State == status.LinkUp
	}
	deadline := time.Now().Add(15 * time.Second)
	for !up() {
		if time.Now().After(deadline) {
			t.Fatalf("node1 never saw node0's link up (node0's log output stuck after %d records)", stuck.calls.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if stuck.calls.Load() == 0 {
		t.Fatal("node0 logged nothing: the test proves nothing")
	}
	// It stays up, and node0 still answers its status socket.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if !up() {
			t.Fatal("node0's link went down with its log output stuck")
		}
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if _, err := status.NewClient(sockets[0]).Status(sctx); err != nil {
		t.Fatalf("node0's status with its log output stuck: %v", err)
	}
}

// loConfigs writes the configs of n nodes on the loopback interface
// (tcp only: node i on 127.0.0.<i+1>) with one key file, and returns their
// paths and status sockets.
func loConfigs(t *testing.T, n int) (paths, sockets []string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "tq") // short: unix socket paths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	key := filepath.Join(dir, "cluster.key")
	if err := os.WriteFile(key, []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for i := range n {
		addrs = append(addrs, fmt.Sprintf("127.0.0.%d", i+1))
	}
	port := freePort(t, addrs...)
	nodes := ""
	for i := range n {
		nodes += fmt.Sprintf("  - {id: %d, name: node%d, addresses: {lo: 127.0.0.%d}}\n", i, i, i+1)
	}
	for i := range n {
		sock := filepath.Join(dir, fmt.Sprintf("n%d.sock", i))
		path := filepath.Join(dir, fmt.Sprintf("n%d.yaml", i))
		doc := fmt.Sprintf("cluster: {id: 7, key_file: %s}\nnode: {id: %d, name: node%d}\nnodes:\n%snetworks:\n  - {name: lo, interface: lo, channels: [tcp], port: %d}\nstatus: {socket: %s}\nmetrics: {listen: 127.0.0.1:%d}\n",
			key, i, i, nodes, port, sock, freePort(t))
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		paths, sockets = append(paths, path), append(sockets, sock)
	}
	return paths, sockets
}

// freePort returns a TCP port that was free a moment ago on every one of
// addrs (127.0.0.1 when none). It is below the kernel's ephemeral range
// (32768 and up): a port the kernel handed out would be free again once
// tested, and could be any test's next outbound connection's.
func freePort(t *testing.T, addrs ...string) int {
	t.Helper()
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1"}
	}
	for range 200 {
		port := 20000 + rand.IntN(12000)
		var ls []net.Listener
		for _, a := range addrs {
			l, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == len(addrs) {
			return port
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// Under systemd (a fake NOTIFY_SOCKET here, as systemd's is a unixgram
// socket) the daemon says READY, keeps a one-line STATUS, feeds the
// watchdog while its engine answers and only then, and says STOPPING.
func TestDaemonTellsSystemd(t *testing.T) {
	cfgPath, _ := loConfig(t)
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "150000") // fed every 50 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	msgs := make(chan string, 1000)
	go func() {
		defer close(msgs)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	agents := make(chan *Agent, 1)
	d := &Daemon{ConfigPath: cfgPath, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		run: func(a *Agent, ctx context.Context) error {
			agents <- a
			return a.Run(ctx)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	defer func() {
		stop()
		conn.Close()
	}()
	// next waits for a message for which ok holds, skipping others.
	next := func(what string, ok func(string) bool, within time.Duration) string {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case m, open := <-msgs:
				if !open {
					t.Fatalf("notify socket closed waiting for %s", what)
				}
				if ok(m) {
					return m
				}
			case <-deadline:
				t.Fatalf("no %s from the daemon within %v", what, within)
			}
		}
	}
	is := func(want string) func(string) bool { return func(m string) bool { return m == want } }
	next("READY=1", is(daemon.SdNotifyReady), 10*time.Second)
	// After the claim phase ("claiming node id 0 ..."): node1 (127.0.0.2)
	// runs no agent, its one link is down.
	const want = "STATUS=0/1 links up; worst: node1 lo DOWN"
	next(want, func(m string) bool { return strings.HasPrefix(m, want) }, 10*time.Second)
	next("WATCHDOG=1", is(daemon.SdNotifyWatchdog), 5*time.Second)
	next("WATCHDOG=1 again", is(daemon.SdNotifyWatchdog), 5*time.Second)

	// A wedged engine (its lock held) starves the watchdog: systemd
	// restarts such a tetherd after WatchdogSec.
	a := <-agents
	a.mu.Lock()
	// One feed may have taken the lock just before us and still be on its
	// way (and one status line with it); none after it, over 12 periods.
	wedged := time.After(600 * time.Millisecond)
	for fed := 0; ; {
		select {
		case m := <-msgs:
			if m == daemon.SdNotifyWatchdog {
				if fed++; fed > 1 {
					t.Errorf("watchdog fed %d times while the engine's lock was held", fed)
				}
			}
			continue
		case <-wedged:
		}
		break
	}
	a.mu.Unlock()
	next("WATCHDOG=1 once the engine answers again", is(daemon.SdNotifyWatchdog), 5*time.Second)
	stop()
	next("STOPPING=1", is(daemon.SdNotifyStopping), 5*time.Second)
}

// An idle cluster keeps every node's link table fresh at every other node
// with digests, not with tables: after the first tables, a node sends
// each peer a digest a second and a table only when its own changed.
func TestIdleLinkTablesAreDigests(t *testing.T) {
	paths, sockets := loConfigs(t, 3)
	runDaemons(t, paths)
	c0 := status.NewClient(sockets[0])
	known := func(st *status.Status) bool {
		n := 0
		for _, mn := range st.Matrix.Nodes {
			if !mn.Local && mn.Known {
				n++
			}
		}
		return n == 2
	}
	deadline := time.Now().Add(20 * time.Second)
	var st *status.Status
	for {
		var err error
		st, err = c0.Status(context.Background())
		if err == nil && known(st) && st.Counters.LinkTables.Digests > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node0 never held both peers' tables and sent a digest: %v %+v", err, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := st.Counters.LinkTables
	// Three table TTLs: without the digests the tables would go stale.
	time.Sleep(3 * llt.DefaultTableTTL)
	st, err := c0.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !known(st) {
		t.Errorf("peers' tables went stale at node0: %+v", st.Matrix.Nodes)
	}
	after := st.Counters.LinkTables
	digests := after.Digests - before.Digests
	tables := (after.Sent - after.Digests - after.Pulls) - (before.Sent - before.Digests - before.Pulls)
	// About a second apart to each of 2 peers over 9 s.
	if digests < 10 {
		t.Errorf("%d digests sent in %v, want about 18", digests, 3*llt.DefaultTableTTL)
	}
	if tables > digests/3 {
		t.Errorf("%d tables and %d digests sent while idle: tables should go out only on a change", tables, digests)
	}
}
