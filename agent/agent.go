// Package agent wires tetherd together: configuration, the protocol
// machine (llt), the channels (links), the status API and the event log.
//
// The llt.Machine and everything that goes with it (the encoder, the NIC
// facts) sit behind one mutex, the engine's lock. Channels read, decode
// and authenticate frames on their own goroutines and then, holding the
// lock, feed them to the machine and send what it answers (non-blocking
// writes, or the tcp channel's bounded queues). A timer goroutine runs the
// machine's timers; status requests and NIC events take the same lock.
// Processing a frame where it was read, instead of handing it to a central
// goroutine, saves a thread wakeup per frame: most of an idle agent's CPU.
//
// Nothing that can block runs under the lock: events are logged through a
// non-blocking handler (logsink), and received messages are delivered to
// their handlers after the lock is released.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/public"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/links/nicwatch"
	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/replicator/driver/builtin"
	"github.com/tether-ha/tether/replicator/supervisor"
)

// Version is the agent version, set at build time with -ldflags.
var Version = "dev"

// Agent is one running tetherd.
type Agent struct {
	cfg       *config.Config
	log       *slog.Logger
	startedAt time.Time
	inc       uint64
	m         *llt.Machine
	keys      *llt.Keyring
	codec     *llt.Codec // encodes outgoing frames (under mu)
	nets      []*network
	netNames  []string
	peerNames map[llt.NodeID]string

	mu      sync.Mutex  // the engine's lock: guards everything below and m, codec, keys, nets[].nic
	timer   *time.Timer // fires when the machine's timers are due
	timerAt time.Time
	stopped bool  // shutdown frames sent: no more processing
	fatal   error // the agent must stop (a duplicate node id at start-up); Run returns it
	fatalCh chan struct{}
	tables  chan struct{} // a link changed: send the link tables soon
	changes chan struct{} // a link or network changed: systemd's status line may have

	handlers   map[byte]MessageHandler // set before Run
	msgs       status.Messages         // message API counters (under mu)
	tableStats tableStats              // link table messages (under mu)
	tableSent  tableSent               // the table last sent to every peer (under mu)
	base       counterBase             // what tetherstat -z set to zero (under mu)
	sched      scheduleDelay           // how late the timer ran (under mu)
	tableLimit *rate.Limiter           // rejected link tables logged

	logDropped func() uint64   // log records dropped by the log output; nil: not counted
	pub        *public.Channel // the public channel; nil without one (set before Run)
	// mirrorStatus describes the builtin resources of this node for the
	// status document and the metrics; nil without any (set before Run).
	// It takes the replicator's locks, never the engine's: call it
	// without a.mu held.
	mirrorStatus func() []builtin.ResourceStatus
	// streamHandler serves a stream a peer opened (the replicator's);
	// nil: streams are closed (set before Run).
	streamHandler func(peer string, s builtin.Stream)
	// sup is the failover supervisor; nil without resources (set before Run).
	sup            *supervisor.Supervisor
	streams        streamSet
	streamsChanged chan struct{} // a link changed: look at the streams now

	echoMu      sync.Mutex                // guards echoWaiters (not the engine's lock: replies are matched outside it)
	echoWaiters map[uint64]chan time.Time // pings awaiting replies
}

