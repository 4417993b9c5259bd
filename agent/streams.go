package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tether-ha/tether/links/tcp"
	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/replicator/driver/builtin"
)

// Streams are the replicator's dedicated connections to peers
// (links/tcp.Stream): authenticated and encrypted like the tcp channel,
// on its listener, but never sharing a connection with heartbeats, so a
// mirror at full speed cannot delay them. A stream rides the best network
// whose tcp channel is up (llt.StreamNetworks); when that network stops
// being usable for the peer, its streams are closed, so a fetch in flight
// fails at once and the next one is dialled on the next best network.

// streamWatchEvery is how often the best network of each peer is looked
// at besides link changes: a link preferred by freshness alone changes
// without an event.
const streamWatchEvery = 100 * time.Millisecond

// streamSet is every open stream, dialled or accepted.
type streamSet struct {
	mu   sync.Mutex
	open map[*agentStream]struct{}
	best map[llt.NodeID]int // best network now; -1: none
}

// agentStream is a stream registered with the agent.
type agentStream struct {
	*tcp.Stream
	set  *streamSet
	net  int
	peer llt.NodeID
	once sync.Once
}

// Close closes the stream and forgets it.
func (s *agentStream) Close() error {
	var err error
	s.once.Do(func() {
		s.set.mu.Lock()
		delete(s.set.open, s)
		s.set.mu.Unlock()
		err = s.Stream.Close()
	})
	return err
}

// Stale: a better network than this stream's is usable now.
func (s *agentStream) Stale() bool {
	s.set.mu.Lock()
	defer s.set.mu.Unlock()
	b, ok := s.set.best[s.peer]
	return ok && b >= 0 && b != s.net
}

func (ss *streamSet) add(st *tcp.Stream, net int) *agentStream {
	s := &agentStream{Stream: st, set: ss, net: net, peer: st.Peer()}
	ss.mu.Lock()
	ss.open[s] = struct{}{}
	ss.mu.Unlock()
	return s
}

// update records each peer's usable networks and closes the streams on
// networks that are not among them any more.
func (ss *streamSet) update(usable map[llt.NodeID][]int) {
	ss.mu.Lock()
	var dead []*agentStream
	for p, nets := range usable {
		ss.best[p] = -1
		if len(nets) > 0 {
			ss.best[p] = nets[0]
		}
	}
	for s := range ss.open {
		ok := false
		for _, n := range usable[s.peer] {
			ok = ok || n == s.net
		}
		if !ok {
			dead = append(dead, s)
		}
	}
	ss.mu.Unlock()
	for _, s := range dead {
		s.Close()
	}
}

func (ss *streamSet) closeAll() {
	ss.mu.Lock()
	all := make([]*agentStream, 0, len(ss.open))
	for s := range ss.open {
		all = append(all, s)
	}
	ss.mu.Unlock()
	for _, s := range all {
		s.Close()
	}
}

// peerByName is a configured peer's id.
func (a *Agent) peerByName(name string) (llt.NodeID, bool) {
	for id, n := range a.peerNames {
		if n == name {
			return id, true
		}
	}
	return 0, false
}

// Dial opens a stream to node on the best network that carries one now,
// trying the next ones in order when a dial fails (builtin.Dialer).
func (a *Agent) Dial(ctx context.Context, node string) (builtin.Stream, error) {
	id, ok := a.peerByName(node)
	if !ok {
		return nil, fmt.Errorf("no peer named %q", node)
	}
	var nets []int
	if err := a.do(ctx, func(now time.Time) { nets = a.m.StreamNetworks(now, id) }); err != nil {
		return nil, err
	}
	if len(nets) == 0 {
		return nil, fmt.Errorf("no link to %s has its tcp channel up", node)
	}
	var errs []error
	for _, i := range nets {
		st, err := a.nets[i].tcp.DialStream(ctx, id)
		if err == nil {
			return a.streams.add(st, i), nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", a.nets[i].cfg.Name, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("stream to %s: %w", node, errors.Join(errs...))
}

// onStream is every tcp channel's OnStream: a stream a peer opened. It
// runs on the channel's accept goroutine until the handler returns.
func (a *Agent) onStream(i int) func(*tcp.Stream) {
	return func(st *tcp.Stream) {
		s := a.streams.add(st, i)
		h := a.streamHandler
		if h == nil {
			s.Close()
			return
		}
		h(a.peerNames[st.Peer()], s)
	}
}

// streamWatch keeps the streams on usable networks until ctx ends, then
// closes them all.
func (a *Agent) streamWatch(ctx context.Context) {
	defer a.streams.closeAll()
	t := time.NewTicker(streamWatchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.streamsChanged:
		}
		usable := map[llt.NodeID][]int{}
		if err := a.do(ctx, func(now time.Time) {
			for id := range a.peerNames {
				usable[id] = a.m.StreamNetworks(now, id)
			}
		}); err != nil {
			return
		}
		a.streams.update(usable)
	}
}
