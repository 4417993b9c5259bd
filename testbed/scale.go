package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
)

// Big beds.
//
// New builds a bed of 64 nodes × 2 networks (65 namespaces, 128 veth
// pairs) in well under a second and StartAll starts its agents in about
// one; the address plan holds up to MaxNodes nodes. What does not scale
// is watching the agents through their status: the document grows with
// the square of the cluster (its matrix holds every node's view of every
// link: 64 × 63 × 2 = 8,064 links, over a megabyte of JSON) and the agent
// builds it with its engine locked, so WaitAllUp's and WaitFor's reads of
// every node every 20 ms would load the agents they watch. The functions
// here watch the nodes' logs instead (reading a log file costs an agent
// nothing) and read a node's status only to confirm what its log says, or
// at a low, bounded rate when the log cannot tell.

// Pacing of AllUp.
const (
	// scalePoll is how often AllUp reads what the logs gained.
	scalePoll = 50 * time.Millisecond
	// confirmEvery is how soon AllUp reads a node's status again after a
	// read that did not show every link healthy.
	confirmEvery = time.Second
	// fallbackEvery is how often AllUp reads the status of a node whose
	// log does not show every link healthy (one node per period, in
	// turn), in case the agent dropped log records.
	fallbackEvery = 500 * time.Millisecond
	// progressEvery is how often AllUp calls its progress function.
	progressEvery = time.Second
)

// LinkState is a link's state as its observer last logged it (a link.up,
// link.down, link.trouble or link.reason event).
type LinkState struct {
	State        string // UP, TROUBLE, DOWN
	Reason       string // "" when healthy
	RemoteReason string
	At           time.Time // of the event
}

// Healthy reports whether the link was logged UP with no reason.
func (s LinkState) Healthy() bool { return s.State == status.LinkUp && s.Reason == "" }

// logLink names one of a node's links: the peer and the network.
type logLink struct {
	peer int
	net  string
}

// LinkLog follows the logs of every node of a bed and keeps, per node,
// the last logged state of each of its links during the node's latest
// run. It reads each log incrementally (a LogTail: nothing else of the
// logs is kept) and never touches the agents. A LinkLog is not safe for
// concurrent use.
type LinkLog struct {
	b     *Bed
	tail  *LogTail
	nodes []linkLogNode
}

type linkLogNode struct {
	run     int
	links   map[logLink]LinkState
	healthy int       // links logged healthy
	last    time.Time // of the last link event of the run
}

// NewLinkLog returns a LinkLog that has read every log so far.
func (b *Bed) NewLinkLog() (*LinkLog, error) {
	l := &LinkLog{b: b, tail: b.NewLogTail("link."), nodes: make([]linkLogNode, len(b.nodes))}
	for i := range l.nodes {
		l.nodes[i].links = map[logLink]LinkState{}
	}
	return l, l.Update()
}

// Update reads what the logs gained since the last call.
func (l *LinkLog) Update() error {
	evs, err := l.tail.Poll()
	for _, e := range evs {
		l.take(e.Node, e)
	}
	for i := range l.nodes {
		l.newRun(i, l.tail.Run(i))
	}
	return err
}

// newRun forgets node i's links when its log has reached a later run:
// the agent starts from nothing.
func (l *LinkLog) newRun(i, run int) {
	ln := &l.nodes[i]
	if run != ln.run {
		ln.run, ln.healthy, ln.last = run, 0, time.Time{}
		clear(ln.links)
	}
}

// take applies one link.* event of node i.
func (l *LinkLog) take(i int, e Event) {
	l.newRun(i, e.Run)
	ln := &l.nodes[i]
	switch e.ID {
	case "link.up", "link.down", "link.trouble", "link.reason":
	default:
		return
	}
	peer, ok := e.Int("peer_id")
	net := e.Str("network")
	if !ok || peer < 0 || int(peer) >= len(l.b.nodes) || int(peer) == i {
		return
	}
	if _, known := l.b.netIdx[net]; !known {
		return
	}
	k := logLink{peer: int(peer), net: net}
	if ln.links[k].Healthy() {
		ln.healthy--
	}
	s := LinkState{State: e.Str("state"), Reason: e.Str("reason"), RemoteReason: e.Str("remote_reason"), At: e.Time}
	ln.links[k] = s
	if s.Healthy() {
		ln.healthy++
	}
	ln.last = e.Time
}

// Link returns node i's last logged state of its link to peer on net;
// ok is false when node i logged nothing about it in its latest run.
func (l *LinkLog) Link(i, peer int, net string) (s LinkState, ok bool) {
	s, ok = l.nodes[i].links[logLink{peer: peer, net: net}]
	return s, ok
}

// Healthy returns how many of node i's links its log shows UP with no
// reason in its latest run.
func (l *LinkLog) Healthy(i int) int { return l.nodes[i].healthy }

