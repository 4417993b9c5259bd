package failover

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Votes come from views (view.go). A vote is dated by the echo it
// carries: a voter's view that echoes our view number s was made after we
// sent s, so it proves the voter's opinion at the time we sent s, whatever
// the network or a pause did to it in between. Nothing compares clocks of
// two nodes; durations a peer reports are only ever used to make a
// condition harder to meet.

// Electorate is who votes: every node of the cluster, witnesses included.
type Electorate struct {
	Self    uint16
	Voters  []uint16 // self included
	Witness map[uint16]bool
	Names   map[uint16]string // for the reports
	// External names the external voter (quorum.etcd), "" for none.
	External string
}

func (e Electorate) name(id uint16) string {
	if n, ok := e.Names[id]; ok {
		return n
	}
	return fmt.Sprint(id)
}

// Heard is the last view from a node and when it arrived here.
type Heard struct {
	View View
	At   time.Time
}

// peer returns how the view's sender sees node id.
func (h Heard) peer(id uint16) (PeerView, bool) {
	for _, p := range h.View.Peers {
		if p.ID == id {
			return p, true
		}
	}
	return PeerView{}, false
}

func (h Heard) resource(name string) (ResourceView, bool) {
	for _, r := range h.View.Resources {
		if r.Name == name {
			return r, true
		}
	}
	return ResourceView{}, false
}

// sentKeep is how many of our last views are remembered (6.4 s at one a
// tenth of a second): an echo older than that dates nothing.
const sentKeep = 64

// SentLog numbers this node's views and remembers when each was sent.
type SentLog struct {
	last uint64
	at   [sentKeep]time.Time
}

// NewSentLog starts the numbering at first (the agent's incarnation, so
// that echoes of a previous run's views never match).
func NewSentLog(first uint64) *SentLog { return &SentLog{last: first} }

// Next numbers a view sent now.
func (s *SentLog) Next(now time.Time) uint64 {
	s.last++
	s.at[s.last%sentKeep] = now
	return s.last
}

// Last is the number of the last view sent.
func (s *SentLog) Last() uint64 { return s.last }

// At says when view seq was sent, if it is one of the last remembered.
func (s *SentLog) At(seq uint64) (time.Time, bool) {
	if seq == 0 || seq > s.last || s.last-seq >= sentKeep {
		return time.Time{}, false
	}
	return s.at[seq%sentKeep], true
}

// alive: the states in which a voter sees a node as not dead. PARTITIONED
// counts: a mirror never fails over a PARTITIONED primary.
func alive(state string) bool {
	return state == NodeOpen || state == NodeJeopardy || state == NodePartitioned
}

// Lease keeps a primary's right to write: it holds while a majority of
// voters (itself included) said, in views that echo one of its recent
// views, that they see it alive and hold it as the primary at its epoch.
// It lasts SelfFence/2 from the send time of the echoed view, so it ends
// at most SelfFence/2 after a voter last saw this node alive; a voter
// confirms a primary DOWN only after SelfFence + Margin (Confirm), and a
// mirror promotes only after grace > SelfFence + Margin.
//
// A voter counts only once it has supported this node for SelfFence/2
// without a break: a voter that just switched (it held the old primary's
// epoch a moment ago, whose lease may still run on that voter's last old
// word) cannot make a new primary writable before the old lease ends.
type Lease struct {
	cfg      Config
	epoch    uint32
	first    map[uint16]time.Time // since when each voter supports us
	pausedAt time.Time
}

// NewLease starts a lease keeper (no lease yet).
func NewLease(cfg Config) *Lease { return &Lease{cfg: cfg, first: map[uint16]time.Time{}} }

// Term is how long one grant lasts.
func (c Config) Term() time.Duration { return c.SelfFence / 2 }

// Paused tells the keeper this node did not run until now: no vote dated
// before counts, so the lease ends now.
func (l *Lease) Paused(at time.Time) {
	l.pausedAt = at
	clear(l.first)
}

// Grant is a lease evaluation.
type Grant struct {
	Until  time.Time // writes allowed while now < Until (zero: fenced)
	Quorum Quorum
	Why    string // why there is no lease
	// Higher: a voter holds a higher epoch of the resource (somebody
	// was promoted): this node is no longer its primary.
	Higher     *ResourceView
	HigherFrom uint16
}

