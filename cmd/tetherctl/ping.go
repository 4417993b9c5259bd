package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
)

const pingUsage = `Usage: tetherctl ping NODE [options]

Sends echo messages to NODE (a node name or id of the cluster) through the
local tetherd; NODE's tetherd answers. Prints one line per reply or
timeout as it happens, then a summary, like ping(8).

Without --network and --channel each echo takes the best route (as any
message does) and the reply NODE's best route. With either, the request
and the reply are pinned to that network and channel, so exactly that
path is tested both ways; a route that is not up fails that echo at once
("no route on hb1/ether: the link is DOWN (peer-silent)").

Options:
  --network NAME  send on this network only; the reply comes back on it
  --channel ether|tcp
                  send on this channel only; the reply comes back on it
                  (tcp: the connection we dialled if it is up, else the one
                  the peer dialled; tcp-to or tcp-from pick one)
  --count N       echoes to send (default 5; 0: until interrupted)
  --size BYTES|mtu
                  message size (default 64 bytes, 11 to 59999); mtu: on
                  ether the request and reply frames are padded to the
                  network's MTU, on tcp the message is the MTU
  --interval D    time between echoes (default 1s; 200ms, 0.2 ...)
  --timeout D     how long to wait for each reply (default 1s)
  --socket PATH   the agent's status socket (default $TETHER_SOCKET if set,
                  else ` + status.DefaultSocket + `)
  --json          print one JSON document at the end, with every reply,
                  instead of the lines
  -h, --help      show this help

Exit status:
  0  at least one reply
  1  no reply
  2  usage error, or the agent cannot be reached or refused the request
`

// Bounds of the message size (the echo's header; the largest message).
const (
	minSize = 11
	maxSize = 59999
)

// pingOptions is a parsed `tetherctl ping` command line.
type pingOptions struct {
	node     string
	network  string
	channel  string
	count    int
	size     int
	mtu      bool
	interval time.Duration
	timeout  time.Duration
	socket   string
	json     bool
}

func parsePing(args []string) (pingOptions, error) {
	o := pingOptions{count: 5, size: 64, interval: time.Second, timeout: time.Second}
	fs := newFlagSet("ping")
	fs.StringVar(&o.network, "network", "", "")
	fs.StringVar(&o.channel, "channel", "", "")
	fs.IntVar(&o.count, "count", o.count, "")
	size := fs.String("size", "64", "")
	fs.Var(durationValue{&o.interval}, "interval", "")
	fs.Var(durationValue{&o.timeout}, "timeout", "")
	fs.StringVar(&o.socket, "socket", "", "")
	fs.BoolVar(&o.json, "json", false, "")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return o, err
	}
	switch {
	case len(words) == 0:
		return o, errors.New("ping needs a NODE (a node name or id)")
	case len(words) > 1:
		return o, fmt.Errorf("unexpected argument %q after the node", words[1])
	}
	o.node = words[0]
	switch o.channel {
	case "", status.PingChannelEther, status.PingChannelTCP, status.PingChannelTCPTo, status.PingChannelTCPFrom:
	default:
		return o, fmt.Errorf("--channel %q: want ether or tcp", o.channel)
	}
	if *size == "mtu" {
		o.mtu = true
	} else {
		n, err := strconv.Atoi(*size)
		if err != nil || n < minSize || n > maxSize {
			return o, fmt.Errorf("--size %q: want a number of bytes from %d to %d, or mtu", *size, minSize, maxSize)
		}
		o.size = n
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case o.count < 0:
		return o, fmt.Errorf("--count %d: want 0 (until interrupted) or more", o.count)
	case o.interval < 0:
		return o, fmt.Errorf("--interval %s: must not be negative", o.interval)
	case o.timeout < time.Millisecond || o.timeout > time.Minute:
		return o, fmt.Errorf("--timeout %s: want 1ms to 1m", o.timeout)
	case set["socket"] && o.socket == "":
		return o, errors.New("--socket needs a path")
	}
	return o, nil
}

// pingReport is the --json document.
type pingReport struct {
	Node         string             `json:"node"`
	ID           uint16             `json:"id"`
	Network      string             `json:"network,omitempty"`
	Channel      string             `json:"channel,omitempty"`
	Size         int                `json:"size,omitempty"` // message bytes; 0 with mtu
	MTU          bool               `json:"mtu,omitempty"`
	TimeoutMs    int                `json:"timeout_ms"`
	IntervalMs   int                `json:"interval_ms"`
	Sent         int                `json:"sent"`
	Received     int                `json:"received"`
	Errors       int                `json:"errors"` // echoes that could not be sent (no route, ...)
	LostPercent  float64            `json:"lost_percent"`
	TimeMs       float64            `json:"time_ms"`
	RTTMinMicros float64            `json:"rtt_min_us"`
	RTTAvgMicros float64            `json:"rtt_avg_us"`
	RTTMaxMicros float64            `json:"rtt_max_us"`
	RTTP99Micros float64            `json:"rtt_p99_us"`
	Replies      []status.PingReply `json:"replies"`
}