// Links returns how many links each node has: (nodes − 1) × networks.
func (l *LinkLog) Links() int { return (len(l.b.nodes) - 1) * len(l.b.opt.Networks) }

// LastChange returns when node i last logged a link event in its latest
// run (zero: none yet).
func (l *LinkLog) LastChange(i int) time.Time { return l.nodes[i].last }

// Counts returns how many of node i's links its log shows in each state,
// with the reason: "UP", "DOWN peer-silent", ...; links never logged
// count as "none".
func (l *LinkLog) Counts(i int) map[string]int {
	out := map[string]int{}
	for _, s := range l.nodes[i].links {
		k := s.State
		if s.Reason != "" {
			k += " " + s.Reason
		}
		out[k]++
	}
	if n := l.Links() - len(l.nodes[i].links); n > 0 {
		out["none"] += n
	}
	return out
}

// UpProgress is what AllUp reports while it waits.
type UpProgress struct {
	Elapsed time.Duration
	// Links of the running nodes, and those their logs show healthy.
	Links, Healthy int
	// Running nodes, and those whose status confirmed every link healthy.
	Nodes, Confirmed int
}

// AllUp waits until every running node reports every link to every other
// node healthy (UP, no reason), like WaitAllUp, but loads the agents far
// less, so that it suits beds of tens of nodes: it follows the logs until
// a node has logged each of its links healthy, then reads that node's
// status once to confirm (again at most once a second if the status
// disagrees), and reads the status of one node whose log does not show it
// healthy every 500 ms, in turn, in case an agent dropped log records.
// A node confirmed healthy is waited for again if it logs a link change
// that leaves it unhealthy. progress, if not nil, is called about once a
// second.
//
// It returns when the last node became healthy: the time of its last
// link event (logged by the agent) if its log shows it, else the time of
// the status read that showed it. On timeout the error says how many
// nodes and links are healthy and describes the first nodes that are not;
// AllUp does not fail the test, so that a benchmark can report what it
// saw (WaitAllUpQuietly is the failing variant).
func (b *Bed) AllUp(timeout time.Duration, progress func(UpProgress)) (time.Time, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	ll, err := b.NewLinkLog()
	if err != nil {
		return time.Time{}, err
	}
	n := len(b.nodes)
	want := ll.Links()
	confirmed := make([]bool, n)
	confirmedAt := make([]time.Time, n) // LastChange when confirmed
	upAt := make([]time.Time, n)
	readAt := make([]time.Time, n)
	last := make([]*status.Status, n)
	lastErr := make([]error, n)
	read := func(i int) bool {
		readAt[i] = time.Now()
		st, err := b.Status(i)
		last[i], lastErr[i] = st, err
		return err == nil && AllLinksUp(st, n-1)
	}
	var nextFallback, nextProgress time.Time
	rr := 0
	for {
		if err := ll.Update(); err != nil {
			return time.Time{}, err
		}
		now := time.Now()
		var p UpProgress
		for i := range n {
			if !b.Running(i) {
				continue
			}
			logOK := ll.Healthy(i) == want
			if confirmed[i] && !logOK && ll.LastChange(i).After(confirmedAt[i]) {
				confirmed[i] = false // it logged a change for the worse since
			}
			if !confirmed[i] && logOK && now.Sub(readAt[i]) >= confirmEvery && read(i) {
				confirmed[i], confirmedAt[i], upAt[i] = true, ll.LastChange(i), ll.LastChange(i)
			}
			p.Nodes++
			p.Links += want
			p.Healthy += ll.Healthy(i)
			if confirmed[i] {
				p.Confirmed++
			}
		}
		if !now.Before(nextFallback) {
			nextFallback = now.Add(fallbackEvery)
			for range n {
				i := rr
				rr = (rr + 1) % n
				if !b.Running(i) || confirmed[i] || ll.Healthy(i) == want || now.Sub(readAt[i]) < confirmEvery {
					continue
				}
				if read(i) {
					confirmed[i], confirmedAt[i], upAt[i] = true, ll.LastChange(i), last[i].Now
					p.Confirmed++
				}
				break
			}
		}
		if p.Confirmed == p.Nodes {
			var at time.Time
			for i := range n {
				if b.Running(i) && upAt[i].After(at) {
					at = upAt[i]
				}
			}
			return at, nil
		}
		if progress != nil && !now.Before(nextProgress) {
			nextProgress = now.Add(progressEvery)
			p.Elapsed = now.Sub(start)
			progress(p)
		}
		if now.After(deadline) {
			return time.Time{}, b.upError(timeout, ll, p, confirmed, last, lastErr)
		}
		time.Sleep(scalePoll)
	}
}