// Evaluate computes the lease of resource at epoch at now.
// x is the external voter's word (ignored without one).
func (l *Lease) Evaluate(now time.Time, e Electorate, resource string, epoch uint32, heard map[uint16]Heard, sent *SentLog, x External) Grant {
	if epoch != l.epoch {
		l.epoch = epoch
		clear(l.first)
	}
	g := Grant{Quorum: Quorum{Voters: e.Count(), Votes: 1}}
	var dates []time.Time
	var missing []string
	for _, v := range e.Voters {
		if v == e.Self {
			continue
		}
		t, why := l.support(now, e, v, resource, epoch, heard[v], sent, &g)
		if why == "" && !t.Add(l.cfg.Term()).After(now) {
			// Not a vote now (the status's count must not show it).
			why = fmt.Sprintf("its last answer is %v old", now.Sub(t).Round(time.Millisecond))
		}
		if why != "" {
			delete(l.first, v)
			missing = append(missing, e.name(v)+": "+why)
			continue
		}
		if l.first[v].IsZero() {
			l.first[v] = now
		}
		if now.Sub(l.first[v]) < l.cfg.Term() {
			missing = append(missing, e.name(v)+": supports this node since "+now.Sub(l.first[v]).Round(time.Millisecond).String())
			continue
		}
		g.Quorum.Votes++
		if e.Witness[v] {
			g.Quorum.Witness = true
		}
		dates = append(dates, t)
	}
	if e.External != "" {
		if x.Held && x.Epoch > epoch && (g.Higher == nil || x.Epoch > g.Higher.Epoch) {
			g.Higher, g.HigherFrom = &ResourceView{Name: resource, Epoch: x.Epoch, Primary: x.Holder}, x.Holder
		}
		if t, why := l.externalVote(now, e, epoch, x); why != "" {
			missing = append(missing, e.External+": "+why)
		} else {
			g.Quorum.Votes++
			g.Quorum.Witness = true
			dates = append(dates, t)
		}
	}
	need := g.Quorum.Voters/2 + 1 - 1 // besides this node
	if !g.Quorum.Possible() {
		g.Why = fmt.Sprintf("%d voters: no quorum is possible", g.Quorum.Voters)
		return g
	}
	if len(dates) < need {
		g.Why = fmt.Sprintf("%d of %d votes (%s)", g.Quorum.Votes, g.Quorum.Voters, strings.Join(missing, "; "))
		return g
	}
	// The lease rests on the need freshest votes.
	sort.Slice(dates, func(i, j int) bool { return dates[i].After(dates[j]) })
	if need > 0 {
		g.Until = dates[need-1].Add(l.cfg.Term())
	} else {
		g.Until = now.Add(l.cfg.Term())
	}
	if !g.Until.After(now) {
		g.Why, g.Until = "the freshest votes are older than the lease term", time.Time{}
	}
	return g
}

// support says whether voter v backs this node, and from when.
func (l *Lease) support(now time.Time, e Electorate, v uint16, resource string, epoch uint32, h Heard, sent *SentLog, g *Grant) (time.Time, string) {
	if h.At.IsZero() {
		return time.Time{}, "not heard"
	}
	if rv, ok := h.resource(resource); ok && rv.Epoch > epoch && (g.Higher == nil || rv.Epoch > g.Higher.Epoch) {
		c := rv
		g.Higher, g.HigherFrom = &c, v
	}
	pv, ok := h.peer(e.Self)
	if !ok {
		return time.Time{}, "its view has no word of this node"
	}
	t, ok := sent.At(pv.Echo)
	switch {
	case !ok:
		return time.Time{}, "its last view answers none of this node's recent ones"
	case !t.After(l.pausedAt):
		return time.Time{}, "its last view predates this node's pause"
	case !alive(pv.State):
		return time.Time{}, "it sees this node " + pv.State
	}
	rv, ok := h.resource(resource)
	switch {
	case !ok:
		return time.Time{}, "it does not know the resource"
	case rv.Epoch != epoch || rv.Primary != e.Self:
		return time.Time{}, fmt.Sprintf("it holds epoch %d with primary %s", rv.Epoch, e.name(rv.Primary))
	case rv.Promoting:
		return time.Time{}, "it is failing over"
	}
	return t, ""
}

// Confirmation is the mirror side's count: voters that confirm the primary
// is gone.
type Confirmation struct {
	Quorum  Quorum
	Answers []string // one per voter, for the history
	Witness string   // the witnesses' answers
}

// ConfirmFresh: a confirmation must answer one of our views sent at most
// this long ago.
const ConfirmFresh = time.Second

// Confirm counts the votes for failing over primary: this node's own
// (its own view of the primary is Decide's first condition) and each other
// voter's whose fresh view has seen the primary DOWN for at least
// SelfFence + Margin, by then past any lease it granted; and the external
// voter's, when a fresh read found the primary's key free.
func Confirm(cfg Config, now time.Time, e Electorate, primary uint16, heard map[uint16]Heard, sent *SentLog, x External) Confirmation {
	c := Confirmation{Quorum: Quorum{Voters: e.Count(), Votes: 1}}
	var wit []string
	for _, v := range e.Voters {
		if v == e.Self || v == primary {
			continue
		}
		why := confirms(cfg, now, e, v, primary, heard[v], sent)
		ans := e.name(v) + ": " + why
		if why == "" {
			c.Quorum.Votes++
			ans = e.name(v) + ": confirms"
			if e.Witness[v] {
				c.Quorum.Witness = true
			}
		}
		c.Answers = append(c.Answers, ans)
		if e.Witness[v] {
			wit = append(wit, ans)
		}
	}
	if e.External != "" {
		ans := e.External + ": confirms (the key is free)"
		if why := externalConfirms(now, e, primary, x); why != "" {
			ans = e.External + ": " + why
		} else {
			c.Quorum.Votes++
			c.Quorum.Witness = true
		}
		c.Answers = append(c.Answers, ans)
		wit = append(wit, ans)
	}
	slices.Sort(c.Answers)
	c.Witness = strings.Join(wit, "; ")
	return c
}

func confirms(cfg Config, now time.Time, e Electorate, v, primary uint16, h Heard, sent *SentLog) string {
	if h.At.IsZero() {
		return "not heard"
	}
	me, ok := h.peer(e.Self)
	if !ok {
		return "its view has no word of this node"
	}
	if t, ok := sent.At(me.Echo); !ok || now.Sub(t) > ConfirmFresh {
		return "its last view is stale"
	}
	pv, ok := h.peer(primary)
	if !ok {
		return "its view has no word of the primary"
	}
	if pv.State != NodeDown {
		return "sees " + e.name(primary) + " " + pv.State
	}
	// It has seen it DOWN at least since h.At − For (our clock; the
	// view may have been made earlier, which only makes it longer).
	if down := now.Sub(h.At.Add(-pv.For)); down < cfg.SelfFence+cfg.Margin {
		return fmt.Sprintf("sees %s DOWN for %v of %v", e.name(primary), down.Round(time.Millisecond), cfg.SelfFence+cfg.Margin)
	}
	return ""
}
