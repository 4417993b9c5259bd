// Package public is the public channel: hashicorp/memberlist gossip on the
// public network, encrypted with a key derived from the cluster key and
// labelled with the cluster id. It says which peers are alive outside the
// private interconnect, so the agent can tell a peer cut off on every
// private link (PARTITIONED) from one that is gone (DOWN), and it carries
// link tables to peers no link reaches.
package public

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"golang.org/x/time/rate"
)

// Timing: a dead peer is declared after a failed probe (one every
// ProbeInterval, round robin) and then SuspicionMult × max(1, log10 N)
// probe intervals of suspicion: about 2.5–3.5 s on 2–10 nodes, against
// 5–26 s at memberlist's LAN defaults. The public network is a LAN.
const (
	probeInterval = 500 * time.Millisecond
	probeTimeout  = 250 * time.Millisecond
	suspicionMult = 4
	// defaultRejoin: memberlist forgets a dead node after 30 s and never
	// joins it again by itself; configured peers are re-joined.
	defaultRejoin = 10 * time.Second
	// maxBestEffort is the largest message sent over UDP (memberlist's
	// packets are 1400 bytes with label, encryption and framing); larger
	// ones go over a TCP stream.
	maxBestEffort = 1100
	metaVersion   = 1
	// tcpTimeout bounds a join, a push-pull and a TCP probe to a peer that
	// does not answer (memberlist's LAN default is 10 s).
	tcpTimeout = 2 * time.Second
)

// Config configures a Channel.
type Config struct {
	Bind    string // IP:port
	Join    []string
	Cluster uint16
	Node    uint16            // this node's id
	Name    string            // this node's name: its memberlist name
	Nodes   map[string]uint16 // every configured node's name → id
	Keys    [][]byte          // cluster keys; the first encrypts, all decrypt
	Log     *slog.Logger
	// RejoinEvery is how often configured peers not alive are joined
	// again; 0: every 10 s.
	RejoinEvery time.Duration
}

// Handler is told what the channel learns. Its methods run on the
// channel's goroutines, never under memberlist's locks.
type Handler interface {
	// Alive reports that a peer became alive or gone on the channel.
	Alive(peer uint16, alive bool, incarnation uint64)
	// Message delivers a message a peer sent with Send.
	Message(from uint16, b []byte)
}

// Channel is a running public channel.
type Channel struct {
	cfg  Config
	h    Handler
	ml   *memberlist.Memberlist
	kr   *memberlist.Keyring
	meta []byte

	mu      sync.Mutex
	alive   map[uint16]member // peers alive on the channel
	changed chan struct{}
	msgs    chan message
	dropped uint64 // messages dropped: the handler did not keep up
	down    bool   // shut down without leaving (crash): tests
}

type member struct {
	node *memberlist.Node
	inc  uint64
}

type message struct {
	from uint16
	b    []byte
}

// DeriveKey derives the public channel's AES-256 key from a cluster key:
// the cluster key itself never goes into memberlist.
func DeriveKey(clusterKey []byte, cluster uint16) ([]byte, error) {
	return hkdf.Key(sha256.New, clusterKey, nil, "tether public channel v1 cluster "+strconv.Itoa(int(cluster)), 32)
}

// Label is the memberlist label of a cluster: packets of another cluster
// are refused before decryption.
func Label(cluster uint16) string { return "tether/" + strconv.Itoa(int(cluster)) }

func keyring(keys [][]byte, cluster uint16) (*memberlist.Keyring, error) {
	var derived [][]byte
	for _, k := range keys {
		d, err := DeriveKey(k, cluster)
		if err != nil {
			return nil, err
		}
		derived = append(derived, d)
	}
	if len(derived) == 0 {
		return nil, errors.New("public channel: no key")
	}
	return memberlist.NewKeyring(derived, derived[0])
}

