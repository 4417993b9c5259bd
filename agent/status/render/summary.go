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
	var total, up, worstRank int
	var worst string
	peerLinks(st, func(name string, l status.Link) {
		total++
		if l.State == status.LinkUp {
			up++
		}
		if r := rank(l); r > worstRank {
			worstRank = r
			worst = fmt.Sprintf("%s %s %s %s", name, l.Network, l.State, dash(Reason(l)))
		}
	})
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

// rank orders links by how much they need attention: 0 healthy, then an
// UP link with a reason, TROUBLE, DOWN.
func rank(l status.Link) int {
	if l.Healthy() {
		return 0
	}
	return 1 + stateRank(l.State)
}
