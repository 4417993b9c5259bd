package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ha/tether/replicator/failover"
	"github.com/tether-ha/tether/replicator/history"
)

// Every is how often the agent calls Tick (and sends the view).
const Every = 100 * time.Millisecond

// pauseAfter: a tick this late means this node did not run (SIGSTOP, VM
// pause, starved): its leases end at once.
const pauseAfter = 3 * Every

// Resource is one resource of the cluster configuration.
type Resource struct {
	Name            string
	Primary, Mirror string // node names at the first epoch
	Failover        failover.Config
	Target          Target // nil: this node holds no copy (a witness, a third node)
}

// Config configures a Supervisor.
type Config struct {
	Self      string
	Nodes     map[string]uint16 // every node of the cluster, witnesses included
	Witnesses map[string]bool
	Resources []Resource
	History   *history.Log // nil: decisions are logged only (a node without a replicator directory)
	Log       *slog.Logger
	// FirstSeq numbers this node's views (the agent's incarnation).
	FirstSeq uint64
	// External: an external voter (nil: none).
	External External
}

// Peer is how the link layer sees one peer at a tick.
type Peer struct {
	ID               uint16
	State            string // failover.Node*
	Since            time.Time
	OneWay, Flapping bool
	LastHeard        time.Time // the last frame from it on any link (zero: never)
}

// Tick is what the agent knows at one tick.
type Tick struct {
	Now   time.Time
	Peers []Peer
	// Links is the link table for the history (network -> peer ->
	// state); called only when a record is written.
	Links func() map[string]map[string]string
}

// Supervisor runs the rules of every resource. Hear may be called from any
// goroutine; Tick from one goroutine only; Status from any.
type Supervisor struct {
	cfg   Config
	e     failover.Electorate
	names map[uint16]string
	res   []*resState

	hmu   sync.Mutex
	heard map[uint16]failover.Heard
	sent  *failover.SentLog // under hmu: echoes are read when views arrive
	bad   uint64            // views that did not decode

	lastTick time.Time
	done     chan promoted // finished failovers, drained by Tick
	wg       sync.WaitGroup
	status   atomic.Pointer[[]ResourceStatus]
}