func runPing(ctx context.Context, e *env, args []string) int {
	o, err := parsePing(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, pingUsage)
		return exitOK
	}
	if err != nil {
		return usageErr(e.stderr, "ping", err.Error())
	}
	socket := e.socketPath(o.socket)
	c := status.NewClient(socket)
	st, err := c.Status(ctx)
	if err != nil {
		return agentFailure(e.stderr, err, socket)
	}
	node, err := resolveNode(st, o.node)
	if err == nil {
		err = checkPath(st, o.network, o.channel)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tetherctl: %v\n", err)
		return exitError
	}

	rep := pingReport{Node: node.Name, ID: node.ID, Network: o.network, Channel: o.channel, MTU: o.mtu,
		TimeoutMs: int(o.timeout / time.Millisecond), IntervalMs: int(o.interval / time.Millisecond), Replies: []status.PingReply{}}
	if !o.mtu {
		rep.Size = o.size
	}
	out := &errWriter{w: e.stdout}
	if !o.json {
		out.printf("PING %s (id %d)%s: %s\n", node.Name, node.ID, viaText(o), sizeText(st, o))
	}
	req := status.PingRequest{Peer: node.ID, Count: 1, Size: o.size, TimeoutMs: rep.TimeoutMs,
		Network: o.network, Channel: o.channel, MTU: o.mtu, Replies: true}
	if o.mtu {
		req.Size = 64 // the message inside the padded ether frame; tcp takes the MTU
	}
	start := time.Now()
	var end time.Time
	for seq := 1; o.count == 0 || seq <= o.count; seq++ {
		if seq > 1 && !sleepUntil(ctx, start.Add(time.Duration(seq-1)*o.interval)) {
			break
		}
		// The request waits for the reply: give it the timeout and room
		// for a slow agent.
		rctx, cancel := context.WithTimeout(ctx, o.timeout+10*time.Second)
		res, err := c.Ping(rctx, req)
		cancel()
		if ctx.Err() != nil {
			break // interrupted: this echo does not count
		}
		if err != nil {
			if !o.json && rep.Sent > 0 {
				printSummary(out, &rep, time.Since(start))
			}
			return agentFailure(e.stderr, err, socket)
		}
		end = time.Now()
		rp := oneReply(res)
		rp.Seq = seq
		rep.Replies = append(rep.Replies, rp)
		rep.Sent++
		switch rp.Status {
		case status.EchoOK:
			rep.Received++
		case status.EchoTimeout, status.EchoUnpinned:
		default:
			rep.Errors++
		}
		if !o.json {
			out.printf("%s\n", replyLine(node, rp, o.timeout))
		}
	}
	elapsed := time.Duration(0)
	if !end.IsZero() {
		elapsed = end.Sub(start)
	}
	finish(&rep, elapsed)
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printSummary(out, &rep, elapsed)
	}
	if out.err != nil {
		fmt.Fprintf(e.stderr, "tetherctl: writing the output: %v\n", out.err)
		return exitError
	}
	if rep.Received == 0 {
		return exitFailed
	}
	return exitOK
}

// oneReply is the echo of a Count 1 result. An agent that does not list
// replies still says whether it got one.
func oneReply(res *status.PingResult) status.PingReply {
	if len(res.Replies) > 0 {
		return res.Replies[0]
	}
	rp := status.PingReply{Status: status.EchoTimeout, Bytes: res.Size}
	for route := range res.Routes {
		rp.Network, rp.Channel, _ = strings.Cut(route, "/")
	}
	switch {
	case res.Received > 0:
		rp.Status = status.EchoOK
		rp.RTTMicros = float64(res.RTTMinMicros)
	case len(res.SendErrors) > 0:
		for kind := range res.SendErrors {
			rp.Status, rp.Error = kind, kind
		}
	}
	return rp
}

// finish fills the report's totals.
func finish(rep *pingReport, elapsed time.Duration) {
	rep.TimeMs = float64(elapsed) / float64(time.Millisecond)
	if rep.Sent > 0 {
		rep.LostPercent = float64(rep.Sent-rep.Received) * 100 / float64(rep.Sent)
	}
	var rtts []float64
	for _, r := range rep.Replies {
		if r.Status == status.EchoOK {
			rtts = append(rtts, r.RTTMicros)
		}
	}
	if len(rtts) == 0 {
		return
	}
	var sum float64
	for _, v := range rtts {
		sum += v
	}
	slices.Sort(rtts)
	rep.RTTMinMicros, rep.RTTMaxMicros = rtts[0], rtts[len(rtts)-1]
	rep.RTTAvgMicros = sum / float64(len(rtts))
	rep.RTTP99Micros = rtts[min(len(rtts)-1, int(0.99*float64(len(rtts))))]
}

