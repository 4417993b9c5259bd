package agent

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/tether-ha/tether/llt"
)

// Link tables: every node holds every node's link table (llt.LinkTable:
// its view of every link and network), the cluster link matrix
// (tetherstat -m), without a public network. About once a second, and a
// tenth of a second after one of its links changes, a node sends each
// peer, over the message API, its table if it changed since it last sent
// it (TopicLinkTable), else its digest (TopicTableDigest, 22 bytes: "still
// table serial S"). A peer that does not hold that table asks for it
// (TopicTablePull). So an idle cluster of n nodes costs each node n
// digests a second, not n tables of n links; and every tableRefresh the
// whole table goes out anyway, for peers that missed a pull.

const (
	tableEvery   = time.Second
	tableDelay   = 100 * time.Millisecond // after a change, so one burst of changes is one send
	tableJitter  = 200 * time.Millisecond
	tableRefresh = 30 * time.Second
)

// tableLoop sends the link tables until ctx is done.
func (a *Agent) tableLoop(ctx context.Context) {
	rng := rand.New(rand.NewPCG(a.inc, 1))
	next := time.NewTimer(tableEvery)
	defer next.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.tables:
			select {
			case <-ctx.Done():
				return
			case <-time.After(tableDelay):
			}
		case <-next.C:
		}
		a.sendTables(nil)
		next.Reset(tableEvery - tableJitter/2 + time.Duration(rng.Int64N(int64(tableJitter))))
	}
}

// sendTables sends our link table, or its digest, to every peer (to:
// nil), or the table to the peers in to (they pulled it): over the
// message API where a link reaches the peer, else over the public channel
// (after the lock: memberlist's sends take its own locks and write
// sockets).
func (a *Agent) sendTables(to []llt.NodeID) {
	type viaPublic struct {
		peer uint16
		b    []byte
	}
	var pub []viaPublic
	_ = a.do(context.Background(), func(now time.Time) {
		if a.stopped || a.m.Claiming() {
			return
		}
		parts := a.m.LinkTable(now)
		d := a.m.TableDigest()
		var msgs [][]byte
		if to != nil || d.Serial != a.tableSent.serial || now.Sub(a.tableSent.at) >= tableRefresh {
			for i := range parts {
				b, err := llt.AppendLinkTable([]byte{TopicLinkTable}, &parts[i])
				if err != nil {
					a.log.Error("cannot encode the link table", "event", EvFrameEncodeError, "err", err)
					return
				}
				msgs = append(msgs, b)
			}
			if to == nil {
				a.tableSent.serial, a.tableSent.at = d.Serial, now
			}
		} else {
			b, err := llt.AppendTableDigest([]byte{TopicTableDigest}, d)
			if err != nil {
				a.log.Error("cannot encode the link table digest", "event", EvFrameEncodeError, "err", err)
				return
			}
			msgs = append(msgs, b)
		}
		if to == nil {
			for _, p := range a.cfg.Peers() {
				to = append(to, llt.NodeID(p.ID))
			}
		}
		for _, peer := range to {
			for _, b := range msgs {
				if !a.sendTableMsg(now, peer, b) && a.pub != nil {
					pub = append(pub, viaPublic{uint16(peer), b})
				}
			}
		}
	})
	var failed uint64
	var sent []byte // topics of the messages sent
	for _, m := range pub {
		if err := a.pub.Send(m.peer, m.b); err != nil {
			failed++
		} else {
			sent = append(sent, m.b[0])
		}
	}
	if len(pub) > 0 {
		_ = a.do(context.Background(), func(time.Time) {
			a.tableStats.sendFailed += failed
			for _, topic := range sent {
				a.tableStats.count(topic)
			}
			a.tableStats.public += uint64(len(sent))
		})
	}
}

// sendTableMsg sends one link-table message to peer over the message API
// (locked). False: no link route; the caller tries the public channel,
// or counts the failure itself.
func (a *Agent) sendTableMsg(now time.Time, peer llt.NodeID, b []byte) bool {
	r, err := a.route(now, peer, len(b))
	if err == nil {
		err = a.m.SendMessageVia(now, peer, r, b)
	}
	if err != nil {
		if a.pub == nil {
			a.tableStats.sendFailed++
		}
		return false
	}
	a.tableStats.count(b[0])
	return true
}

// count counts one link-table message of topic sent.
func (s *tableStats) count(topic byte) {
	s.sent++
	switch topic {
	case TopicTableDigest:
		s.digests++
	case TopicTablePull:
		s.pulls++
	}
}

// receiveDigest takes a peer's table digest (without the lock) and pulls
// the table when we do not hold it.
func (a *Agent) receiveDigest(from llt.NodeID, body []byte) {
	d, err := llt.DecodeTableDigest(body)
	pull := false
	_ = a.do(context.Background(), func(now time.Time) {
		if err == nil {
			pull, err = a.m.NoteTableDigest(now, from, d)
		}
		if err != nil {
			a.tableStats.rejected++
			if a.tableLimit.Allow() {
				a.log.Warn("link table digest rejected", "event", EvTableRejected, "peer", a.peerName(from), "peer_id", uint16(from), "err", err)
			}
			return
		}
		a.tableStats.received++
		if pull && a.sendTableMsg(now, from, []byte{TopicTablePull}) {
			pull = false // sent
		}
	})
	if pull && err == nil && a.pub != nil {
		// No link reaches the peer: ask over the public channel (after
		// the lock), which carried the digest. Else its next digest asks
		// again.
		err := a.pub.Send(uint16(from), []byte{TopicTablePull})
		_ = a.do(context.Background(), func(time.Time) {
			if err != nil {
				a.tableStats.sendFailed++
			} else {
				a.tableStats.count(TopicTablePull)
				a.tableStats.public++
			}
		})
	}
}

// receivePull answers a peer that asked for our table.
func (a *Agent) receivePull(from llt.NodeID) {
	a.sendTables([]llt.NodeID{from})
}

// receiveTable takes a peer's link table message (without the lock).
func (a *Agent) receiveTable(from llt.NodeID, body []byte) {
	t, err := llt.DecodeLinkTable(body)
	_ = a.do(context.Background(), func(now time.Time) {
		if err == nil {
			err = a.m.NoteLinkTable(now, from, t)
		}
		if err != nil {
			a.tableStats.rejected++
			if a.tableLimit.Allow() {
				a.log.Warn("link table rejected", "event", EvTableRejected, "peer", a.peerName(from), "peer_id", uint16(from), "err", err)
			}
			return
		}
		a.tableStats.received++
	})
}

// tableSent is the table last sent to every peer.
type tableSent struct {
	serial uint64
	at     time.Time
}

// tableStats count link table messages, digests and pulls included
// (under the engine's lock).
type tableStats struct {
	sent, sendFailed, received, rejected uint64
	public                               uint64 // of sent: over the public channel
	digests, pulls                       uint64 // of sent
}
