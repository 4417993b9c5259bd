package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/history"
	"github.com/tether-ha/tether/testbed"
)

// The Jepsen-style failover suite (DESIGN.md "How we test"): a client
// writes continuously through the resource, logging every acknowledged
// write with the node that took it and when it was sent; faults are
// injected on the primary; a checker reads every node's failover history
// and the data left and asserts: never two writable primaries (no write
// sent after another node's promotion is acknowledged by the old one),
// no acknowledged write lost with acks: mirror, loss with acks: local
// within the lag the history recorded, and no failover at all where the
// primary did not die (interconnect-only partition, one-way loss on one
// link, a flapping link). make test runs one trial of each fault per
// driver; make failover-suite runs many and writes the results.

var (
	suiteTrials  = flag.Int("suite.trials", 1, "failover suite: trials of each fault per driver")
	suiteDrivers = flag.String("suite.drivers", "builtin,redis,postgresql", "failover suite: drivers to run (also sentinel, sentinel-tuned: the race against Redis Sentinel)")
	suiteFaults  = flag.String("suite.faults", "", "failover suite: faults to inject (default: each driver's list, defaultFaults)")
	suiteOut     = flag.String("suite.out", "", "failover suite: append one JSON line per trial to this file")
	suiteQuorum  = flag.String("suite.quorum", "witness", "failover suite: the third vote: witness (a tetherd on node2) or etcd (quorum.etcd: an etcd on the public network, two nodes)")
	suitePublic  = flag.Bool("suite.public", true, "failover suite: run the public channel (without, a dead node is DOWN at peerinact, not ~3 s later when the public channel declares it dead; the interconnect fault needs it)")
)

// suiteFault is one fault of the suite.
type suiteFault struct {
	name     string
	failover bool // the primary is dead or unreachable for writes: the mirror must take over
}

// A whole-node pause (VM pause: tetherd and its back end stopped and
// continued together) is not in redis's or postgresql's default list: a
// resumed redis or postgres takes the writes queued to it before tether,
// resuming at the same time, fences it (tens of milliseconds measured for
// redis). Neither has a lease of its own for tether to hold; builtin
// checks its lease on every write. make failover-suite runs it and
// reports the count.
var defaultFaults = map[string]string{
	"builtin":    "kill,pause,interconnect,isolate,oneway,flap",
	"redis":      "kill,interconnect,isolate,oneway,flap",
	"postgresql": "kill,interconnect,isolate,oneway,flap",
	// Sentinel: the faults redis has, raced on the same pair.
	"sentinel":       "kill,interconnect,isolate,oneway,flap",
	"sentinel-tuned": "kill,interconnect,isolate,oneway,flap",
}

var allFaults = []suiteFault{
	{"kill", true},          // kill -9 of the primary node (tetherd and its back end)
	{"pause", true},         // SIGSTOP of the primary's tetherd (and back end) past grace, then SIGCONT
	{"interconnect", false}, // every private network of the primary cut, the public one up
	{"isolate", true},       // every network of the primary cut, the public one too
	{"oneway", false},       // the primary's frames lost on one private network
	{"flap", false},         // a cable of the primary pulled and put back every 300ms
}

// trialResult is one trial, as make failover-suite records it.
type trialResult struct {
	Driver     string  `json:"driver"`
	Public     bool    `json:"public"`
	Fault      string  `json:"fault"`
	Trial      int     `json:"trial"`
	From       string  `json:"from_primary"`
	To         string  `json:"to_primary"`
	Failovers  int     `json:"failovers"`
	WritableMs float64 `json:"writable_ms,omitempty"` // fault -> first write acknowledged by the new primary
	FailoverMs float64 `json:"failover_ms,omitempty"` // fault -> the first promotion (tether's history, Sentinel's +switch-master)
	Acked      int     `json:"acked"`
	Lost       int     `json:"lost"`
	LostLocal  int     `json:"lost_local,omitempty"` // of which acks: local, within the lag given up
	LagGivenUp uint64  `json:"lag_given_up,omitempty"`
	SplitBrain int     `json:"split_brain"`
	Error      string  `json:"error,omitempty"`
}

// ack is one acknowledged write.
type ack struct {
	key        string
	node       int
	sent, done time.Time
	local      bool // acks: local (builtin audit, redis, postgresql)
}

// suite is one driver's cluster: node0 and node1 hold the copies, node2 is
// the witness; hb0 and hb1 are private, pub carries the public channel.
type suite struct {
	t   *testing.T
	drv string
	be  suiteBackend
	b   *testbed.Bed
	seq int
}

