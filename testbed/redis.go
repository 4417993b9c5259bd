package testbed

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisPort is the port the bed's redis-servers listen on.
const RedisPort = 6379

// Redis is a redis-server running in a node's namespace (a resource's
// back end, as on a real cluster node: it dies with the node in the
// suite's faults, and partitions cut its replication too).
type Redis struct {
	b     *Bed
	Node  int
	Addr  string // ip:port on the node's first network
	dir   string
	extra []string
	cmd   *exec.Cmd
	done  chan struct{}
}

// StartRedis starts redis-server on node i (no persistence, as a cache;
// diskless sync without delay). Cleanup kills it.
func (b *Bed) StartRedis(i int, extra ...string) *Redis {
	b.t.Helper()
	bin := RequireTool(b.t, "redis-server", "redis-server")
	r := &Redis{b: b, Node: i, extra: extra, Addr: net.JoinHostPort(b.IP(i, b.opt.Networks[0].Name).String(), fmt.Sprint(RedisPort))}
	r.dir = filepath.Join(b.dir, fmt.Sprintf("redis%d", i))
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		b.t.Fatalf("testbed: StartRedis: %v", err)
	}
	r.start(bin, extra)
	b.t.Cleanup(r.Kill)
	return r
}

func (r *Redis) start(bin string, extra []string) {
	args := append([]string{"netns", "exec", r.b.NodeNS(r.Node), bin, "--bind", r.b.IP(r.Node, r.b.opt.Networks[0].Name).String(),
		"--port", fmt.Sprint(RedisPort), "--save", "", "--appendonly", "no", "--dir", r.dir, "--protected-mode", "no",
		"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0", "--logfile", filepath.Join(r.dir, "redis.log")}, extra...)
	cmd := exec.Command("ip", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.b.t.Fatalf("testbed: redis on node%d: %v", r.Node, err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func() { // owned by r: Kill waits for it
		_ = cmd.Wait()
		close(r.done)
	}()
	c := r.Client()
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.b.t.Fatalf("testbed: redis on node%d not answering after 10s (log %s)", r.Node, filepath.Join(r.dir, "redis.log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills the server (SIGKILL) and waits for it; nothing if it is not running.
func (r *Redis) Kill() {
	if r.cmd == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.done
	r.cmd = nil
}

// Restart starts a killed server again (empty: no persistence).
func (r *Redis) Restart() {
	r.b.t.Helper()
	r.Kill()
	r.start(RequireTool(r.b.t, "redis-server", "redis-server"), r.extra)
}

// Signal sends sig to the server (SIGSTOP, SIGCONT: a paused node).
func (r *Redis) Signal(sig syscall.Signal) {
	if r.cmd != nil {
		_ = syscall.Kill(-r.cmd.Process.Pid, sig)
	}
}

// Client is a client of the server whose connections are made from the
// node's namespace.
func (r *Redis) Client() *goredis.Client {
	ns := r.b.NodeNS(r.Node)
	return goredis.NewClient(&goredis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			var d net.Dialer
			err := InNS(ns, func() (err error) {
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}})
}