// New validates what it can, opens every socket and builds the machine.
// Errors name the network and interface (missing interface, missing
// CAP_NET_RAW) so tetherd can exit with a clear message.
func New(cfg *config.Config, keys [][]byte, log *slog.Logger) (*Agent, error) {
	kr, err := llt.NewKeyring(keys...)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", cfg.Cluster.KeyFile, err)
	}
	now := time.Now()
	var rnd [2]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, log: log, startedAt: now, keys: kr,
		inc:            llt.NewIncarnation(now, binary.BigEndian.Uint16(rnd[:])),
		peerNames:      make(map[llt.NodeID]string),
		fatalCh:        make(chan struct{}),
		tableLimit:     rate.NewLimiter(rate.Every(time.Second), 3),
		tables:         make(chan struct{}, 1),
		changes:        make(chan struct{}, 1),
		streamsChanged: make(chan struct{}, 1),
		streams:        streamSet{open: map[*agentStream]struct{}{}, best: map[llt.NodeID]int{}},
		handlers:       make(map[byte]MessageHandler),
		echoWaiters:    make(map[uint64]chan time.Time),
	}
	var names []string
	for _, n := range cfg.Networks {
		names = append(names, n.Name)
	}
	a.netNames = names
	a.codec = llt.NewCodec(kr, names...)
	for i := range cfg.Networks {
		nw, err := openNetwork(cfg, i, names, kr, log, a.tcpAuthFailure(i), a.onStream(i))
		if err != nil {
			a.close()
			return nil, err
		}
		a.nets = append(a.nets, nw)
	}
	var lnets []llt.NetworkConfig
	for _, nw := range a.nets {
		lnets = append(lnets, llt.NetworkConfig{Name: nw.cfg.Name, Lowpri: nw.cfg.Lowpri,
			Ether: nw.ether != nil, TCP: nw.tcp != nil, MaxEtherPayload: nw.maxEtherPayload(), MTU: nw.nic.MTU})
	}
	var peers []llt.NodeID
	for _, p := range cfg.Peers() {
		peers = append(peers, llt.NodeID(p.ID))
		a.peerNames[llt.NodeID(p.ID)] = p.Name
	}
	a.m, err = llt.New(llt.Config{
		Cluster: cfg.Cluster.ID, Self: llt.NodeID(cfg.Node.ID), Incarnation: a.inc, Epoch: now,
		Networks: lnets, Peers: peers, Timers: timers(cfg.Timers), Diagnostics: diagnostics(cfg.Diagnostics),
	})
	if err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func diagnostics(d config.Diagnostics) llt.Diagnostics {
	return llt.Diagnostics{LossWindow: d.LossWindow, LossThreshold: d.LossThreshold, FlapCount: d.FlapCount,
		FlapWindow: d.FlapWindow, FlapHold: d.FlapHold, FlapHoldMax: d.FlapHoldMax, ProbeEvery: d.MTUProbeEvery,
		BroadcastEvery: d.BroadcastEvery}
}

func timers(t config.Timers) llt.Timers {
	return llt.Timers{Heartbeat: t.Heartbeat, PeerTrouble: t.PeerTrouble, PeerInact: t.PeerInact,
		HeartbeatLo: t.HeartbeatLo, PeerTroubleLo: t.PeerTroubleLo, PeerInactLo: t.PeerInactLo}
}

// close releases sockets opened by a New that failed.
func (a *Agent) close() {
	for _, n := range a.nets {
		n.close()
	}
}

// Incarnation returns this start's incarnation.
func (a *Agent) Incarnation() uint64 { return a.inc }

// SetKeys installs a new keyring (SIGHUP key rotation) on every channel
// and the encoder.
func (a *Agent) SetKeys(ctx context.Context, keys [][]byte) error {
	kr, err := llt.NewKeyring(keys...)
	if err != nil {
		return err
	}
	if a.pub != nil {
		if err := a.pub.SetKeys(keys); err != nil {
			return err
		}
	}
	return a.do(ctx, func(time.Time) {
		a.keys = kr
		a.codec = llt.NewCodec(kr, a.netNames...)
		for _, n := range a.nets {
			n.setKeys(kr)
		}
	})
}

// do runs fn with the machine locked, sends what it produced, then
// re-arms the timer.
func (a *Agent) do(ctx context.Context, fn func(now time.Time)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	fn(now)
	a.flush(nil)
	a.rearm(now)
	return nil
}

// rearm points the timer at the machine's next deadline (locked).
func (a *Agent) rearm(now time.Time) {
	dl := a.m.NextDeadline(now)
	if dl.Equal(a.timerAt) || a.timer == nil {
		return
	}
	a.timerAt = dl
	a.timer.Reset(max(dl.Sub(now), 0))
}

