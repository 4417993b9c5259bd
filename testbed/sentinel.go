package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// SentinelPort is the port the bed's redis-sentinels listen on.
const SentinelPort = 26379

// SentinelOptions configures StartSentinels. The zero value is Sentinel's
// own defaults, quorum 2.
type SentinelOptions struct {
	// Name is the monitored master's name; default "mymaster".
	Name string
	// Quorum is how many Sentinels must agree the master is down; default 2.
	Quorum int
	// DownAfter is down-after-milliseconds; default 30s (Sentinel's default).
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout; default 180s (Sentinel's
	// default). A failed attempt is retried only after twice this.
	FailoverTimeout time.Duration
	// Network is the bed network the Sentinels bind to and announce, which
	// must be the one the Redis servers listen on; default the bed's first
	// network, as StartRedis's.
	Network string
	// Extra lines appended to every Sentinel's config file.
	Extra []string
}

// Switch is one +switch-master event, as one Sentinel published it.
type Switch struct {
	Sentinel int       // the node whose Sentinel published it
	From, To string    // ip:port of the old and the new master
	Epoch    int64     // the master's config-epoch on that Sentinel just after; 0 if it could not be read
	At       time.Time // when the event was received
}

// Sentinels are redis-sentinel processes, one per node, monitoring one
// Redis master (and through it its replicas).
//
// Each Sentinel binds to and announces its node's address on the network
// the Redis servers use (SentinelOptions.Network, the first network by
// default: hb0 in the failover suite). That is a deployment where
// Sentinel monitors over the data network: Sentinels reach Redis, and
// each other, where clients reach Redis. They must reach Redis there
// anyway (it binds only to that address), and announcing another network
// would let Sentinels agree among themselves over a path that clients and
// replication do not use. So a fault that cuts a node's private networks
// but leaves the public one up cuts that node's Sentinel off too, as it
// would cut a real data-network Sentinel off.
//
// Every Sentinel's +switch-master channel is subscribed to from the
// Sentinel's own node's namespace (a local connection that no network
// fault cuts), re-subscribed whenever the Sentinel dies or restarts.
type Sentinels struct {
	b     *Bed
	opt   SentinelOptions
	nodes []int
	bin   string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	procs    map[int]*sentinelProc
	subs     map[int]int // node -> subscriptions confirmed so far
	switches []Switch
}

type sentinelProc struct {
	node int
	addr string // ip:port
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartSentinels starts one redis-sentinel on each of nodes, each in its
// node's namespace, monitoring master with parallel-syncs 1 and
// protected mode off; each one's config file (which Sentinel rewrites
// with what it learns) and log are in the bed's directory. It returns
// once every Sentinel answers and its +switch-master subscription is
// confirmed; it does not wait for them to discover each other and the
// replicas (WaitSettled does). Cleanup kills them all, also when the
// test fails, and then logs the tail of each one's log.
func (b *Bed) StartSentinels(master *Redis, nodes []int, opts SentinelOptions) *Sentinels {
	b.t.Helper()
	bin := RequireTool(b.t, "redis-sentinel", "redis-sentinel")
	if opts.Name == "" {
		opts.Name = "mymaster"
	}
	if opts.Quorum == 0 {
		opts.Quorum = 2
	}
	if opts.DownAfter == 0 {
		opts.DownAfter = 30 * time.Second
	}
	if opts.FailoverTimeout == 0 {
		opts.FailoverTimeout = 180 * time.Second
	}
	if opts.Network == "" {
		opts.Network = b.opt.Networks[0].Name
	}
	mhost, mport, err := net.SplitHostPort(master.Addr)
	if err != nil {
		b.t.Fatalf("testbed: StartSentinels: master address %q: %v", master.Addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sentinels{b: b, opt: opts, nodes: slices.Clone(nodes), bin: bin, ctx: ctx, cancel: cancel,
		procs: map[int]*sentinelProc{}, subs: map[int]int{}}
	b.t.Cleanup(s.close)
	for _, i := range nodes {
		ip := b.IP(i, opts.Network).String()
		p := &sentinelProc{node: i, addr: net.JoinHostPort(ip, fmt.Sprint(SentinelPort)),
			dir: filepath.Join(b.dir, fmt.Sprintf("sentinel%d", i))}
		if err := os.MkdirAll(p.dir, 0o755); err != nil {
			b.t.Fatalf("testbed: StartSentinels: %v", err)
		}
		conf := []string{
			fmt.Sprintf("port %d", SentinelPort),
			"bind " + ip,
			"protected-mode no",
			"daemonize no",
			"dir " + p.dir,
			"logfile " + filepath.Join(p.dir, "sentinel.log"),
			"sentinel announce-ip " + ip,
			fmt.Sprintf("sentinel announce-port %d", SentinelPort),
			fmt.Sprintf("sentinel monitor %s %s %s %d", opts.Name, mhost, mport, opts.Quorum),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", opts.Name, opts.DownAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", opts.Name, opts.FailoverTimeout.Milliseconds()),
			fmt.Sprintf("sentinel parallel-syncs %s 1", opts.Name),
		}
		conf = append(conf, opts.Extra...)
		// Sentinel refuses to start without a writable config file: it
		// rewrites it with its id, the epochs and what it discovers.
		if err := os.WriteFile(p.conf(), []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
			b.t.Fatalf("testbed: StartSentinels: %v", err)
		}
		s.procs[i] = p
	}
	for _, i := range nodes {
		s.start(s.procs[i])
	}
	for _, i := range nodes {
		s.wg.Add(1)
		go s.watch(i)
	}
	for _, i := range nodes {
		s.waitSubscribed(i, 0)
	}
	return s
}

func (p *sentinelProc) conf() string { return filepath.Join(p.dir, "sentinel.conf") }

// start runs p's Sentinel and waits until it answers PING. s.mu is not held.
func (s *Sentinels) start(p *sentinelProc) {
	s.b.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", s.b.NodeNS(p.node), s.bin, p.conf())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.b.t.Fatalf("testbed: sentinel on node%d: %v", p.node, err)
	}
	done := make(chan struct{})
	go func() { // owned by p: Kill waits for it
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	p.cmd, p.done = cmd, done
	s.mu.Unlock()
	c := s.client(p.node)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		select {
		case <-done:
			s.b.t.Fatalf("testbed: sentinel on node%d exited (log %s)", p.node, filepath.Join(p.dir, "sentinel.log"))
		default:
		}
		if time.Now().After(deadline) {
			s.b.t.Fatalf("testbed: sentinel on node%d not answering after 10s (log %s)", p.node, filepath.Join(p.dir, "sentinel.log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr returns the ip:port of node i's Sentinel.
func (s *Sentinels) Addr(i int) string { return s.proc(i).addr }

// LogPath returns the path of node i's Sentinel log (its events, e.g.
// +sdown, +odown, +elected-leader, +switch-master, +convert-to-slave).
func (s *Sentinels) LogPath(i int) string { return filepath.Join(s.proc(i).dir, "sentinel.log") }

// Name returns the monitored master's name.
func (s *Sentinels) Name() string { return s.opt.Name }

// Nodes returns the nodes that have a Sentinel.
func (s *Sentinels) Nodes() []int { return slices.Clone(s.nodes) }

func (s *Sentinels) proc(i int) *sentinelProc {
	s.b.t.Helper()
	p := s.procs[i] // written only by StartSentinels
	if p == nil {
		s.b.t.Fatalf("testbed: no sentinel on node%d", i)
	}
	return p
}

// running reports whether node i's Sentinel process is up (not killed).
func (s *Sentinels) running(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[i].cmd != nil
}

// Kill kills node i's Sentinel (SIGKILL) and waits for it; nothing if it
// is not running. Its config file stays, so Restart resumes with what it
// knew.
func (s *Sentinels) Kill(i int) {
	p := s.proc(i)
	s.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Restart starts node i's Sentinel again (killing it first if needed) from
// its rewritten config file, and returns once it answers and its
// +switch-master subscription is confirmed again. A +switch-master it
// publishes before that (it learns a failover it missed from the others'
// hello messages, seconds after start) may be missed; that failover was
// seen by the others, and Failovers counts it by epoch.
func (s *Sentinels) Restart(i int) {
	s.b.t.Helper()
	s.Kill(i)
	s.mu.Lock()
	n := s.subs[i]
	s.mu.Unlock()
	s.start(s.proc(i))
	s.waitSubscribed(i, n)
}

// Signal sends sig to node i's Sentinel (SIGSTOP, SIGCONT).
func (s *Sentinels) Signal(i int, sig syscall.Signal) {
	p := s.proc(i)
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.cmd != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// close stops the watchers and kills every Sentinel; on failure it logs
// the tail of each Sentinel's log.
func (s *Sentinels) close() {
	s.cancel()
	for _, i := range s.nodes {
		s.Kill(i)
	}
	s.wg.Wait()
	if !s.b.t.Failed() {
		return
	}
	for _, i := range s.nodes {
		data, err := os.ReadFile(filepath.Join(s.procs[i].dir, "sentinel.log"))
		if err != nil {
			s.b.t.Logf("testbed: sentinel on node%d: %v", i, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		s.b.t.Logf("testbed: sentinel on node%d, last %d log lines:\n%s", i, len(lines), strings.Join(lines, "\n"))
	}
}

// client is a client of node i's Sentinel whose connections are made from
// node i's namespace. RESP2: pub/sub messages then arrive as replies
// rather than RESP3 pushes, which go-redis's Sentinel client discards.
func (s *Sentinels) client(i int) *goredis.SentinelClient {
	return goredis.NewSentinelClient(&goredis.Options{Addr: s.procs[i].addr, Protocol: 2, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		Dialer: nsDialer(s.b.NodeNS(i))})
}

// nsDialer dials from namespace ns.
func nsDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		var d net.Dialer
		err := InNS(ns, func() (err error) {
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// redisAt is a client of the Redis server at addr, dialled from the
// namespace of the node that has that address on the Sentinels' network
// (so that no network fault cuts it), or nil if no node has it.
func (s *Sentinels) redisAt(addr string) (*goredis.Client, int) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, -1
	}
	for i := range s.b.N() {
		if s.b.IP(i, s.opt.Network).String() == host {
			return goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2, MaxRetries: -1,
				DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
				Dialer: nsDialer(s.b.NodeNS(i))}), i
		}
	}
	return nil, -1
}

// NodeOf returns the node that has addr's IP on the Sentinels' network, or -1.
func (s *Sentinels) NodeOf(addr string) int {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return -1
	}
	for i := range s.b.N() {
		if s.b.IP(i, s.opt.Network).String() == host {
			return i
		}
	}
	return -1
}

// watch keeps a +switch-master subscription on node i's Sentinel until
// the Sentinels are closed, subscribing again after every error (the
// Sentinel died, or was restarted).
func (s *Sentinels) watch(i int) {
	defer s.wg.Done()
	for s.ctx.Err() == nil {
		c := s.client(i)
		ps := c.Subscribe(s.ctx, "+switch-master")
		for s.ctx.Err() == nil {
			// A bounded wait, so that closing is noticed: go-redis does not
			// interrupt a blocked read on cancel, and a timeout leaves the
			// subscription intact.
			msg, err := ps.ReceiveTimeout(s.ctx, time.Second)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if err != nil {
				break
			}
			switch m := msg.(type) {
			case *goredis.Subscription:
				if m.Kind == "subscribe" {
					s.mu.Lock()
					s.subs[i]++
					s.mu.Unlock()
				}
			case *goredis.Message:
				at := time.Now()
				sw := Switch{Sentinel: i, At: at}
				// "<name> <old ip> <old port> <new ip> <new port>"
				if f := strings.Fields(m.Payload); len(f) == 5 && f[0] == s.opt.Name {
					sw.From, sw.To = net.JoinHostPort(f[1], f[2]), net.JoinHostPort(f[3], f[4])
				} else {
					continue
				}
				// The epoch tells failovers apart: every Sentinel publishes
				// +switch-master for the same failover (its leader when it
				// switches, the others when they learn of it), with the
				// epoch of that failover as the master's config-epoch.
				ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
				if mm, err := c.Master(ctx, s.opt.Name).Result(); err == nil {
					sw.Epoch, _ = strconv.ParseInt(mm["config-epoch"], 10, 64)
				}
				cancel()
				s.mu.Lock()
				s.switches = append(s.switches, sw)
				s.mu.Unlock()
			}
		}
		_ = ps.Close()
		_ = c.Close()
		select {
		case <-s.ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitSubscribed waits until node i's subscription count exceeds n.
func (s *Sentinels) waitSubscribed(i, n int) {
	s.b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := s.subs[i]
		s.mu.Unlock()
		if got > n {
			return
		}
		if time.Now().After(deadline) {
			s.b.t.Fatalf("testbed: no +switch-master subscription on node%d's sentinel after 10s", i)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Switches returns the +switch-master events received so far, in order of
// receipt. One failover gives up to one event per Sentinel.
func (s *Sentinels) Switches() []Switch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.switches)
}

// SwitchesSince returns the events received at or after t.
func (s *Sentinels) SwitchesSince(t time.Time) []Switch {
	var out []Switch
	for _, sw := range s.Switches() {
		if !sw.At.Before(t) {
			out = append(out, sw)
		}
	}
	return out
}

// FailoversSince returns the first event of each failover first seen at
// or after t, in order. Events are grouped by epoch: one failover has one
// epoch, however many Sentinels report it and however late a restarted
// one learns of it. An event whose epoch could not be read stands for a
// failover of its own unless another event of the same old -> new master,
// with a known epoch or received before it, was received less than 10s
// from it.
func (s *Sentinels) FailoversSince(t time.Time) []Switch {
	all := s.Switches()
	first := map[int64]Switch{}
	var out []Switch
	for k, sw := range all {
		if sw.Epoch != 0 {
			if f, ok := first[sw.Epoch]; !ok || sw.At.Before(f.At) {
				first[sw.Epoch] = sw
			}
			continue
		}
		if sw.At.Before(t) {
			continue
		}
		dup := false
		for j, o := range all {
			d := o.At.Sub(sw.At).Abs()
			if j != k && o.From == sw.From && o.To == sw.To && d < 10*time.Second && (j < k || o.Epoch != 0) {
				dup = true
			}
		}
		if !dup {
			out = append(out, sw)
		}
	}
	for _, f := range first {
		if !f.At.Before(t) {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b Switch) int { return a.At.Compare(b.At) })
	return out
}

// Failovers counts the failovers first seen at or after t (FailoversSince).
func (s *Sentinels) Failovers(t time.Time) int { return len(s.FailoversSince(t)) }

// Master asks the Sentinels, in node order, for the master's address and
// returns the first answer; an error if none answers. During a partition
// Sentinels may disagree: Views shows each one's answer.
func (s *Sentinels) Master() (addr string, err error) {
	err = errors.New("no sentinel running")
	for _, i := range s.nodes {
		if !s.running(i) {
			continue
		}
		var a string
		if a, err = s.masterOf(i); err == nil {
			return a, nil
		}
	}
	return "", err
}

// MasterNode is Master as a node index (-1 with the error).
func (s *Sentinels) MasterNode() (int, error) {
	a, err := s.Master()
	if err != nil {
		return -1, err
	}
	if i := s.NodeOf(a); i >= 0 {
		return i, nil
	}
	return -1, fmt.Errorf("master %s is no node's address on %s", a, s.opt.Network)
}

// Views returns each running Sentinel's answer for the master's address,
// or the error it gave, by node.
func (s *Sentinels) Views() map[int]string {
	out := map[int]string{}
	for _, i := range s.nodes {
		if !s.running(i) {
			out[i] = "killed"
			continue
		}
		a, err := s.masterOf(i)
		if err != nil {
			a = "error: " + err.Error()
		}
		out[i] = a
	}
	return out
}

func (s *Sentinels) masterOf(i int) (string, error) {
	c := s.client(i)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := c.GetMasterAddrByName(ctx, s.opt.Name).Result()
	if err != nil {
		return "", fmt.Errorf("sentinel on node%d: %w", i, err)
	}
	if len(r) != 2 {
		return "", fmt.Errorf("sentinel on node%d: get-master-addr-by-name: %q", i, r)
	}
	return net.JoinHostPort(r[0], r[1]), nil
}

// Settled reports whether the Sentinels and the Redis servers agree and a
// failover would work: every running Sentinel names the same master, sees
// it up and no failover in progress, knows every other Sentinel and at
// least one replica, and sees every replica it knows up with its link to
// the master up; the master's redis says it is a master, and each
// replica's redis says its link to that master is up. It returns the
// master's address, or why not.
func (s *Sentinels) Settled() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	master := ""
	var replicas []string
	running := 0
	for _, i := range s.nodes {
		if !s.running(i) {
			continue
		}
		running++
		a, err := s.masterOf(i)
		if err != nil {
			return "", err
		}
		if master == "" {
			master = a
		} else if a != master {
			return "", fmt.Errorf("sentinels disagree: %v", s.Views())
		}
		c := s.client(i)
		m, err := c.Master(ctx, s.opt.Name).Result()
		if err != nil {
			c.Close()
			return "", fmt.Errorf("sentinel on node%d: sentinel master: %w", i, err)
		}
		if m["flags"] != "master" {
			c.Close()
			return "", fmt.Errorf("sentinel on node%d: master %s flags %q", i, master, m["flags"])
		}
		if n, _ := strconv.Atoi(m["num-other-sentinels"]); n < len(s.nodes)-1 {
			c.Close()
			return "", fmt.Errorf("sentinel on node%d knows %d other sentinels, want %d", i, n, len(s.nodes)-1)
		}
		rs, err := c.Replicas(ctx, s.opt.Name).Result()
		c.Close()
		if err != nil {
			return "", fmt.Errorf("sentinel on node%d: sentinel replicas: %w", i, err)
		}
		if len(rs) == 0 {
			return "", fmt.Errorf("sentinel on node%d knows no replica of %s", i, master)
		}
		for _, r := range rs {
			addr := net.JoinHostPort(r["ip"], r["port"])
			if r["flags"] != "slave" || r["master-link-status"] != "ok" {
				return "", fmt.Errorf("sentinel on node%d: replica %s flags %q link %q", i, addr, r["flags"], r["master-link-status"])
			}
			if !slices.Contains(replicas, addr) {
				replicas = append(replicas, addr)
			}
		}
	}
	if running == 0 {
		return "", errors.New("no sentinel running")
	}
	info := func(addr string) (map[string]string, error) {
		c, _ := s.redisAt(addr)
		if c == nil {
			return nil, fmt.Errorf("%s is no node's address on %s", addr, s.opt.Network)
		}
		defer c.Close()
		txt, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return nil, fmt.Errorf("redis %s: %w", addr, err)
		}
		return parseInfo(txt), nil
	}
	mi, err := info(master)
	if err != nil {
		return "", err
	}
	if mi["role"] != "master" {
		return "", fmt.Errorf("redis %s, the sentinels' master, has role %q", master, mi["role"])
	}
	mhost, mport, _ := net.SplitHostPort(master)
	for _, r := range replicas {
		ri, err := info(r)
		if err != nil {
			return "", err
		}
		if ri["role"] != "slave" || ri["master_host"] != mhost || ri["master_port"] != mport || ri["master_link_status"] != "up" {
			return "", fmt.Errorf("redis %s: role %q master %s:%s link %q, want a replica of %s with its link up",
				r, ri["role"], ri["master_host"], ri["master_port"], ri["master_link_status"], master)
		}
	}
	return master, nil
}

// WaitSettled waits until Settled holds and returns the master's address;
// it fails the test with the last reason after timeout. Sentinel learns a
// replica's state from INFO every 10s: allow tens of seconds after a
// failover or a restart.
func (s *Sentinels) WaitSettled(timeout time.Duration) string {
	s.b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m, err := s.Settled()
		if err == nil {
			return m
		}
		if time.Now().After(deadline) {
			s.b.t.Fatalf("testbed: sentinels not settled after %v: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// parseInfo parses an INFO reply into its key:value fields.
func parseInfo(txt string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(txt, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			out[k] = v
		}
	}
	return out
}
