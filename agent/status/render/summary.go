package render

import (
	"fmt"
	"strconv"

	"github.com/tether-ha/tether/agent/status"
)

// Summary is the one line systemd shows as the service's status
// (sd_notify STATUS=, `systemctl status tetherd`): the links to peers that
// are up, and the worst link with its reason, e.g.
//
//	3/4 links up; worst: node1 hb1 DOWN carrier-lost
//
// Worst is the first DOWN link, else the first TROUBLE one, else the first
// UP link with a reason (lossy, mtu-mismatch, ...). Network-wide findings
// follow when no link shows one ("; hb0: foreign-cluster").
func Summary(st *status.Status) string {
	if st.Claiming {
		return "claiming node id " + strconv.Itoa(int(st.LocalNode)) + " (no heartbeat sent yet)"
	}
	var total, up int
	var worst string
	worstRank := 0
	for _, n := range st.Nodes {
		if n.Local {
			continue
		}
		name := n.Name
		if name == "" {
			name = strconv.Itoa(int(n.ID))
		}
		for _, l := range n.Links {
			total++
			if l.State == status.LinkUp {
				up++
			}
			if r := rank(l); r > worstRank {
				worstRank = r
				worst = fmt.Sprintf("%s %s %s %s", name, l.Network, l.State, dash(Reason(l)))
			}
		}
	}
	s := fmt.Sprintf("%d/%d links up", up, total)
	if worst != "" {
		s += "; worst: " + worst
	} else {
		for _, n := range st.Networks {
			if len(n.Reasons) > 0 {
				s += "; " + n.Name + ": " + n.Reasons[0].Reason
				break
			}
		}
	}
	return s
}

// rank orders links by how much they need attention: 0 healthy.
func rank(l status.Link) int {
	switch {
	case l.State == status.LinkDown:
		return 3
	case l.State == status.LinkTrouble:
		return 2
	case !l.Healthy():
		return 1
	}
	return 0
}
