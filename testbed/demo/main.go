// Command demo is `make demo`: it builds a 3-node cluster on two heartbeat
// networks in network namespaces, runs the real tetherd on every node,
// pulls one cable and shows what tetherstat and the logs say, then plugs
// the cable back in. It needs root; everything it creates is removed at
// the end.
//
//	go run ./testbed/demo -bin ./bin
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/testbed"
)

// Generous limits: the machine may be shared and loaded. A normal run takes
// a few seconds.
const (
	upTimeout     = 30 * time.Second
	detectTimeout = 15 * time.Second
	cmdTimeout    = 10 * time.Second
)

// The fault: node1's cable on hb1.
const (
	faultNode = 1
	faultNet  = "hb1"
)

func main() {
	bin := flag.String("bin", "", "directory holding tetherd and tetherstat (required; `make build` fills ./bin)")
	flag.Parse()
	if flag.NArg() > 0 || *bin == "" {
		fmt.Fprintln(os.Stderr, "usage: demo -bin DIR   (DIR holds tetherd and tetherstat; run make build first)")
		os.Exit(2)
	}
	binDir, err := filepath.Abs(*bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: -bin %s: %v\n", *bin, err)
		os.Exit(1)
	}
	for _, name := range []string{"tetherd", "tetherstat"} {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %s not found in %s: run make build first\n", name, binDir)
			os.Exit(1)
		}
	}
	if msg := cannotRun(); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}

	var prefix, dir string // what the bed created, checked after cleanup
	code := testbed.Main(func(t testbed.T) {
		d := &demo{bin: binDir}
		d.run(t, func(b *testbed.Bed) { prefix, dir = b.Prefix(), b.Dir() })
	})
	if code == testbed.ExitOK {
		if left := leftovers(prefix, dir); left != "" {
			fmt.Fprintf(os.Stderr, "demo: cleanup left %s behind\n", left)
			code = testbed.ExitFailed
		} else {
			fmt.Println("\nDone: tetherd stopped, namespaces and temporary files removed.")
		}
	}
	os.Exit(code)
}

// cannotRun says why the demo cannot run here, or "" when it can.
func cannotRun() string {
	if os.Geteuid() != 0 {
		return "The tether demo needs root: it builds a small cluster out of network\n" +
			"namespaces, veth cables and Linux bridges (all removed at the end).\n" +
			"Run it as root:\n\n    sudo make demo"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "The tether demo needs ip(8) from iproute2: apt-get install iproute2"
	}
	return ""
}

// leftovers names namespaces with prefix and the directory dir if they
// still exist; "" when both are gone (or were never created).
func leftovers(prefix, dir string) string {
	var left []string
	if prefix != "" {
		out, err := exec.Command("ip", "netns", "list").Output()
		if err != nil {
			return fmt.Sprintf("an unknown state (ip netns list: %v)", err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, prefix+"-") {
				left = append(left, "namespace "+name)
			}
		}
	}
	if dir != "" {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			left = append(left, "directory "+dir)
		}
	}
	return strings.Join(left, ", ")
}

// demo holds what the steps share.
type demo struct {
	bin string
	t   testbed.T
	b   *testbed.Bed
}

func (d *demo) run(t testbed.T, created func(*testbed.Bed)) {
	d.t = t
	section("Building a 3-node cluster: networks hb0 and hb1 (one bridge each), default timers")
	d.b = testbed.New(t, testbed.Options{BinDir: d.bin})
	created(d.b)
	b := d.b
	fmt.Println("Namespaces node0..node2 and a switch; each node has eth1 on hb0 and eth2 on hb1.")
	start := time.Now()
	b.StartAll()
	b.WaitAllUp(upTimeout)
	fmt.Printf("tetherd running on node0, node1, node2; all 6 links UP after %s.\n", ms(time.Since(start)))
	d.waitSteady()

	d.tetherstat(0, "-nvv")
	d.tetherstat(0, "-l")

	// The fault.
	f := b.CablePull(faultNode, faultNet)
	section(fmt.Sprintf("FAULT: cable pulled on node1 %s (switch port %s down: node1's %s loses carrier)",
		faultNet, b.Port(faultNode, faultNet), b.Iface(faultNode, faultNet)))
	for i := range b.N() {
		d.waitFaultSeen(i)
	}
	d.tetherstat(1, "-nvv")
	d.tetherstat(0, "-nvv")
	code := d.tetherstat(0, "-b")
	fmt.Printf("(tetherstat -b exit status %d: 0 all healthy, 1 a link is not healthy)\n", code)
	// Every node holds every node's view (link tables about once a second,
	// and at once after a change): node2 names the broken thing.
	b.WaitFor(2, "the suspect localised", upTimeout, func(st *status.Status) bool {
		return len(st.Matrix.Suspects) > 0 && !st.Matrix.Settling
	})
	d.tetherstat(2, "-m")
	d.tetherstat(1, "-l")

	fmt.Println()
	fmt.Println("Detection time (fault to link.down in each tetherd's log):")
	for _, i := range []int{faultNode, 0, 2} {
		e := d.waitLinkEvent(i, "link.down", f.At)
		fmt.Printf("  node%d saw %-12s after %s\n", i, e.Str("reason"), ms(e.Time.Sub(f.At)))
	}

	section("Log events since the fault (tetherd --log-format json, all nodes)")
	var evs []testbed.Event
	for i := range b.N() {
		for _, e := range b.Events(i) {
			if e.Time.Before(f.At) {
				continue
			}
			switch e.ID {
			case "nic.carrier", "link.trouble", "link.down", "node.state":
				evs = append(evs, e)
			}
		}
	}
	slices.SortStableFunc(evs, func(x, y testbed.Event) int { return x.Time.Compare(y.Time) })
	for _, e := range evs {
		fmt.Println(eventLine(e, f.At))
	}

	section("Cable plugged back in on node1 " + faultNet)
	restoreAt := time.Now()
	f.Undo()
	b.WaitAllUp(upTimeout)
	d.tetherstat(0, "-n")
	fmt.Println("Handshake time (cable back in to link.up in each tetherd's log):")
	for i := range b.N() {
		e := d.waitLinkEvent(i, "link.up", restoreAt)
		fmt.Printf("  node%d: %s UP after %s\n", i, faultNet, ms(e.Time.Sub(restoreAt)))
	}
}

