// Package bedutil holds the test-bed helpers the benchmark programs share:
// waiting for links without failing the run, reading every node's status,
// the agents' pids, and saving their logs.
package bedutil

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/bench/internal/proc"
	"github.com/tether-ha/tether/testbed"
)

// PollEvery is how often the benchmarks look at logs and status. Latencies
// come from timestamps in the logs, so it only bounds how soon a benchmark
// notices that something is complete.
const PollEvery = 10 * time.Millisecond

// WaitAllUp waits until every node reports every link healthy. It returns
// an error naming the node and its last status instead of failing the run,
// so that a benchmark can report what it has.
func WaitAllUp(b *testbed.Bed, timeout time.Duration) error {
	return WaitAll(b, timeout, "links not all up", func(st *status.Status) bool { return testbed.AllLinksUp(st, b.N()-1) })
}

// WaitAllChannelsUp is WaitAllUp that also waits until every channel of
// every link is UP (a link is up as soon as one channel is).
func WaitAllChannelsUp(b *testbed.Bed, timeout time.Duration) error {
	return WaitAll(b, timeout, "links or channels not all up", func(st *status.Status) bool { return AllChannelsUp(st, b.N()-1) })
}

// AllChannelsUp reports whether every link to at least peers peers is
// healthy and each of its channels is UP.
func AllChannelsUp(st *status.Status, peers int) bool {
	if !testbed.AllLinksUp(st, peers) {
		return false
	}
	for _, nd := range st.Nodes {
		if nd.Local {
			continue
		}
		for _, l := range nd.Links {
			if len(l.Channels) == 0 {
				return false
			}
			for _, c := range l.Channels {
				if c != status.ChannelUp {
					return false
				}
			}
		}
	}
	return true
}

// WaitAll waits until ok holds for every node's status, sharing one
// timeout; on timeout the error says what and shows the last status.
func WaitAll(b *testbed.Bed, timeout time.Duration, what string, ok func(*status.Status) bool) error {
	deadline := time.Now().Add(timeout)
	for i := range b.N() {
		if !b.Running(i) {
			return fmt.Errorf("node %d is not running", i)
		}
		var last *status.Status
		var lastErr error
		for {
			st, err := b.Status(i)
			if err == nil {
				last, lastErr = st, nil
				if ok(st) {
					break
				}
			} else {
				lastErr = err
			}
			if time.Now().After(deadline) {
				if lastErr != nil {
					return fmt.Errorf("node %d: %s after %v: %v", i, what, timeout, lastErr)
				}
				return fmt.Errorf("node %d: %s after %v: %s", i, what, timeout, testbed.Summary(last))
			}
			time.Sleep(PollEvery)
		}
	}
	return nil
}

// Statuses fetches every node's status.
func Statuses(b *testbed.Bed) ([]*status.Status, error) {
	out := make([]*status.Status, b.N())
	for i := range out {
		st, err := b.Status(i)
		if err != nil {
			return nil, fmt.Errorf("status of node %d: %w", i, err)
		}
		out[i] = st
	}
	return out, nil
}

// Timers are the effective timers of a bed, as the agent reports them.
type Timers struct {
	HeartbeatMs   float64 `json:"heartbeat_ms"`
	PeerTroubleMs float64 `json:"peertrouble_ms"`
	PeerInactMs   float64 `json:"peerinact_ms"`
}

// String formats the timers as "hb/trouble/inact ms".
func (t Timers) String() string {
	return fmt.Sprintf("%g/%g/%g ms", t.HeartbeatMs, t.PeerTroubleMs, t.PeerInactMs)
}

// EffectiveTimers returns the timers node 0 reports.
func EffectiveTimers(b *testbed.Bed) (Timers, error) {
	st, err := b.Status(0)
	if err != nil {
		return Timers{}, err
	}
	return Timers{HeartbeatMs: st.Config.HeartbeatMs, PeerTroubleMs: st.Config.PeerTroubleMs, PeerInactMs: st.Config.PeerInactMs}, nil
}

// AgentPids returns each node's tetherd pid, checking that it is tetherd
// itself (ip netns exec execs it) and not a wrapper.
func AgentPids(b *testbed.Bed) ([]int, error) {
	pids := make([]int, b.N())
	for i := range pids {
		pid := b.Pid(i)
		comm, err := proc.Comm(pid)
		if err != nil {
			return nil, fmt.Errorf("node %d pid %d: %w", i, pid, err)
		}
		if comm != "tetherd" {
			return nil, fmt.Errorf("node %d pid %d is %q, not tetherd", i, pid, comm)
		}
		pids[i] = pid
	}
	return pids, nil
}

