package testbed

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tether-ha/tether/agent/status"
)

// statusTimeout bounds one status request.
const statusTimeout = 2 * time.Second

// Status fetches node i's status document over its status socket. Errors
// wrap status.ErrUnreachable when the agent cannot be reached.
func (b *Bed) Status(i int) (*status.Status, error) {
	b.t.Helper()
	c := status.NewClient(b.Socket(i))
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	return c.Status(ctx)
}

// WaitFor polls node i's status every 20 ms until ok returns true and
// returns that status. ok is only called with a status that was fetched.
// On timeout, or at once if node i is not running, the test fails with
// what, a summary of the last status (or the last error) and the tail of
// node i's log.
func (b *Bed) WaitFor(i int, what string, timeout time.Duration, ok func(*status.Status) bool) *status.Status {
	b.t.Helper()
	return b.waitFor(i, what, timeout, pollInterval, ok)
}

func (b *Bed) waitFor(i int, what string, timeout, every time.Duration, ok func(*status.Status) bool) *status.Status {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last *status.Status
	var lastErr error
	for {
		if !b.Running(i) {
			b.t.Fatalf("testbed: waiting for node %d: %s: node is not running (%s)\n%s\n%s",
				i, what, b.exitDesc(i), lastDesc(last, lastErr), b.tailSection(i))
		}
		st, err := b.Status(i)
		if err == nil {
			last, lastErr = st, nil
			if ok(st) {
				return st
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("testbed: waited %v for node %d: %s\n%s\n%s", timeout, i, what, lastDesc(last, lastErr), b.tailSection(i))
		}
		time.Sleep(every)
	}
}

// WaitAllUp waits until every running node reports every link to every
// other node healthy (UP, no reason), sharing one timeout.
func (b *Bed) WaitAllUp(timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for i := range b.nodes {
		if !b.Running(i) {
			continue
		}
		b.WaitFor(i, "all links up", time.Until(deadline), func(st *status.Status) bool {
			return AllLinksUp(st, len(b.nodes)-1)
		})
	}
}

// AllLinksUp reports whether st lists at least peers peers and every link
// of every peer is healthy.
func AllLinksUp(st *status.Status, peers int) bool {
	n := 0
	for _, nd := range st.Nodes {
		if nd.Local {
			continue
		}
		n++
		if len(nd.Links) == 0 {
			return false
		}
		for _, l := range nd.Links {
			if !l.Healthy() {
				return false
			}
		}
	}
	return n >= peers
}

// FindNode returns the entry for node id in st, or nil.
func FindNode(st *status.Status, id uint16) *status.Node {
	if st == nil {
		return nil
	}
	for k := range st.Nodes {
		if st.Nodes[k].ID == id {
			return &st.Nodes[k]
		}
	}
	return nil
}

// FindLink returns the link to peer on network, or nil.
func FindLink(st *status.Status, peer uint16, network string) *status.Link {
	n := FindNode(st, peer)
	if n == nil {
		return nil
	}
	for k := range n.Links {
		if n.Links[k].Network == network {
			return &n.Links[k]
		}
	}
	return nil
}

// Summary formats st compactly: one line per node with its state and each
// link's network, state and reason, e.g.
//
//	status of node1 (id 1) at 12:00:00.000:
//	  node0 OPEN links_up=1: hb0 UP; hb1 DOWN peer-silent
//	  node1* OPEN: hb0 UP; hb1 UP
func Summary(st *status.Status) string {
	if st == nil {
		return "no status"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "status of %s (id %d) at %s:", st.LocalName, st.LocalNode, st.Now.Format("15:04:05.000"))
	for _, n := range st.Nodes {
		star := ""
		if n.Local {
			star = "*"
		}
		fmt.Fprintf(&sb, "\n  %s%s %s links_up=%d:", n.Name, star, n.State, n.LinksUp)
		for k, l := range n.Links {
			if k > 0 {
				sb.WriteString(";")
			}
			fmt.Fprintf(&sb, " %s %s", l.Network, l.State)
			if l.Reason != "" {
				sb.WriteString(" " + l.Reason)
			}
		}
	}
	return sb.String()
}

func lastDesc(st *status.Status, err error) string {
	switch {
	case err != nil && st != nil:
		return fmt.Sprintf("last status request failed: %v\nlast good %s", err, Summary(st))
	case err != nil:
		return fmt.Sprintf("no status yet: %v", err)
	default:
		return "last " + Summary(st)
	}
}