// waitSteady waits until every node has had every link UP for a few
// heartbeats, so that each peer's report of its side of the links (sent
// in every heartbeat) is current, as in a cluster that has been running.
func (d *demo) waitSteady() {
	d.t.Helper()
	for i := range d.b.N() {
		d.b.WaitFor(i, "links up for 3 heartbeats", upTimeout, func(st *status.Status) bool {
			hb := time.Duration(st.Config.HeartbeatMs * float64(time.Millisecond))
			if !testbed.AllLinksUp(st, d.b.N()-1) {
				return false
			}
			for _, n := range st.Nodes {
				for _, l := range n.Links {
					if !n.Local && st.Now.Sub(l.Since) < 3*hb {
						return false
					}
				}
			}
			return true
		})
	}
}

// waitFaultSeen waits until node i's status shows the whole diagnosis of
// the cable pull: node1 sees carrier-lost on hb1 to every peer; the peers
// see node1's hb1 DOWN, node1's own report carrier-lost, node1 JEOPARDY.
func (d *demo) waitFaultSeen(i int) {
	d.t.Helper()
	b := d.b
	what := fmt.Sprintf("node%d to see node1's %s fault", i, faultNet)
	b.WaitFor(i, what, detectTimeout, func(st *status.Status) bool {
		for peer := range b.N() {
			if peer == i || (i != faultNode && peer != faultNode) {
				continue
			}
			l := testbed.FindLink(st, uint16(peer), faultNet)
			n := testbed.FindNode(st, uint16(peer))
			if l == nil || l.State != status.LinkDown || n.State != status.NodeJeopardy {
				return false
			}
			if i == faultNode && l.Reason != "carrier-lost" {
				return false
			}
			if i != faultNode && l.RemoteReason != "carrier-lost" {
				return false
			}
		}
		return true
	})
}

// waitLinkEvent returns node i's first event id on the fault network at or
// after since (for node1, the link to node0; for the others, to node1).
func (d *demo) waitLinkEvent(i int, id string, since time.Time) testbed.Event {
	d.t.Helper()
	peer := "node1"
	if i == faultNode {
		peer = "node0"
	}
	what := fmt.Sprintf("%s %s peer %s", id, faultNet, peer)
	return d.b.WaitEvent(i, what, detectTimeout, func(e testbed.Event) bool {
		return e.ID == id && e.Str("network") == faultNet && e.Str("peer") == peer && !e.Time.Before(since)
	})
}

// tetherstat runs the real bin/tetherstat against node i's socket, prints
// its output under a header and returns its exit status. Exit statuses
// other than 0, and 1 with -b, fail the demo.
func (d *demo) tetherstat(i int, args ...string) int {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	full := append(slices.Clone(args), "--socket", d.b.Socket(i))
	out, err := exec.CommandContext(ctx, filepath.Join(d.bin, "tetherstat"), full...).CombinedOutput()
	fmt.Printf("\n== node%d: tetherstat %s\n%s", i, strings.Join(args, " "), out)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		fmt.Println()
	}
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		d.t.Fatalf("tetherstat %s on node%d: %v", strings.Join(args, " "), i, err)
	}
	if code != 0 && !(code == 1 && slices.Contains(args, "-b")) {
		d.t.Fatalf("tetherstat %s on node%d: exit status %d", strings.Join(args, " "), i, code)
	}
	return code
}

// eventLine formats a log event for the operator, time relative to t0:
//
//	+0.3 ms  node1  link.down     hb1  peer=node0  UP -> DOWN  reason=carrier-lost
func eventLine(e testbed.Event, t0 time.Time) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "  %9s  node%d  %-12s", "+"+ms(e.Time.Sub(t0)), e.Node, e.ID)
	fmt.Fprintf(&sb, "  %-4s", e.Str("network"))
	if e.ID == "nic.carrier" {
		fmt.Fprintf(&sb, " %s %s", e.Str("interface"), e.Msg)
		return sb.String()
	}
	fmt.Fprintf(&sb, " peer=%s  %s -> %s", e.Str("peer"), e.Str("prev_state"), e.Str("state"))
	if r := e.Str("reason"); r != "" {
		fmt.Fprintf(&sb, "  reason=%s", r)
	}
	if r := e.Str("remote_reason"); r != "" {
		fmt.Fprintf(&sb, " (peer: %s)", r)
	}
	return sb.String()
}

// section prints a section header.
func section(title string) { fmt.Printf("\n=== %s\n", title) }

// ms formats d in milliseconds, one decimal below 10 ms; seconds from 10 s.
func ms(d time.Duration) string {
	m := float64(d) / float64(time.Millisecond)
	switch {
	case m >= 10000:
		return fmt.Sprintf("%.1f s", m/1000)
	case m < 10:
		return fmt.Sprintf("%.1f ms", m)
	}
	return fmt.Sprintf("%.0f ms", m)
}