// Start opens the channel's sockets (an address in use fails here) and
// joins the configured peers that answer. Run must follow.
func Start(cfg Config, incarnation uint64, h Handler) (*Channel, error) {
	ap, err := netip.ParseAddrPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("public.bind: %w", err)
	}
	kr, err := keyring(cfg.Keys, cfg.Cluster)
	if err != nil {
		return nil, err
	}
	c := &Channel{cfg: cfg, h: h, kr: kr, alive: map[uint16]member{},
		changed: make(chan struct{}, 1), msgs: make(chan message, 64)}
	c.meta = binary.BigEndian.AppendUint16([]byte{metaVersion}, cfg.Node)
	c.meta = binary.BigEndian.AppendUint64(c.meta, incarnation)

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = ap.Addr().String(), int(ap.Port())
	mc.AdvertiseAddr, mc.AdvertisePort = mc.BindAddr, mc.BindPort
	mc.ProbeInterval, mc.ProbeTimeout, mc.SuspicionMult = probeInterval, probeTimeout, suspicionMult
	mc.TCPTimeout = tcpTimeout
	mc.Keyring = kr
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	mc.Label = Label(cfg.Cluster)
	mc.Delegate = delegate{c}
	mc.Events = events{c}
	mc.Logger = log.New(&logWriter{log: cfg.Log, limit: rate.NewLimiter(rate.Every(time.Second), 5)}, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("public.bind %s: %w", cfg.Bind, err)
	}
	c.ml = ml
	return c, nil
}

// Run delivers what the channel learns to the handler and re-joins the
// configured peers until ctx is done; then it leaves (the peers learn at
// once that this node stopped) and shuts the channel down.
func (c *Channel) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-c.msgs:
				c.h.Message(m.from, m.b)
			}
		}
	}()
	// Joins on their own goroutine: a join to a peer that does not answer
	// waits for its TCP timeout, and must hold up neither the start nor
	// the reports below.
	joinCtx, stopJoins := context.WithCancel(ctx)
	defer stopJoins()
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := c.cfg.RejoinEvery
		if every <= 0 {
			every = defaultRejoin
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			c.join()
			select {
			case <-joinCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	reported := map[uint16]uint64{}
	report := func() {
		c.mu.Lock()
		now := make(map[uint16]uint64, len(c.alive))
		for id, m := range c.alive {
			now[id] = m.inc
		}
		c.mu.Unlock()
		for id, inc := range now {
			if old, ok := reported[id]; !ok || old != inc {
				c.h.Alive(id, true, inc)
			}
		}
		for id := range reported {
			if _, ok := now[id]; !ok {
				c.h.Alive(id, false, 0)
			}
		}
		reported = now
	}
	report()
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			down := c.down
			c.mu.Unlock()
			if !down {
				_ = c.ml.Leave(500 * time.Millisecond)
				_ = c.ml.Shutdown() // ends a join in progress too
			}
			wg.Wait()
			return
		case <-c.changed:
			report()
		}
	}
}

// Close shuts down a channel that will not Run.
func (c *Channel) Close() { _ = c.ml.Shutdown() }

// join joins the configured peers not alive on the channel.
func (c *Channel) join() {
	c.mu.Lock()
	known := map[string]bool{}
	for _, m := range c.alive {
		known[m.node.Address()] = true
	}
	c.mu.Unlock()
	var addrs []string
	for _, a := range c.cfg.Join {
		if a != c.cfg.Bind && !known[a] {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) > 0 {
		_, _ = c.ml.Join(addrs) // a peer that does not answer is tried again later
	}
}

// Send sends a message to a peer alive on the channel.
func (c *Channel) Send(to uint16, b []byte) error {
	c.mu.Lock()
	m, ok := c.alive[to]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("node %d is not alive on the public channel", to)
	}
	msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(b)), c.cfg.Node)
	msg = append(msg, b...)
	if len(msg) <= maxBestEffort {
		return c.ml.SendBestEffort(m.node, msg)
	}
	return c.ml.SendReliable(m.node, msg)
}