// upError describes why AllUp timed out.
func (b *Bed) upError(timeout time.Duration, ll *LinkLog, p UpProgress, confirmed []bool, last []*status.Status, lastErr []error) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "links not all up after %v: %d of %d running nodes confirmed healthy, %d of %d links healthy by the logs",
		timeout, p.Confirmed, p.Nodes, p.Healthy, p.Links)
	shown := 0
	for i := range b.nodes {
		if !b.Running(i) || confirmed[i] {
			continue
		}
		if shown == 5 {
			sb.WriteString("\n  ...")
			break
		}
		shown++
		fmt.Fprintf(&sb, "\n  node %d: log %s", i, countsString(ll.Counts(i)))
		switch {
		case lastErr[i] != nil:
			fmt.Fprintf(&sb, "; last status read failed: %v", lastErr[i])
		case last[i] != nil:
			fmt.Fprintf(&sb, "; status at %s: %s", last[i].Now.Format("15:04:05.000"), countsString(StatusCounts(last[i])))
		}
	}
	return errors.New(sb.String())
}

// WaitAllUpQuietly is AllUp that fails the test on timeout, with the
// tail of the log of the first node not up.
func (b *Bed) WaitAllUpQuietly(timeout time.Duration) time.Time {
	b.t.Helper()
	at, err := b.AllUp(timeout, nil)
	if err != nil {
		b.t.Fatalf("testbed: %v", err)
	}
	return at
}

// StatusCounts counts the links of st's peers by state and reason: "UP",
// "DOWN peer-silent", "TROUBLE", ... (healthy links are "UP").
func StatusCounts(st *status.Status) map[string]int {
	out := map[string]int{}
	for _, nd := range st.Nodes {
		if nd.Local {
			continue
		}
		for _, l := range nd.Links {
			k := l.State
			if l.Reason != "" {
				k += " " + l.Reason
			}
			out[k]++
		}
	}
	return out
}

// countsString formats counts as "UP 120, DOWN peer-silent 6", largest
// first.
func countsString(c map[string]int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if c[keys[a]] != c[keys[b]] {
			return c[keys[a]] > c[keys[b]]
		}
		return keys[a] < keys[b]
	})
	parts := make([]string, len(keys))
	for k, key := range keys {
		parts[k] = fmt.Sprintf("%s %d", key, c[key])
	}
	if len(parts) == 0 {
		return "no links"
	}
	return strings.Join(parts, ", ")
}

// WaitForEvery is WaitFor polling node i's status every `every` instead
// of every 20 ms: on a big bed, where one status document is large and
// costs the agent real work, poll slowly.
func (b *Bed) WaitForEvery(i int, what string, timeout, every time.Duration, ok func(*status.Status) bool) *status.Status {
	b.t.Helper()
	return b.waitFor(i, what, timeout, max(every, pollInterval), ok)
}

// LogTail reads the logs of every node of a bed from where it last
// stopped and hands out the events whose id is among the ids it was made
// for, keeping nothing (Events and WaitEvent keep every event of every
// node, which for a big bed over a long run, or a flapping one, grows to
// gigabytes). Lines of other events are skipped without being decoded. It
// never touches the agents. A LogTail is not safe for concurrent use.
type LogTail struct {
	b     *Bed
	match [][]byte
	nodes []logCursor
}

// NewLogTail returns a LogTail at the start of every node's log, for the
// events with the given ids; an id ending in "." stands for every id it
// begins ("link." is link.up, link.down, ...). Call Poll once to skip what
// was logged so far.
func (b *Bed) NewLogTail(ids ...string) *LogTail {
	l := &LogTail{b: b, nodes: make([]logCursor, len(b.nodes))}
	for _, id := range ids {
		m := `"event":"` + id
		if !strings.HasSuffix(id, ".") {
			m += `"`
		}
		l.match = append(l.match, []byte(m))
	}
	return l
}

// Poll returns the matching events logged since the last call, node by
// node, each node's in log order. On an error reading one log it returns
// what the other logs gave and the error.
func (l *LogTail) Poll() ([]Event, error) {
	var out []Event
	var first error
	for i, n := range l.b.nodes {
		evs, err := l.read(i, n.log, out)
		out = evs
		if err != nil && first == nil {
			first = fmt.Errorf("read node %d log: %w", i, err)
		}
	}
	return out, first
}

// Run returns the run of node i's last line read: 1 for the first Start,
// 0 before.
func (l *LogTail) Run(i int) int { return l.nodes[i].run }

// read appends node i's new matching events to out.
func (l *LogTail) read(i int, path string, out []Event) ([]Event, error) {
	err := l.nodes[i].lines(path, func(line []byte, run int) {
		if !slices.ContainsFunc(l.match, func(m []byte) bool { return bytes.Contains(line, m) }) {
			return
		}
		if ev, ok := parseEvent(line); ok {
			ev.Node, ev.Run = i, run
			out = append(out, ev)
		}
	})
	return out, err
}
