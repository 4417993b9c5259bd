package testbed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// runMarker starts the line Start writes to a node's log before each run.
const runMarker = "### testbed: run "

// tailLines is how much of a node's log failure messages show.
const tailLines = 60

// pollInterval is how often WaitFor and WaitEvent look again.
const pollInterval = 20 * time.Millisecond

// Event is one JSON log line of tetherd (slog JSON handler), e.g.
//
//	{"time":"...","level":"INFO","msg":"link down","event":"link.down","network":"hb0","peer":"node1","peer_id":1,"reason":"peer-silent"}
//
// Stable event ids: agent.start, agent.stop, link.up, link.down,
// link.trouble, link.reason, node.state, peer.restart, nic.carrier,
// frame.rejected. Lines that are not JSON objects with "time" and "msg"
// (panics, the bed's run markers) are not events.
type Event struct {
	Node  int       // bed index of the node that logged it
	Run   int       // which Start of that node: 1, 2, ...
	Time  time.Time // "time"
	Level string    // "level": DEBUG, INFO, WARN, ERROR
	Msg   string    // "msg"
	ID    string    // "event", e.g. "link.down"; "" if absent
	// Attrs holds every other key; numbers are json.Number, groups are
	// map[string]any.
	Attrs map[string]any
}

// Str returns attribute key as a string: strings as they are, numbers and
// booleans formatted, other values as JSON; "" when absent.
func (e Event) Str(key string) string {
	switch v := e.Attrs[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	default:
		out, _ := json.Marshal(v)
		return string(out)
	}
}

// Int returns attribute key as an integer; false when absent or not an
// integer.
func (e Event) Int(key string) (int64, bool) {
	switch v := e.Attrs[key].(type) {
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// Float returns attribute key as a number; false when absent or not a
// number.
func (e Event) Float(key string) (float64, bool) {
	switch v := e.Attrs[key].(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}

// String formats e on one line: time, node, id or msg, sorted attributes.
func (e Event) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s node%d", e.Time.Format("15:04:05.000000"), e.Node)
	if e.ID != "" {
		sb.WriteString(" " + e.ID)
	}
	fmt.Fprintf(&sb, " %q", e.Msg)
	keys := make([]string, 0, len(e.Attrs))
	for k := range e.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&sb, " %s=%s", k, e.Str(k))
	}
	return sb.String()
}

// parseEvent parses one log line; ok is false for lines that are not
// events.
func parseEvent(line []byte) (ev Event, ok bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return Event{}, false
	}
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return Event{}, false
	}
	ts, _ := m["time"].(string)
	msg, hasMsg := m["msg"].(string)
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || !hasMsg {
		return Event{}, false
	}
	ev = Event{Time: t, Msg: msg}
	ev.Level, _ = m["level"].(string)
	ev.ID, _ = m["event"].(string)
	for _, k := range []string{"time", "level", "msg", "event"} {
		delete(m, k)
	}
	ev.Attrs = m
	return ev, true
}

// logCursor reads a node's log file incrementally: the lines appended
// since the last read, with the run each belongs to.
type logCursor struct {
	off     int64  // bytes of the file consumed
	run     int    // run of the lines being read
	pending []byte // incomplete last line
}

// lines calls fn with every complete line appended to path since the last
// call (run markers excluded: they set the run). A missing file has no
// lines yet.
func (c *logCursor) lines(path string, fn func(line []byte, run int)) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(c.off, io.SeekStart); err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	c.off += int64(len(data))
	data = append(c.pending, data...)
	for {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			break
		}
		line := data[:nl]
		data = data[nl+1:]
		if rest, ok := bytes.CutPrefix(line, []byte(runMarker)); ok {
			n, _, _ := bytes.Cut(rest, []byte(" "))
			if r, err := strconv.Atoi(string(n)); err == nil {
				c.run = r
			}
			continue
		}
		fn(line, c.run)
	}
	c.pending = append([]byte(nil), data...)
	return nil
}