// New checks cfg and builds the supervisor.
func New(cfg Config) (*Supervisor, error) {
	self, ok := cfg.Nodes[cfg.Self]
	if !ok {
		return nil, fmt.Errorf("supervisor: node %q is not in the cluster", cfg.Self)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{cfg: cfg, names: map[uint16]string{}, heard: map[uint16]failover.Heard{},
		sent: failover.NewSentLog(cfg.FirstSeq), done: make(chan promoted, len(cfg.Resources)+1)}
	s.e = failover.Electorate{Self: self, Witness: map[uint16]bool{}, Names: s.names}
	if cfg.External != nil {
		s.e.External = cfg.External.Name()
	}
	for n, id := range cfg.Nodes {
		s.names[id] = n
		s.e.Voters = append(s.e.Voters, id)
		if cfg.Witnesses[n] {
			s.e.Witness[id] = true
		}
	}
	slices.Sort(s.e.Voters)
	for _, r := range cfg.Resources {
		if _, ok := cfg.Nodes[r.Primary]; !ok {
			return nil, fmt.Errorf("supervisor: resource %q: primary %q is not a node", r.Name, r.Primary)
		}
		if _, ok := cfg.Nodes[r.Mirror]; !ok {
			return nil, fmt.Errorf("supervisor: resource %q: mirror %q is not a node", r.Name, r.Mirror)
		}
		if err := r.Failover.Validate(); err != nil {
			return nil, fmt.Errorf("supervisor: resource %q: %w", r.Name, err)
		}
		s.res = append(s.res, &resState{Resource: r, lease: failover.NewLease(r.Failover),
			known:       failover.ResourceView{Name: r.Name, Epoch: 1, Primary: cfg.Nodes[r.Primary]},
			resignEpoch: resignedAt(cfg.History, r.Name)})
	}
	s.publish(time.Time{})
	return s, nil
}

// Supervised reports whether resources with automatic failover need a
// lease: failover.auto and a quorum possible.
func Supervised(f failover.Config, voters int) bool { return f.Auto && voters >= 3 }

// Hear takes a view a peer sent (its body), at now.
func (s *Supervisor) Hear(from uint16, body []byte, now time.Time) error {
	v, err := failover.DecodeView(body)
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if err != nil {
		s.bad++
		return err
	}
	if _, ok := s.names[from]; !ok || from == s.e.Self {
		s.bad++
		return fmt.Errorf("a failover view from node %d, which is not a peer", from)
	}
	if old, ok := s.heard[from]; ok && v.Seq <= old.View.Seq && v.Seq+1<<20 > old.View.Seq {
		return nil // reordered (a change of route): keep the newer
	}
	s.heard[from] = failover.Heard{View: v, At: now}
	return nil
}

// Rejected is the number of views that did not decode.
func (s *Supervisor) Rejected() uint64 {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.bad
}

// Wait waits for failovers in flight (call after the context passed to
// Tick is done).
func (s *Supervisor) Wait() { s.wg.Wait() }

// Tick runs every rule once and returns the view to send to every peer.
func (s *Supervisor) Tick(ctx context.Context, t Tick) ([]byte, error) {
	if !s.lastTick.IsZero() && t.Now.Sub(s.lastTick) > pauseAfter {
		s.paused(t, t.Now.Sub(s.lastTick))
	}
	s.lastTick = t.Now
	for drained := false; !drained; {
		select {
		case p := <-s.done:
			s.finished(t, p)
		default:
			drained = true
		}
	}
	s.hmu.Lock()
	heard := make(map[uint16]failover.Heard, len(s.heard))
	for id, h := range s.heard {
		heard[id] = h
	}
	s.hmu.Unlock()
	peers := map[uint16]Peer{}
	for _, p := range t.Peers {
		peers[p.ID] = p
	}
	for _, r := range s.res {
		s.relay(r, heard)
		if r.Target != nil {
			s.tickResource(ctx, t, r, heard, peers)
		}
	}
	s.publish(t.Now)
	return s.view(t, heard)
}

// relay raises what this node knows of r's epoch to the highest heard.
func (s *Supervisor) relay(r *resState, heard map[uint16]failover.Heard) {
	for id, h := range heard {
		for _, rv := range h.View.Resources {
			if rv.Name == r.Name && rv.Epoch > r.known.Epoch {
				r.known, r.knownFrom = rv.Fact(), id
			}
		}
	}
}

// view composes this node's view.
func (s *Supervisor) view(t Tick, heard map[uint16]failover.Heard) ([]byte, error) {
	s.hmu.Lock()
	seq := s.sent.Next(t.Now)
	s.hmu.Unlock()
	v := failover.View{Seq: seq}
	for _, p := range t.Peers {
		v.Peers = append(v.Peers, failover.PeerView{ID: p.ID, State: p.State, For: t.Now.Sub(p.Since), Echo: heard[p.ID].View.Seq})
	}
	for _, r := range s.res {
		rv := r.known
		s.flags(t, r, &rv)
		v.Resources = append(v.Resources, rv)
	}
	return failover.AppendView(nil, &v)
}

// record writes a decision to the history (when there is one) unless it
// repeats the last; ok false: it could not be written, so the caller
// must not act; wrote: it is new (the caller logs it, once).
func (s *Supervisor) record(t Tick, r *resState, rec *history.Record) (wrote, ok bool) {
	rec.Time, rec.Node, rec.Resource = t.Now, s.cfg.Self, r.Name
	if r.last != nil && rec.Same(*r.last) {
		return false, true
	}
	if s.cfg.History != nil {
		if t.Links != nil && rec.Links == nil {
			rec.Links = t.Links()
		}
		w, err := s.cfg.History.Append(*rec)
		if err != nil {
			s.cfg.Log.Error("cannot write the failover history: not acting on the decision", "event", EvHistoryError,
				"resource", rec.Resource, "action", rec.Action, "err", err)
			return false, false
		}
		wrote = w
	} else {
		wrote = true
	}
	c := *rec
	r.last = &c
	return wrote, true
}

// attrs are a record's log attributes.
func attrs(rec *history.Record) []any {
	return []any{"resource", rec.Resource, "action", rec.Action, "reason", rec.Reason, "detail", rec.Detail,
		"epoch", rec.EpochAfter, "votes", rec.Votes, "voters", rec.Voters}
}
