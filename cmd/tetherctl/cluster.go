package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tether-ha/tether/agent/status"
)

const pingClusterUsage = `Usage: tetherctl ping-cluster [options]

Tests every path from this node to every peer: every local network x every
peer x every channel the network carries (ether, tcp), each
  - at 64 bytes (basic connectivity),
  - at the network's MTU (ether: request and reply frames padded to the
    MTU; tcp: a message of MTU bytes),
  - beyond it (tcp: a message of 3 x MTU; an ether frame cannot exceed the
    MTU: not applicable).
A path whose basic connectivity fails is not tested further. The local
tetherd tests the paths at once and the peers' tetherds answer, so a
cluster with broken paths answers within about two timeouts. Prints a
summary like NetApp ONTAP's cluster ping-cluster, then the failing paths
with what the agent knows of their links (state, reason, detail).

Options:
  --count N       echoes per test (default 3, at most 100)
  --timeout D     how long to wait for each reply (default 1s)
  --socket PATH   the agent's status socket (default $TETHER_SOCKET if set,
                  else ` + status.DefaultSocket + `)
  --json          print every result as one JSON document instead
  -h, --help      show this help

Exit status:
  0  every path passes every test
  1  at least one path fails a test (the failing paths are listed)
  2  usage error, or the agent cannot be reached or refused the request
`

type clusterOptions struct {
	count   int
	timeout time.Duration
	socket  string
	json    bool
}

func parsePingCluster(args []string) (clusterOptions, error) {
	o := clusterOptions{count: 3, timeout: time.Second}
	fs := newFlagSet("ping-cluster")
	fs.IntVar(&o.count, "count", o.count, "")
	fs.Var(durationValue{&o.timeout}, "timeout", "")
	fs.StringVar(&o.socket, "socket", "", "")
	fs.BoolVar(&o.json, "json", false, "")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case len(words) > 0:
		return o, fmt.Errorf("unexpected argument %q: ping-cluster tests every peer", words[0])
	case o.count < 1 || o.count > 100:
		return o, fmt.Errorf("--count %d: want 1 to 100", o.count)
	case o.timeout < time.Millisecond || o.timeout > time.Minute:
		return o, fmt.Errorf("--timeout %s: want 1ms to 1m", o.timeout)
	case set["socket"] && o.socket == "":
		return o, errors.New("--socket needs a path")
	}
	return o, nil
}

func runPingCluster(ctx context.Context, e *env, args []string) int {
	o, err := parsePingCluster(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, pingClusterUsage)
		return exitOK
	}
	if err != nil {
		return usageErr(e.stderr, "ping-cluster", err.Error())
	}
	socket := e.socketPath(o.socket)
	c := status.NewClient(socket)
	// Basic connectivity, then the MTU tests: about two timeouts.
	rctx, cancel := context.WithTimeout(ctx, 2*o.timeout+15*time.Second)
	defer cancel()
	res, err := c.PingCluster(rctx, status.PingClusterRequest{Count: o.count, TimeoutMs: int(o.timeout / time.Millisecond)})
	if err != nil {
		return agentFailure(e.stderr, err, socket)
	}
	out := &errWriter{w: e.stdout}
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		writeCluster(out, res)
	}
	if out.err != nil {
		fmt.Fprintf(e.stderr, "tetherctl: writing the output: %v\n", out.err)
		return exitError
	}
	for _, p := range res.Paths {
		if !p.OK() {
			return exitFailed
		}
	}
	return exitOK
}

// writeCluster prints the ONTAP-style summary and the failing paths.
func writeCluster(out *errWriter, res *status.PingClusterResult) {
	out.printf("Host is %s (id %d): %d networks, %d peers\n", res.LocalName, res.LocalNode, len(res.Networks), len(res.Peers))
	var basicOK, basicFail, mtuFail, largerOK, largerFail, largerNA int
	mtuOK := map[int]int{} // ether paths whose MTU frames pass, by MTU
	for _, p := range res.Paths {
		if p.Test(status.TestBasic).Result == status.TestOK {
			basicOK++
		} else {
			basicFail++
		}
		switch m := p.Test(status.TestMTU); {
		case m.Result == status.TestOK && p.Channel == status.PingChannelEther:
			mtuOK[p.MTU]++
		case m.Result == status.TestFailed:
			mtuFail++
		}
		switch p.Test(status.TestLarger).Result {
		case status.TestOK:
			largerOK++
		case status.TestFailed:
			largerFail++
		case status.TestNotApplicable:
			largerNA++
		}
	}
	out.printf("Basic connectivity succeeds on %d path(s)\n", basicOK)
	out.printf("Basic connectivity fails on %d path(s)\n", basicFail)
	mtus := make([]int, 0, len(mtuOK))
	for m := range mtuOK {
		mtus = append(mtus, m)
	}
	slices.Sort(mtus)
	for _, m := range mtus {
		out.printf("Detected %d byte MTU on %d path(s)\n", m, mtuOK[m])
	}
	if mtuFail > 0 {
		out.printf("MTU-sized communication fails on %d path(s)\n", mtuFail)
	}
	out.printf("Larger than MTU communication succeeds on %d path(s)\n", largerOK)
	if largerFail > 0 {
		out.printf("Larger than MTU communication fails on %d path(s)\n", largerFail)
	}
	if largerNA > 0 {
		out.printf("Larger than MTU communication not applicable on %d ether path(s): a frame cannot exceed the MTU\n", largerNA)
	}

	var tab bytes.Buffer
	tw := tabwriter.NewWriter(&tab, 0, 0, 2, ' ', 0)
	header := false
	for _, p := range res.Paths {
		for _, t := range p.Tests {
			if t.Result != status.TestFailed {
				continue
			}
			if !header {
				out.printf("\nFailing paths:\n")
				fmt.Fprintln(tw, "  Network\tPeer\tChannel\tTest\tResult\tLink\tReason\tDetail")
				header = true
			}
			reason := p.Reason
			if p.RemoteReason != "" {
				reason = strings.TrimSpace(reason + " (peer: " + p.RemoteReason + ")")
			}
			detail := p.Detail
			if detail == p.Reason {
				detail = ""
			}
			if detail == "" {
				detail = t.Error
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Network, p.PeerName, p.Channel, testName(t),
				testResult(t, res.Count), dash(p.LinkState), dash(reason), detail)
		}
	}
	_ = tw.Flush()
	for line := range strings.Lines(tab.String()) {
		out.printf("%s\n", strings.TrimRight(line, " \n"))
	}
}

// testName is a test with its size: "basic", "mtu 9000", "larger 27000".
func testName(t status.PingTest) string {
	if t.Bytes == 0 || t.Test == status.TestBasic {
		return t.Test
	}
	return fmt.Sprintf("%s %d", t.Test, t.Bytes)
}

// testResult is a failed test's outcome: "lost 3/3", "no route".
func testResult(t status.PingTest, count int) string {
	switch {
	case t.Sent == 0 && t.Error != "":
		return "error"
	case t.NoRoute == t.Sent && t.Sent > 0:
		return "no route"
	case t.OtherErrors > 0 && t.Received == 0 && t.NoRoute+t.OtherErrors == t.Sent:
		return "not sent"
	}
	return fmt.Sprintf("lost %d/%d", max(count, t.Sent)-t.Received, max(count, t.Sent))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