// eventLog incrementally parses a node's log file.
type eventLog struct {
	mu     sync.Mutex
	cur    logCursor
	events []Event
}

// refresh reads what was appended to path since the last call and returns
// all events so far (the slice must not be modified).
func (l *eventLog) refresh(path string, node int) ([]Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.cur.lines(path, func(line []byte, run int) {
		if ev, ok := parseEvent(line); ok {
			ev.Node, ev.Run = node, run
			l.events = append(l.events, ev)
		}
	})
	return l.events, err
}

// Events returns every event node i has logged so far, over all runs, in
// log order.
func (b *Bed) Events(i int) []Event {
	b.t.Helper()
	n := b.node(i)
	evs, err := n.ev.refresh(n.log, i)
	if err != nil {
		b.t.Fatalf("testbed: read node %d log: %v", i, err)
	}
	return append([]Event(nil), evs...)
}

// WaitEvent polls node i's log every 20 ms until an event (of any run,
// oldest first) satisfies ok, and returns it. On timeout, or as soon as
// the node is not running and its log has no such event, the test fails
// naming what and showing the tail of the log. To wait only for events
// after some moment, check e.Time or e.Run in ok.
func (b *Bed) WaitEvent(i int, what string, timeout time.Duration, ok func(Event) bool) Event {
	b.t.Helper()
	n := b.node(i)
	deadline := time.Now().Add(timeout)
	seen := 0
	for {
		running := b.Running(i) // before reading, so a final exit is read fully
		evs, err := n.ev.refresh(n.log, i)
		if err != nil {
			b.t.Fatalf("testbed: read node %d log: %v", i, err)
		}
		for ; seen < len(evs); seen++ {
			if ok(evs[seen]) {
				return evs[seen]
			}
		}
		if !running {
			b.t.Fatalf("testbed: node %d: no event %q, and the node is not running (%s)\n%s", i, what, b.exitDesc(i), b.tailSection(i))
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("testbed: node %d: no event %q within %v (%d events seen)\n%s", i, what, timeout, len(evs), b.tailSection(i))
		}
		time.Sleep(pollInterval)
	}
}

// Log returns node i's whole log (stdout and stderr of every run, with
// the bed's run markers); "" before the first Start.
func (b *Bed) Log(i int) string {
	b.t.Helper()
	data, err := os.ReadFile(b.node(i).log)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		b.t.Fatalf("testbed: read node %d log: %v", i, err)
	}
	return string(data)
}

// tailSection is the last tailLines lines of node i's log with a header.
func (b *Bed) tailSection(i int) string {
	n := b.nodes[i]
	data, err := os.ReadFile(n.log)
	if err != nil {
		return fmt.Sprintf("--- node %d log: %v ---", i, err)
	}
	t := tail(string(data), tailLines)
	if t != "" && !strings.HasSuffix(t, "\n") {
		t += "\n"
	}
	return fmt.Sprintf("--- node %d log (%s), last %d lines ---\n%s--- end of node %d log ---", i, n.log, tailLines, t, i)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	if n <= 0 {
		return ""
	}
	end := len(s)
	if strings.HasSuffix(s, "\n") {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if s[i] == '\n' {
			n--
			if n == 0 {
				return s[i+1:]
			}
		}
	}
	return s
}

// dumpLogs logs the tail of every node log that exists.
func (b *Bed) dumpLogs() {
	for i, n := range b.nodes {
		if n == nil {
			continue
		}
		if _, err := os.Stat(n.log); err == nil {
			b.t.Logf("%s", b.tailSection(i))
		}
	}
}

// exitDesc describes node i's process state for failure messages.
func (b *Bed) exitDesc(i int) string {
	p := b.proc(i)
	switch {
	case p == nil:
		return "never started"
	case !p.exited():
		return fmt.Sprintf("running, pid %d", p.cmd.Process.Pid)
	case p.err == nil:
		return fmt.Sprintf("run %d exited with status 0", p.run)
	default:
		return fmt.Sprintf("run %d exited: %v", p.run, p.err)
	}
}
