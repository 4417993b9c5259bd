package agent

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/tether-ha/tether/llt"
)

// Link tables: every node sends its link table (llt.LinkTable: its view
// of every link and network) to every peer about once a second, and a
// tenth of a second after one of its links changes, over the message API
// on the reserved topic TopicLinkTable. Every node thus holds every node's
// view (the cluster link matrix, tetherstat -m) without a public network.

const (
	tableEvery  = time.Second
	tableDelay  = 100 * time.Millisecond // after a change, so one burst of changes is one send
	tableJitter = 200 * time.Millisecond
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
		a.sendTables()
		next.Reset(tableEvery - tableJitter/2 + time.Duration(rng.Int64N(int64(tableJitter))))
	}
}

// sendTables sends our link table to every peer: over the message API
// where a link reaches it, else over the public channel (after the lock:
// memberlist's sends take its own locks and write sockets).
func (a *Agent) sendTables() {
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
		for _, p := range a.cfg.Peers() {
			for i := range parts {
				b, err := llt.AppendLinkTable([]byte{TopicLinkTable}, &parts[i])
				if err != nil {
					a.log.Error("cannot encode the link table", "event", EvFrameEncodeError, "err", err)
					return
				}
				peer := llt.NodeID(p.ID)
				r, err := a.route(now, peer, len(b))
				if err == nil {
					err = a.m.SendMessageVia(now, peer, r, b)
				}
				if err != nil && a.pub != nil {
					pub = append(pub, viaPublic{p.ID, b})
					continue
				}
				if err != nil {
					a.tableStats.sendFailed++
					continue
				}
				a.tableStats.sent++
			}
		}
	})
	var failed, sent uint64
	for _, m := range pub {
		if err := a.pub.Send(m.peer, m.b); err != nil {
			failed++
		} else {
			sent++
		}
	}
	if len(pub) > 0 {
		_ = a.do(context.Background(), func(time.Time) {
			a.tableStats.sendFailed += failed
			a.tableStats.sent += sent
			a.tableStats.public += sent
		})
	}
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

// tableStats count link table messages (under the engine's lock).
type tableStats struct {
	sent, sendFailed, received, rejected uint64
	public                               uint64 // of sent: over the public channel
}