// deliver processes a frame on the channel's reader goroutine. Messages it
// carried go to their handlers once the lock is released; their payloads
// alias r, which the reader keeps until deliver returns.
func (a *Agent) deliver(r *links.Received) {
	var inbox []llt.Message
	a.mu.Lock()
	if !a.stopped {
		now := time.Now()
		a.receive(now, r)
		inbox = a.flush(inbox)
		a.rearm(now)
	}
	a.mu.Unlock()
	if len(inbox) > 0 {
		a.dispatch(inbox)
	}
}

// Run runs the agent until ctx is done, then tells the peers it is
// stopping and returns.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	a.timer = time.NewTimer(0)
	a.mu.Unlock()
	defer a.timer.Stop()

	chCtx, stopChannels := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, n := range a.nets {
		n.run(chCtx, &wg, a.deliver)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ifnames []string
		for _, n := range a.nets {
			ifnames = append(ifnames, n.cfg.Interface)
		}
		watchErr <- nicwatch.Watch(watchCtx, ifnames, func(s nicwatch.State) {
			_ = a.do(watchCtx, func(now time.Time) {
				for _, n := range a.nets {
					if n.cfg.Interface == s.Name && !a.stopped {
						a.applyNIC(now, n, s, false)
					}
				}
			})
		})
	}()
	defer func() {
		stopWatch()
		// Give the tcp channel's writers a moment to put the shutdown
		// frames on the wire before the connections close.
		time.Sleep(20 * time.Millisecond)
		stopChannels()
		wg.Wait()
	}()

	a.log.Info("tetherd started", "event", EvAgentStart, "node", a.cfg.Node.Name, "node_id", a.cfg.Node.ID,
		"cluster", a.cfg.Cluster.ID, "incarnation", fmt.Sprintf("%016x", a.inc), "version", Version)
	_ = a.do(ctx, func(now time.Time) {
		for _, n := range a.nets {
			a.applyNIC(now, n, n.nic, true)
		}
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.tableLoop(watchCtx)
	}()
	for {
		select {
		case <-a.fatalCh:
			a.log.Error("tetherd stopping: "+a.fatal.Error(), "event", EvAgentStop, "node", a.cfg.Node.Name, "err", a.fatal)
			return a.fatal
		case <-ctx.Done():
			_ = a.do(context.Background(), func(now time.Time) {
				a.stopped = true
				a.m.Shutdown(now)
			})
			a.log.Info("tetherd stopping: peers told", "event", EvAgentStop, "node", a.cfg.Node.Name)
			return nil
		case err := <-watchErr:
			if err != nil {
				err = fmt.Errorf("netlink watch: %w", err)
				a.log.Error("tetherd stopping: "+err.Error(), "event", EvAgentStop, "node", a.cfg.Node.Name, "err", err)
				return err
			}
		case <-a.timer.C:
			_ = a.do(ctx, func(now time.Time) {
				if !a.timerAt.IsZero() {
					a.sched.observe(now.Sub(a.timerAt))
				}
				a.timerAt = time.Time{} // fired: rearm must set it again
				if !a.stopped && !a.m.NextDeadline(now).After(now) {
					a.m.Advance(now)
				}
			})
		}
	}
}

// receive feeds one frame to the machine (locked).
func (a *Agent) receive(now time.Time, r *links.Received) {
	n := a.nets[r.Network]
	if r.AuthFailure {
		// Its header is unverified: a frame that claims another cluster
		// is another cluster's (it has another key), one that claims ours
		// is a wrong key or a forgery.
		from := formatAddr(r.Channel, r.From)
		if r.Frame.Cluster != a.cfg.Cluster.ID {
			a.m.NoteForeign(now, r.Network, r.Frame.Cluster, r.Frame.Src, from)
		} else {
			a.m.NoteAuthFailure(now, r.Network, r.Frame.Src, from)
		}
		return
	}
	v := a.m.Receive(now, llt.Inbound{Network: r.Network, Channel: r.Channel, From: r.From, Frame: &r.Frame})
	// A probe copy whose heartbeat came first is expected, not a drop.
	if v != llt.Accepted && v != llt.DropProbeCopy {
		if ctr := n.counters(r.Channel); ctr != nil {
			ctr.Drop(v.String())
		}
	}
}

