package failover

import (
	"fmt"
	"time"
)

// An external voter (quorum.etcd) is one vote besides the nodes: a key
// per resource naming its primary, held under the primary's etcd lease.
// The primary's vote lasts a term from the keepalive that last found its
// lease alive; etcd frees the key TTL (> term) after the last keepalive
// it received, so a mirror can take the key only after the old primary's
// vote has ended. The mirror's vote is the key seen free, and a promotion
// takes the key (replicator/quorum/etcd.Acquire) or does not happen.

// External is what the quorum client last knew of one resource's key.
type External struct {
	// Held: the key exists; Holder and Epoch are its value, Revision its
	// modification revision (the fencing token of that epoch).
	Held     bool
	Holder   uint16
	Epoch    uint32
	Revision int64
	// Mine: the key is held under this node's lease, renewed by a
	// keepalive sent at Renewed.
	Mine    bool
	Renewed time.Time
	// ReadAt: when the read that saw the key (or its absence) was sent
	// (zero: never read); Err: why the last exchange failed.
	ReadAt time.Time
	Err    string
}

// Count is how many vote: the nodes and the external voter.
func (e Electorate) Count() int {
	if e.External != "" {
		return len(e.Voters) + 1
	}
	return len(e.Voters)
}

// externalVote says whether the external voter backs this node as primary
// of the resource at epoch, and from when.
func (l *Lease) externalVote(now time.Time, e Electorate, epoch uint32, x External) (time.Time, string) {
	switch {
	case x.Err != "" && x.Renewed.IsZero():
		return time.Time{}, x.Err
	case !x.Held:
		return time.Time{}, "the key is free"
	case !x.Mine || x.Holder != e.Self:
		return time.Time{}, fmt.Sprintf("the key names %s at epoch %d", e.name(x.Holder), x.Epoch)
	case x.Epoch != epoch:
		return time.Time{}, fmt.Sprintf("the key names this node at epoch %d, not %d", x.Epoch, epoch)
	case !x.Renewed.After(l.pausedAt):
		return time.Time{}, "its last renewal predates this node's pause"
	case !x.Renewed.Add(l.cfg.Term()).After(now):
		return time.Time{}, fmt.Sprintf("its last renewal was %v ago", now.Sub(x.Renewed).Round(time.Millisecond))
	}
	return x.Renewed, ""
}

// externalConfirms says whether the external voter confirms primary gone:
// a fresh read found the key free (or already taken at a higher epoch by
// this node, mid-promotion).
func externalConfirms(now time.Time, e Electorate, primary uint16, x External) string {
	switch {
	case x.ReadAt.IsZero():
		if x.Err != "" {
			return x.Err
		}
		return "not read yet"
	case now.Sub(x.ReadAt) > ConfirmFresh:
		if x.Err != "" {
			return "its last read is stale: " + x.Err
		}
		return "its last read is stale"
	case x.Held && x.Holder == primary:
		return fmt.Sprintf("the key still names %s at epoch %d (revision %d): its lease is alive", e.name(primary), x.Epoch, x.Revision)
	case x.Held && x.Holder != e.Self:
		return fmt.Sprintf("the key names %s at epoch %d", e.name(x.Holder), x.Epoch)
	}
	return ""
}
