package render

import (
	"bytes"
	"fmt"
	"io"
	"strconv"

	"github.com/tether-ha/tether/agent/status"
)

// Failover writes the failover supervisor's view of every resource, as
// tetherstat prints it after the mirrors; nothing without resources.
//
//	tether failover information:
//	    Resource  Copy    Epoch  Primary  Auto  Quorum  Votes  State
//	    orders    mirror      2  node1    on    no        1/3  primary-partitioned !
//	        orders: the primary is PARTITIONED: ... (witness w: sees node1 OPEN)
//
// Quorum is "impossible" on a cluster of two voters (it needs a witness):
// automatic failover is then off. State is, on a primary, FENCED or
// writable with the lease left; on a mirror its last decision, "!" when
// the operator must know (a partition, one-way loss, flapping, no quorum).
func Failover(w io.Writer, st *status.Status) error {
	if len(st.Failover) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("tether failover information:\n")
	t := table{right: []bool{false, false, true, false, false, false, true, false}}
	t.add(indent, "Resource", "Copy", "Epoch", "Primary", "Auto", "Quorum", "Votes", "State")
	for _, f := range st.Failover {
		auto, q, state := FailoverCells(f)
		t.add(indent, f.Resource, f.Role, strconv.FormatUint(uint64(f.Epoch), 10), dash(f.Primary), auto, q,
			fmt.Sprintf("%d/%d", f.Votes, f.Voters), state)
		if note := failoverNote(f); note != "" {
			t.addNote(indent, 0, f.Resource+": "+note)
		}
	}
	t.write(&b)
	return flush(w, &b)
}

// FailoverCells are how a resource's automatic failover, quorum and state
// are written in tables (tetherstat, tetherctl failover status).
func FailoverCells(f status.Failover) (auto, quorum, state string) {
	auto, quorum = "off", "no"
	if f.Auto {
		auto = "on"
	}
	switch {
	case !f.QuorumPossible:
		quorum = "impossible"
	case f.Quorum:
		quorum = "yes"
	}
	state = dash(f.Reason)
	switch {
	case f.Role == status.RolePrimary && f.Fenced:
		state = "FENCED"
	case f.Role == status.RolePrimary && f.Auto && f.QuorumPossible:
		state = fmt.Sprintf("writable (lease %.1fs)", f.LeaseLeft)
	case f.Role == status.RolePrimary:
		state = "writable (unsupervised)"
	case f.Promoting:
		state = "PROMOTING"
	}
	if f.Alert {
		state += " !"
	}
	return auto, quorum, state
}

// failoverNote explains a row that needs the operator.
func failoverNote(f status.Failover) string {
	switch {
	case f.Error != "":
		return "error: " + f.Error
	case f.Auto && !f.QuorumPossible:
		return "automatic failover is off: a two-node cluster needs a witness (a third tetherd, witness: true) or quorum.etcd"
	case f.Alert || f.Fenced:
		n := f.Detail
		if f.Witness != "" {
			n += " (witness " + f.Witness + ")"
		}
		return n
	}
	return ""
}