// applyNIC feeds a NIC state change to the machine and logs carrier
// changes (locked).
func (a *Agent) applyNIC(now time.Time, n *network, s nicwatch.State, initial bool) {
	prev := n.nic
	n.nic = s
	if initial || prev.Carrier != s.Carrier || prev.Exists != s.Exists {
		level := slog.LevelInfo
		if !s.Carrier {
			level = slog.LevelWarn
		}
		if !initial || !s.Carrier {
			a.log.Log(context.Background(), level, carrierMsg(s), "event", EvNICCarrier, "network", n.cfg.Name,
				"interface", s.Name, "carrier", s.Carrier, "exists", s.Exists, "oper_state", s.OperState)
		}
	}
	a.m.SetCarrier(now, n.idx, s.Carrier)
	if s.MTU > 0 && s.MTU != prev.MTU {
		a.m.SetMTU(now, n.idx, s.MTU)
	}
}

func carrierMsg(s nicwatch.State) string {
	switch {
	case !s.Exists:
		return "interface gone"
	case !s.Carrier:
		return "carrier lost"
	}
	return "carrier up"
}

// flush takes what the machine produced (locked): it sends the frames,
// logs the events (non-blocking: the logger is a logsink) and appends the
// received messages to inbox for delivery after the lock is released.
func (a *Agent) flush(inbox []llt.Message) []llt.Message {
	out := a.m.Ready()
	defer a.m.Release(out)
	for i := range out.Frames {
		o := &out.Frames[i]
		n := a.nets[o.Network]
		b, err := a.codec.Append(nil, &o.Frame)
		if err != nil {
			// Only a bug can get here: the machine built a frame the codec rejects.
			a.log.Error("cannot encode frame", "event", EvFrameEncodeError, "network", n.cfg.Name, "err", err)
			continue
		}
		n.send(o, b)
	}
	changed := false
	for _, e := range out.Events {
		a.logEvent(e)
		switch e.Kind {
		case llt.EventLink, llt.EventNetwork:
			changed = true
		case llt.EventDuplicateID:
			if e.Fatal && a.fatal == nil {
				a.fatal = a.duplicateError(e)
				close(a.fatalCh)
			}
		}
	}
	if changed {
		for _, ch := range []chan struct{}{a.tables, a.changes, a.streamsChanged} {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	return append(inbox, out.Messages...)
}

// duplicateError is the error tetherd exits with when its node id is taken.
func (a *Agent) duplicateError(e llt.Event) error {
	return fmt.Errorf("node id %d is already in use on network %s by %s (incarnation %016x): refusing to start; give this node a free id in the node table",
		a.cfg.Node.ID, a.nets[e.Network].cfg.Name, formatAddr(llt.ChannelEther, e.Addr), e.Incarnation)
}

// tcpAuthFailure is the tcp channel's report that a configured peer failed
// to authenticate on network i (wrong key). The channel knows the peer by
// its configured address on the network (it dialled it, or the connection
// came from it): that is where the failure came from.
func (a *Agent) tcpAuthFailure(i int) func(peer llt.NodeID) {
	net := a.cfg.Networks[i].Name
	return func(peer llt.NodeID) {
		from := "tcp"
		for _, n := range a.cfg.Nodes {
			if llt.NodeID(n.ID) == peer {
				if ip, ok := n.Addresses[net]; ok {
					from = ip.String()
				}
			}
		}
		_ = a.do(context.Background(), func(now time.Time) {
			if !a.stopped {
				a.m.NoteAuthFailure(now, i, peer, from)
			}
		})
	}
}
