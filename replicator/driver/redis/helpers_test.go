package redis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tether-ha/tether/replicator/driver"
)

const waitFor = 10 * time.Second

// server is a redis-server of a test, killed at its end.
type server struct {
	t      *testing.T
	addr   string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	client *goredis.Client // a plain client, as an application would use
}

func redisServerPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/redis-server"); serr == nil {
			return "/usr/bin/redis-server"
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found (%v); CI=true requires it", err)
		}
		t.Skipf("redis-server not found (%v): install redis-server (>= 6.2) to run these tests", err)
	}
	return path
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

// startRedis starts a redis-server on a free port of 127.0.0.1, retrying
// on another port if it loses the race for one.
func startRedis(t *testing.T) *server {
	t.Helper()
	bin := redisServerPath(t)
	var lastErr error
	for range 3 {
		s, err := tryStart(t, bin)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("starting redis-server: %v", lastErr)
	return nil
}

func tryStart(t *testing.T, bin string) (*server, error) {
	dir := t.TempDir()
	port := freePort(t)
	s := &server{t: t, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, exited: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--logfile", filepath.Join(dir, "redis.log"),
		// Full syncs at once, not after Redis's 5 s wait for more replicas.
		"--repl-diskless-sync-delay", "0",
	)
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	s.client = goredis.NewClient(&goredis.Options{Addr: s.addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() {
		s.kill()
		_ = s.client.Close()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "redis.log")); err == nil {
				t.Logf("log of redis %s:\n%s", s.addr, b)
			}
		}
	})
	deadline := time.Now().Add(waitFor)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := s.client.Ping(ctx).Err()
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			return nil, fmt.Errorf("redis-server on %s exited: %s", s.addr, b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, fmt.Errorf("redis-server on %s: no PONG after %v: %v", s.addr, waitFor, err)
		}
	}
}

// kill ends the server at once (SIGKILL: no shutdown, like a crash).
func (s *server) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
}

func (s *server) port() string {
	_, p, _ := net.SplitHostPort(s.addr)
	return p
}

func (s *server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v to redis %s: %v", sig, s.addr, err)
	}
}

func (s *server) set(t *testing.T, key, val string) error {
	t.Helper()
	return s.client.Set(ctx(t), key, val, 0).Err()
}

func (s *server) mustSet(t *testing.T, key, val string) {
	t.Helper()
	if err := s.set(t, key, val); err != nil {
		t.Fatalf("SET %s on %s: %v", key, s.addr, err)
	}
}

// get returns key's value, "" with ok false if it is missing.
func (s *server) get(t *testing.T, key string) (string, bool) {
	t.Helper()
	v, err := s.client.Get(ctx(t), key).Result()
	if err == goredis.Nil {
		return "", false
	}
	if err != nil {
		t.Fatalf("GET %s on %s: %v", key, s.addr, err)
	}
	return v, true
}

func (s *server) info(t *testing.T) map[string]string {
	t.Helper()
	v, err := s.client.Info(ctx(t), "replication").Result()
	if err != nil {
		t.Fatalf("INFO on %s: %v", s.addr, err)
	}
	return parseInfo(v)
}

// ctx is for the test's own calls; the driver bounds its own, and the
// test clients have go-redis's timeouts.
func ctx(t *testing.T) context.Context { return t.Context() }

// eventually polls cond until it holds, failing after waitFor with what
// it saw last.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v; last seen: %s", what, waitFor, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newDriver(t *testing.T, cfg Config) *Driver {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// cluster is nodes "a" and "b" with a driver each.
type cluster struct {
	a, b   *server
	da, db *Driver
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	a, b := startRedis(t), startRedis(t)
	addrs := map[string]string{"a": a.addr, "b": b.addr}
	return &cluster{
		a: a, b: b,
		da: newDriver(t, Config{Self: "a", Addrs: addrs}),
		db: newDriver(t, Config{Self: "b", Addrs: addrs}),
	}
}

// replicated makes b a replica of a, with its link up.
func replicated(t *testing.T) *cluster {
	t.Helper()
	c := newCluster(t)
	if err := c.db.Follow(ctx(t), "a"); err != nil {
		t.Fatalf("b Follow a: %v", err)
	}
	waitFollowing(t, c.db, "a")
	// The replica reports its link up before the primary lists it
	// online (it waits for its first ACK).
	eventually(t, "a lists b online", func() (bool, string) {
		r := infoReplicas(c.a.info(t))
		return len(r) == 1 && r[0].state == "online", fmt.Sprintf("%+v", r)
	})
	return c
}

// waitFollowing waits until d's redis is a replica of node with its link up.
func waitFollowing(t *testing.T, d *Driver, node string) {
	t.Helper()
	eventually(t, d.cfg.Self+" replica of "+node+", link up", func() (bool, string) {
		st, err := d.Status(ctx(t))
		return err == nil && st.Role == driver.RoleReplica && st.Following == node && st.LinkUp,
			fmt.Sprintf("%+v, err %v", st, err)
	})
}

// waitKey waits until s has key = val.
func waitKey(t *testing.T, s *server, key, val string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s=%s on %s", key, val, s.addr), func() (bool, string) {
		v, ok := s.get(t, key)
		return ok && v == val, fmt.Sprintf("%q (present %v)", v, ok)
	})
}

func isErr(err error, prefix string) bool {
	return err != nil && strings.HasPrefix(err.Error(), prefix)
}