// RSS returns the RSS of every agent of b, in KiB.
func RSS(b *testbed.Bed) ([]int64, error) {
	pids, err := AgentPids(b)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(pids))
	for k, pid := range pids {
		m, err := proc.ReadMem(pid)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", k, err)
		}
		out[k] = m.RSSKiB
	}
	return out, nil
}

// StopAll stops every running agent of b, so that it uses no CPU while
// the next phase measures.
func StopAll(b *testbed.Bed) {
	for i := range b.N() {
		if b.Running(i) {
			b.Stop(i)
		}
	}
}

// SaveLogs copies the node logs of b to dir/logs/<phase>-node<i>.log.
func SaveLogs(b *testbed.Bed, dir, phase string) error {
	ldir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(ldir, 0o755); err != nil {
		return err
	}
	for i := range b.N() {
		data, err := os.ReadFile(b.LogPath(i))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(ldir, fmt.Sprintf("%s-node%d.log", phase, i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Cursor hands out each node's log events once, in log order per node.
type Cursor struct {
	b    *testbed.Bed
	next []int
}

// NewCursor returns a cursor at the start of every node's log.
func NewCursor(b *testbed.Bed) *Cursor { return &Cursor{b: b, next: make([]int, b.N())} }

// Poll returns the events logged since the last Poll, all nodes.
func (c *Cursor) Poll() []testbed.Event {
	var out []testbed.Event
	for i := range c.next {
		evs := c.b.Events(i)
		out = append(out, evs[c.next[i]:]...)
		c.next[i] = len(evs)
	}
	return out
}

// IsTransition reports whether e is a link or node state change.
func IsTransition(e testbed.Event) bool {
	return strings.HasPrefix(e.ID, "link.") && e.ID != "link.reason" || e.ID == "node.state"
}

// Prepare is the common start of a benchmark program's run: it needs root,
// a built tetherd in binDir (returned absolute) and an output directory.
func Prepare(t testbed.T, binDir, outDir string) string {
	testbed.RequireRoot(t)
	bin, err := filepath.Abs(binDir)
	if err != nil {
		t.Fatalf("-bin %s: %v", binDir, err)
	}
	if _, err := os.Stat(filepath.Join(bin, "tetherd")); err != nil {
		t.Fatalf("-bin %s: %v (run make build first)", binDir, err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatalf("-out: %v", err)
	}
	return bin
}

// CommandLine is how this program was run, for the results' record.
func CommandLine() string {
	return strings.Join(append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...), " ")
}

// Begin is the start of a measurement window on a bed: the agents' pids,
// their statuses now, and a log cursor past everything logged so far.
func Begin(b *testbed.Bed) (pids []int, before []*status.Status, cur *Cursor, err error) {
	if pids, err = AgentPids(b); err != nil {
		return nil, nil, nil, err
	}
	if before, err = Statuses(b); err != nil {
		return nil, nil, nil, err
	}
	cur = NewCursor(b)
	cur.Poll()
	return pids, before, cur, nil
}

// Finish stops every agent of b and saves their logs under dir for phase;
// a failure to save is logged, not fatal (the measurements stand).
func Finish(t testbed.T, b *testbed.Bed, dir, phase string) {
	StopAll(b)
	if err := SaveLogs(b, dir, phase); err != nil {
		t.Logf("save %s logs: %v", phase, err)
	}
}

// Run is what every benchmark program's results start with: the machine,
// when and how it ran.
type Run struct {
	Machine  proc.Machine `json:"machine"`
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished,omitzero"`
	Command  string       `json:"command"`
}

// StartRun records the machine (tetherd from binDir) and the start.
func StartRun(binDir string) Run {
	return Run{Machine: proc.MachineInfo(binDir), Started: time.Now(), Command: CommandLine()}
}

// End records the end of the run and the load average then.
func (r *Run) End() {
	r.Finished = time.Now()
	r.Machine.LoadAfter = proc.LoadAvg()
}

// FastTimers is the config timers section of the 10/20/30 ms profile
// (BFD's aggressive 10 ms × 3), which both benchmark programs measure.
func FastTimers() map[string]string {
	return map[string]string{"heartbeat": "10ms", "peertrouble": "20ms", "peerinact": "30ms"}
}

// Parts parses a comma-separated -only value against the parts a program
// knows.
func Parts(value string, known ...string) ([]string, error) {
	var parts []string
	for p := range strings.SplitSeq(value, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(known, p) {
			return nil, fmt.Errorf("-only: unknown part %q (want %s)", p, strings.Join(known, ", "))
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// Main is the main function of a benchmark program: it parses the
// command line with parse (exit 0 for -h, 2 with the error otherwise) and
// runs run under testbed.Main, which cleans up and sets the exit status.
func Main[O any](name string, parse func(args []string, stderr io.Writer) (O, error), run func(testbed.T, O)) {
	o, err := parse(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	os.Exit(testbed.Main(func(t testbed.T) { run(t, o) }))
}