func newSuite(t *testing.T, drv string) *suite {
	testbed.RequireRoot(t)
	data := t.TempDir()
	s := &suite{t: t, drv: drv, be: newSuiteBackend(t, drv, data)}
	etcd := *suiteQuorum == "etcd"
	if _, ok := s.be.(arbiter); (ok && etcd) || (!etcd && *suiteQuorum != "witness") {
		t.Fatalf("failover suite: -suite.quorum=%s with driver %s: want witness or etcd (and the Sentinel drivers need node2: witness)", *suiteQuorum, drv)
	}
	o := testbed.Options{BinDir: binDir, Nodes: 3, Networks: []testbed.NetworkSpec{
		{Name: "hb0", Channels: []string{"ether", "tcp"}},
		{Name: "hb1", Channels: []string{"ether", "tcp"}},
		{Name: "pub", Channels: []string{"tcp"}},
	}}
	if etcd {
		o.Nodes = 2
	}
	o.EditConfig = func(i int, doc map[string]any) {
		doc["resources"] = s.be.resources(i, doc)
		publicOnly(i, doc, *suitePublic)
		if etcd {
			doc["quorum"] = etcdQuorum()
		} else {
			doc["nodes"].([]any)[2].(map[string]any)["witness"] = true
		}
		if i < 2 {
			doc["replicator"] = map[string]any{"dir": filepath.Join(data, fmt.Sprintf("n%d", i)), "api": "127.0.0.1:9188"}
		}
	}
	s.b = testbed.New(t, o)
	if etcd {
		startEtcd(t, s.b)
	}
	s.be.boot(s.b)
	s.b.StartAll()
	s.b.WaitAllUp(upTimeout)
	s.be.up()
	return s
}

func (s *suite) resources() []string { return s.be.names() }

// primary is the copy node every resource names its writable primary,
// or -1 (mid-failover, or the copies disagree).
func (s *suite) primary() int {
	if a, ok := s.be.(arbiter); ok {
		return a.primary()
	}
	who := -1
	for _, res := range s.resources() {
		p := -1
		for i := range 2 {
			st, err := s.b.Status(i)
			if err != nil {
				return -1
			}
			for _, f := range st.Failover {
				if f.Resource == res && f.Role == "primary" && !f.Fenced && f.LeaseLeft > 0 {
					p = i
				}
			}
		}
		if p < 0 || (who >= 0 && p != who) {
			return -1
		}
		who = p
	}
	return who
}