func printSummary(out *errWriter, rep *pingReport, elapsed time.Duration) {
	finish(rep, elapsed)
	errs := ""
	if rep.Errors > 0 {
		errs = fmt.Sprintf(", %d errors", rep.Errors)
	}
	out.printf("\n--- %s ping statistics ---\n", rep.Node)
	out.printf("%d sent, %d received%s, %d%% lost, time %.2fs\n", rep.Sent, rep.Received, errs,
		int(rep.LostPercent), elapsed.Seconds())
	if rep.Received > 0 {
		out.printf("rtt min/avg/max/p99 = %s/%s/%s/%s ms\n", ms(rep.RTTMinMicros), ms(rep.RTTAvgMicros), ms(rep.RTTMaxMicros), ms(rep.RTTP99Micros))
	}
}

// ms formats microseconds as milliseconds, ping(8)'s way.
func ms(us float64) string { return strconv.FormatFloat(us/1000, 'f', 3, 64) }

// replyLine is the line for one echo.
func replyLine(node status.Node, rp status.PingReply, timeout time.Duration) string {
	via := ""
	if r := rp.Route(); r != "" {
		via = " via " + r
	}
	switch rp.Status {
	case status.EchoOK:
		return fmt.Sprintf("%d bytes from %s (id %d)%s: seq=%d time=%s ms", rp.Bytes, node.Name, node.ID, via, rp.Seq, ms(rp.RTTMicros))
	case status.EchoTimeout:
		return fmt.Sprintf("no reply from %s%s: seq=%d (timeout %s)", node.Name, via, rp.Seq, timeout)
	case status.EchoUnpinned:
		return fmt.Sprintf("reply from %s%s: seq=%d came back over another route: its tetherd cannot pin replies (upgrade it)", node.Name, via, rp.Seq)
	}
	msg := rp.Error
	if msg == "" {
		msg = rp.Status
	}
	return fmt.Sprintf("seq=%d to %s: %s", rp.Seq, node.Name, msg)
}

// viaText is the header's route: " via hb1/ether", " via hb1", " via tcp".
func viaText(o pingOptions) string {
	switch {
	case o.network != "" && o.channel != "":
		return " via " + o.network + "/" + o.channel
	case o.network != "":
		return " via " + o.network
	case o.channel != "":
		return " via " + o.channel
	}
	return ""
}

// sizeText is the header's size: "64 bytes", "9000-byte frames (the MTU)".
func sizeText(st *status.Status, o pingOptions) string {
	if !o.mtu {
		return fmt.Sprintf("%d bytes", o.size)
	}
	if o.network == "" {
		return "sized to the MTU of each echo's network"
	}
	mtu := 0
	for _, n := range st.Networks {
		if n.Name == o.network {
			mtu = n.MTU
		}
	}
	if strings.HasPrefix(o.channel, "tcp") {
		return fmt.Sprintf("%d-byte messages (the MTU)", min(mtu, maxSize))
	}
	if o.channel == "" {
		return fmt.Sprintf("sized to the MTU (%d bytes)", mtu)
	}
	return fmt.Sprintf("%d-byte frames (the MTU)", mtu)
}

// resolveNode finds a peer by name or id in the status document.
func resolveNode(st *status.Status, arg string) (status.Node, error) {
	var names []string
	for _, n := range st.Nodes {
		names = append(names, n.Name)
		if n.Name == arg || strconv.Itoa(int(n.ID)) == arg {
			if n.Local || n.ID == st.LocalNode {
				return n, fmt.Errorf("%s (id %d) is this node: ping a peer", n.Name, n.ID)
			}
			return n, nil
		}
	}
	return status.Node{}, fmt.Errorf("no node %q in the cluster (nodes: %s)", arg, strings.Join(names, ", "))
}

// checkPath checks --network and --channel against the local networks.
func checkPath(st *status.Status, network, channel string) error {
	kind := channel
	if strings.HasPrefix(kind, "tcp") {
		kind = "tcp"
	}
	var names []string
	carried := false
	for _, n := range st.Networks {
		names = append(names, n.Name)
		if network != "" && n.Name != network {
			continue
		}
		if network != "" && kind != "" && !slices.Contains(n.Channels, kind) {
			return fmt.Errorf("network %s does not carry %s (channels: %s)", network, kind, strings.Join(n.Channels, ", "))
		}
		if network != "" {
			return nil
		}
		carried = carried || slices.Contains(n.Channels, kind)
	}
	switch {
	case network != "":
		return fmt.Errorf("no network %q on %s (networks: %s)", network, st.LocalName, strings.Join(names, ", "))
	case kind != "" && !carried:
		return fmt.Errorf("no network of %s carries %s", st.LocalName, kind)
	}
	return nil
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// errWriter remembers the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(p)
	w.err = err
	return n, err
}

func (w *errWriter) printf(format string, a ...any) { fmt.Fprintf(w, format, a...) }