// SetKeys installs new cluster keys (key rotation).
func (c *Channel) SetKeys(keys [][]byte) error {
	kr, err := keyring(keys, c.cfg.Cluster)
	if err != nil {
		return err
	}
	for _, k := range kr.GetKeys() {
		if err := c.kr.AddKey(k); err != nil {
			return err
		}
	}
	if err := c.kr.UseKey(kr.GetPrimaryKey()); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, k := range kr.GetKeys() {
		keep[string(k)] = true
	}
	for _, k := range c.kr.GetKeys() {
		if !keep[string(k)] {
			_ = c.kr.RemoveKey(k)
		}
	}
	return nil
}

// Member is a peer alive on the channel.
type Member struct {
	ID      uint16
	Name    string
	Address string
}

// Members returns the peers alive on the channel.
func (c *Channel) Members() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Member, 0, len(c.alive))
	for id, m := range c.alive {
		out = append(out, Member{ID: id, Name: m.node.Name, Address: m.node.Address()})
	}
	return out
}

// Dropped counts messages dropped because the handler did not keep up.
func (c *Channel) Dropped() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// peerOf returns the configured peer a memberlist node is, from its name
// and its meta (which must agree), or false.
func (c *Channel) peerOf(n *memberlist.Node) (uint16, uint64, bool) {
	id, ok := c.cfg.Nodes[n.Name]
	if !ok || id == c.cfg.Node || len(n.Meta) != 11 || n.Meta[0] != metaVersion ||
		binary.BigEndian.Uint16(n.Meta[1:]) != id {
		return 0, 0, false
	}
	return id, binary.BigEndian.Uint64(n.Meta[3:]), true
}

func (c *Channel) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// events keeps the alive set; memberlist calls it under its own locks, so
// it only records and signals.
type events struct{ c *Channel }

func (e events) NotifyJoin(n *memberlist.Node) { e.update(n, true) }
func (e events) NotifyLeave(n *memberlist.Node) {
	e.update(n, false)
}
func (e events) NotifyUpdate(n *memberlist.Node) { e.update(n, true) }

func (e events) update(n *memberlist.Node, alive bool) {
	c := e.c
	id, inc, ok := c.peerOf(n)
	if !ok {
		return
	}
	c.mu.Lock()
	if alive {
		// A copy, taken here under memberlist's lock: memberlist updates
		// its node in place when it hears the node again, so Send reading
		// n later would race with that.
		nc := *n
		nc.Addr, nc.Meta = slices.Clone(n.Addr), slices.Clone(n.Meta)
		c.alive[id] = member{node: &nc, inc: inc}
	} else {
		delete(c.alive, id)
	}
	c.mu.Unlock()
	c.signal()
}

// delegate serves memberlist's data callbacks.
type delegate struct{ c *Channel }

func (d delegate) NodeMeta(limit int) []byte { return d.c.meta }

func (d delegate) NotifyMsg(b []byte) {
	if len(b) < 2 {
		return
	}
	from := binary.BigEndian.Uint16(b)
	msg := message{from: from, b: append([]byte(nil), b[2:]...)} // memberlist reuses b
	select {
	case d.c.msgs <- msg:
	default:
		d.c.mu.Lock()
		d.c.dropped++
		d.c.mu.Unlock()
	}
}

func (d delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d delegate) LocalState(join bool) []byte                { return nil }
func (d delegate) MergeRemoteState(buf []byte, join bool)     {}

// logWriter turns memberlist's log lines ("[WARN] memberlist: ...") into
// slog records: warnings and errors, at most a few a second (a flood of
// forged packets is one error each); its DEBUG and INFO chatter is dropped.
type logWriter struct {
	log   *slog.Logger
	limit *rate.Limiter
}

func (w *logWriter) Write(p []byte) (int, error) {
	s := string(p)
	for _, lv := range []struct {
		prefix string
		level  slog.Level
	}{{"[ERR]", slog.LevelError}, {"[WARN]", slog.LevelWarn}} {
		if i := strings.Index(s, lv.prefix); i >= 0 {
			if w.limit.Allow() {
				w.log.Log(context.Background(), lv.level, "public channel: "+strings.TrimSpace(s[i+len(lv.prefix):]), "event", EvPublicLog)
			}
			break
		}
	}
	return len(p), nil
}

// EvPublicLog is the event id of memberlist's own warnings and errors.
const EvPublicLog = "public.log"