// settled waits until one copy is the writable primary of every resource
// and the other mirrors it, caught up; it returns the primary.
func (s *suite) settled(timeout time.Duration) int {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p := s.primary(); p >= 0 && s.mirroring(1-p) {
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range 2 {
		if st, err := s.b.Status(i); err == nil {
			s.t.Logf("node%d: failover %+v", i, st.Failover)
			for _, m := range st.Mirrors {
				s.t.Logf("node%d: mirror %s role %s topics %+v", i, m.Resource, m.Role, m.Topics)
			}
		}
	}
	s.t.Fatalf("%s: the cluster did not settle in %v", s.drv, timeout)
	return -1
}

// mirroring reports whether node m's copies follow the other node, caught up.
func (s *suite) mirroring(m int) bool {
	if _, ok := s.be.(arbiter); ok {
		return s.be.mirroring(m, nil)
	}
	st, err := s.b.Status(m)
	if err != nil {
		return false
	}
	for _, res := range s.resources() {
		ok := false
		for _, f := range st.Failover {
			if f.Resource == res && f.Role == "mirror" && f.Primary == fmt.Sprintf("node%d", 1-m) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return s.be.mirroring(m, st)
}

// write sends one write to node i; it reports whether it was acknowledged.
func (s *suite) write(ctx context.Context, i int, key string, local bool, ss suiteSession) bool {
	ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	return ss.write(ctx, i, key, local)
}

// client writes continuously, to the node that took the last write, else
// to the other; it logs every acknowledged write.
type client struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	acks []ack
}

func (s *suite) client(trial string) *client {
	c := &client{stop: make(chan struct{}), done: make(chan struct{})}
	ss := s.be.session()
	go func() {
		defer close(c.done)
		target := 0
		for n := 0; ; n++ {
			select {
			case <-c.stop:
				ss.close()
				return
			default:
			}
			local := s.be.local(n)
			key := fmt.Sprintf("%s-%d", trial, n)
			sent := time.Now()
			if s.write(context.Background(), target, key, local, ss) {
				c.mu.Lock()
				c.acks = append(c.acks, ack{key: key, node: target, sent: sent, done: time.Now(), local: local})
				c.mu.Unlock()
				continue
			}
			target = 1 - target
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return c
}

func (c *client) halt() []ack {
	close(c.stop)
	<-c.done
	return c.acks
}

func (c *client) firstAckFrom(node int, after time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.acks {
		if a.node == node && a.sent.After(after) {
			return a.done
		}
	}
	return time.Time{}
}

// inject applies fault f to node p; the returned func heals it.
func (s *suite) inject(f string, p int) func() {
	b := s.b
	switch f {
	case "kill":
		b.Kill(p)
		s.be.kill(p)
		return func() {
			b.Start(p)
			s.be.restart(p)
		}
	case "pause":
		// The whole node stops, as in a VM pause: tetherd and its back end.
		b.Signal(p, syscall.SIGSTOP)
		s.be.signal(p, syscall.SIGSTOP)
		time.Sleep(9 * time.Second) // past detection (0.6s, the public channel ~3s), grace (3s) and the new primary's lease
		return func() {
			s.be.signal(p, syscall.SIGCONT)
			b.Signal(p, syscall.SIGCONT)
		}
	case "interconnect", "isolate":
		nets := []string{"hb0", "hb1"}
		if f == "isolate" {
			nets = append(nets, "pub")
		}
		var fs []testbed.Fault
		for _, n := range nets {
			fs = append(fs, b.Blackhole(p, n))
		}
		return func() {
			for _, x := range slices.Backward(fs) {
				x.Undo()
			}
		}
	case "oneway":
		x := b.EgressDrop(p, "hb0")
		return x.Undo
	case "flap":
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // owned here: the heal waits for it
			defer close(done)
			for {
				c := b.CablePull(p, "hb0")
				select {
				case <-stop:
					c.Undo()
					return
				case <-time.After(300 * time.Millisecond):
				}
				c.Undo()
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Millisecond):
				}
			}
		}()
		return func() {
			close(stop)
			<-done
		}
	}
	s.t.Fatalf("unknown fault %q", f)
	return nil
}

// restore makes a diverged or stopped old primary the mirror again
// (builtin needs the operator's truncate-and-restore; redis rejoins by
// itself, postgresql by tether's pg_rewind).
func (s *suite) restore(old int) { s.be.restore(old) }

// promotions are the history's promotions of resource res, from every copy node.
func (s *suite) promotions(res string, since time.Time) []history.Record {
	if a, ok := s.be.(arbiter); ok {
		return a.promotions(since)
	}
	var out []history.Record
	for i := range 2 {
		out2, _ := s.b.Exec(s.b.NodeNS(i), filepath.Join(binDir, "tetherctl"), "--socket", s.b.Socket(i), "history", "--json", "--resource", res)
		var recs []history.Record
		if json.Unmarshal([]byte(out2), &recs) != nil {
			continue
		}
		for _, r := range recs {
			if r.Action == "promoted" && r.Time.After(since) {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b history.Record) int { return a.Time.Compare(b.Time) })
	return out
}

// present reads which of keys the primary p has now.
func (s *suite) present(p int, acks []ack) map[string]bool { return s.be.present(p, acks) }

// trial runs fault f once and checks the outcome.
func (s *suite) trial(f suiteFault, n int) trialResult {
	s.t.Helper()
	p := s.settled(60 * time.Second)
	s.seq++
	res := trialResult{Driver: s.label(), Public: *suitePublic, Fault: f.name, Trial: n, From: fmt.Sprintf("node%d", p)}
	cl := s.client(fmt.Sprintf("%s-%s-%d", s.drv, f.name, s.seq))
	time.Sleep(time.Second)
	start := time.Now()
	// Past detection, grace and a promotion's lease a failover would have
	// happened; Sentinel's detection is its down-after.
	patience, hold := 20*time.Second, 6*time.Second
	a, measured := s.be.(arbiter)
	if measured {
		patience, hold = patience+a.detection(), hold+a.detection()
	}
	heal := s.inject(f.name, p)
	if f.name == "kill" || f.name == "isolate" {
		deadline := time.Now().Add(patience)
		for cl.firstAckFrom(1-p, start).IsZero() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	} else if f.name != "pause" {
		time.Sleep(hold)
	}
	heal()
	time.Sleep(time.Second) // writes go on through the heal: an old primary back must take none
	acks := cl.halt()
	if f.failover {
		s.restore(p)
	}
	np := s.settled(60 * time.Second)
	res.To, res.Acked = fmt.Sprintf("node%d", np), len(acks)
	if t := firstAck(acks, 1-p, start); !t.IsZero() && f.failover {
		res.WritableMs = float64(t.Sub(start).Microseconds()) / 1000
	}
	// The checker.
	var proms []history.Record
	for _, r := range s.resources() {
		pr := s.promotions(r, start.Add(-time.Second))
		proms = append(proms, pr...)
		for _, x := range pr {
			res.LagGivenUp += x.LagGivenUp
		}
	}
	res.Failovers = len(proms)
	slices.SortFunc(proms, func(a, b history.Record) int { return a.Time.Compare(b.Time) })
	if len(proms) > 0 {
		res.FailoverMs = float64(proms[0].Time.Sub(start).Microseconds()) / 1000
	}
	// Sentinel's outcome is measured and reported, not a failure of ours.
	fail := s.t.Errorf
	if measured {
		fail = s.t.Logf
	}
	report := func(n *int, format string, args ...any) {
		if *n < 3 {
			fail("%s %s: "+format, append([]any{s.drv, f.name}, args...)...)
		}
	}
	var sampled time.Time
	for _, pr := range proms {
		if sampled.IsZero() || pr.LagSampledAt.Before(sampled) {
			sampled = pr.LagSampledAt
		}
	}
	for _, a := range acks {
		for _, pr := range proms {
			if pr.Node != fmt.Sprintf("node%d", a.node) && a.sent.After(pr.Time) && a.node == p {
				report(&res.SplitBrain, "%s sent at %s after node %s was promoted (%s) was acknowledged by node%d: split brain",
					a.key, a.sent.Format(time.StampMicro), pr.Node, pr.Time.Format(time.StampMicro), a.node)
				res.SplitBrain++
				break
			}
		}
	}
	have := s.present(np, acks)
	after := 0 // acks: local writes of the old primary acknowledged after the lag was sampled
	for _, a := range acks {
		if a.local && a.node == p && !sampled.IsZero() && a.done.After(sampled) {
			after++
		}
		if have[a.key] {
			continue
		}
		if !a.local {
			report(&res.Lost, "%s acknowledged (acks: mirror) by node%d at %s is lost", a.key, a.node, a.done.Format(time.StampMicro))
		}
		res.Lost++
		if a.local {
			res.LostLocal++
		}
	}
	// acks: local: what the history recorded (the lag at its sample) plus
	// what the old primary acknowledged after that sample, until its lease
	// ended; nothing older.
	if limit := s.be.lossLimit(res.LagGivenUp) + uint64(after); uint64(res.LostLocal) > limit {
		fail("%s %s: %d acks: local writes lost, more than the history allows: lag %d (bytes or records) at %s, %d acknowledged after it: at most %d",
			s.drv, f.name, res.LostLocal, res.LagGivenUp, sampled.Format(time.StampMicro), after, limit)
	}
	switch {
	case f.failover && res.Failovers == 0:
		fail("%s %s: no failover", s.drv, f.name)
	case !f.failover && res.Failovers > 0:
		fail("%s %s: %d false failovers: %+v", s.drv, f.name, res.Failovers, proms)
	}
	return res
}

func firstAck(acks []ack, node int, after time.Time) time.Time {
	for _, a := range acks {
		if a.node == node && a.sent.After(after) {
			return a.done
		}
	}
	return time.Time{}
}

func faultList(t *testing.T, drv string) []suiteFault {
	list := *suiteFaults
	if list == "" {
		list = defaultFaults[drv]
	}
	var faults []suiteFault
	for _, name := range strings.Split(list, ",") {
		i := slices.IndexFunc(allFaults, func(f suiteFault) bool { return f.name == name })
		if i < 0 {
			t.Fatalf("unknown fault %q", name)
		}
		if name == "interconnect" && !*suitePublic {
			continue // PARTITIONED needs the public channel
		}
		faults = append(faults, allFaults[i])
	}
	return faults
}

func TestFailoverSuite(t *testing.T) {
	var out *os.File
	if *suiteOut != "" {
		var err error
		if out, err = os.OpenFile(*suiteOut, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			t.Fatal(err)
		}
		defer out.Close()
	}
	for _, drv := range strings.Split(*suiteDrivers, ",") {
		t.Run(drv, func(t *testing.T) {
			s := newSuite(t, drv)
			faults := faultList(t, drv)
			for n := range *suiteTrials {
				for _, f := range faults {
					r := s.trial(f, n)
					t.Logf("%s %-12s trial %d: %s -> %s, %d failover(s), writable after %.0f ms, %d acked, %d lost (%d acks: local, lag %d), %d split brain",
						drv, f.name, n, r.From, r.To, r.Failovers, r.WritableMs, r.Acked, r.Lost, r.LostLocal, r.LagGivenUp, r.SplitBrain)
					if out != nil {
						b, _ := json.Marshal(r)
						fmt.Fprintln(out, string(b))
					}
				}
			}
		})
	}
}

// label names the driver in the results, with its third vote if not the witness.
func (s *suite) label() string {
	if *suiteQuorum == "etcd" {
		return s.drv + "+etcd"
	}
	return s.drv
}
