// Package tcp is the tcp channel: per peer and network a pair of
// long-lived TCP connections, one dialled by each side (like the Redis
// cluster bus), each authenticated by a mutual challenge-response on the
// cluster key and carrying length-prefixed llt frames both ways. The
// handshake (handshake.go) tells a client without the key nothing: no
// identity, no reason for a refusal, the same answer to every HELLO.
//
// A connection is declared dead by its heartbeats (no frame for the idle
// timeout, a little over peerinact), never by TCP keepalive, so a frozen
// or blackholed peer is noticed while TCP itself sees nothing. Each
// connection's send buffer is bounded: a peer that stops reading gets its
// connection reset, memory never grows.
//
// Beside the links, a peer may open streams (stream.go): connections of
// their own on the same listener, after the same handshake, carrying
// large encrypted messages so they never queue ahead of heartbeats.
package tcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/llt"
)

// Peer is a node this channel connects to.
type Peer struct {
	ID   llt.NodeID
	Name string
	Addr netip.AddrPort // the peer's listener on this network
}

// Config configures a Channel. Zero durations and limits take defaults.
type Config struct {
	Network  int    // network index
	Name     string // network name
	Cluster  uint16
	Self     llt.NodeID
	Listen   netip.AddrPort // our address and port on this network
	Peers    []Peer
	Names    []string // network names interned by the decoder
	Keys     *llt.Keyring
	Counters *links.Counters
	Log      *slog.Logger

	SendBufLimit     int           // bytes queued per connection before it is reset; default 1 MiB
	IdleTimeout      time.Duration // no frame this long: connection dead; set it a little over peerinact
	HandshakeTimeout time.Duration // default 2 s
	DialTimeout      time.Duration // default 2 s
	BackoffMin       time.Duration // default 50 ms
	BackoffMax       time.Duration // default 2 s
	MaxPending       int           // handshakes in progress at once; default 32
	MaxPendingPerIP  int           // from one address; default 4

	// OnAuthFailure, when set, is called with a configured peer's id when
	// the cluster key does not match with it: a connection from the
	// peer's address claiming its id names a key we do not hold or fails
	// its AUTH, or the peer we dialled does not prove the key (and has no
	// authenticated RESULT to say otherwise). Refusals of a peer that
	// holds the key (crossed addresses, wrong node) do not call it. It is
	// called on a handshake goroutine, with no lock of the channel held,
	// as often as it happens (the owner rate-limits): it must not block.
	// Stream handshakes, both ways, report the same.
	OnAuthFailure func(peer llt.NodeID)

	// OnStream, when set, is handed each stream a peer opens to us
	// (DialStream on its side), on a goroutine of the channel's: it owns
	// the stream until it returns, and the channel closes the stream then.
	// When Run's ctx is done the channel closes the stream, so a Recv or
	// Send in progress fails; OnStream must then return, as Run waits for
	// it. Without OnStream, a peer asking for a stream is refused
	// (RefusedNoStreams).
	OnStream func(s *Stream)
	// StreamMaxMessage bounds a message on a stream, either way: Send
	// refuses a larger one, Recv fails on one. Default 16 MiB, at most
	// MaxStreamMessage.
	StreamMaxMessage int
}

// Defaults.
const (
	DefaultSendBufLimit     = 1 << 20
	DefaultHandshakeTimeout = 2 * time.Second
	DefaultDialTimeout      = 2 * time.Second
	DefaultBackoffMin       = 50 * time.Millisecond
	DefaultBackoffMax       = 2 * time.Second
	DefaultMaxPending       = 32
	DefaultMaxPendingPerIP  = 4
	DefaultStreamMaxMessage = 16 << 20
	MaxStreamMessage        = 1 << 30 // the length prefix fits in 32 bits, even on 32-bit platforms
	// stableAfter: a connection that lived this long resets the backoff.
	stableAfter = 10 * time.Second
)

func (c *Config) defaults() {
	if c.SendBufLimit == 0 {
		c.SendBufLimit = DefaultSendBufLimit
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = time.Second
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.MaxPendingPerIP == 0 {
		c.MaxPendingPerIP = DefaultMaxPendingPerIP
	}
	if c.StreamMaxMessage == 0 {
		c.StreamMaxMessage = DefaultStreamMaxMessage
	}
}

// Counter labels of this channel (links.Counters): frame drops besides the
// llt ones, and connection events (refusals, resets, dial failures).
// Streams have no labels of their own (the metric series are these): an
// accepted stream counts as "accepted" and a refused one as "refused-*"
// like any handshake, a no-streams refusal under links.OtherCause; a
// dialled stream counts nothing, its caller has the error.
var (
	DropCauses = []string{"not-connected", "wrong-sender", "send-queue-full"}
	ConnCauses = []string{
		"accepted", "dialled",
		"refused-" + RefusedForeignCluster, "refused-" + RefusedWrongNode, "refused-" + RefusedUnknownNode,
		"refused-" + RefusedWrongAddress, "refused-" + RefusedWrongNetwork, "refused-" + RefusedUnknownKey,
		"refused-" + RefusedBadProof, "refused-" + RefusedBusy, "refused-" + RefusedMalformed, "refused-" + RefusedTimeout,
		"refused-unknown-address", "dial-failed", "handshake-failed",
		"reset-" + CloseSendBufLimit, "reset-" + CloseIdle, "reset-" + CloseWriteTimeout, "reset-" + ClosePeer,
		"reset-" + CloseReplaced, "reset-" + CloseBadFrame,
	}
)

// Channel is the tcp channel of one network.
type Channel struct {
	cfg   Config
	id    identity
	ln    net.Listener
	keys  atomic.Pointer[llt.Keyring]
	peers map[llt.NodeID]*peerState
	byIP  map[netip.Addr]llt.NodeID

	pending   chan struct{} // semaphore of handshakes in progress
	pendingMu sync.Mutex
	pendingIP map[netip.Addr]int

	logLimit *rate.Limiter
	wg       sync.WaitGroup
}

// peerState is one peer's pair of connections.
type peerState struct {
	Peer
	mu        sync.Mutex
	out, in   *conn
	dialErr   string    // why the last outbound attempt failed
	dialErrAt time.Time // when
	inErr     string    // why the last inbound attempt from this peer was refused
	inErrAt   time.Time
	lastIn    time.Time // when the peer last connected to us
}

// New binds the listener. The error names the address when it cannot be
// bound (not configured on this node, port in use).
func New(cfg Config) (*Channel, error) {
	cfg.defaults()
	if cfg.StreamMaxMessage < 0 || cfg.StreamMaxMessage > MaxStreamMessage {
		return nil, fmt.Errorf("tcp channel %s: StreamMaxMessage %d out of range 0..%d", cfg.Name, cfg.StreamMaxMessage, MaxStreamMessage)
	}
	ch := &Channel{
		cfg:       cfg,
		id:        identity{cluster: cfg.Cluster, self: cfg.Self, network: cfg.Name},
		peers:     make(map[llt.NodeID]*peerState, len(cfg.Peers)),
		byIP:      make(map[netip.Addr]llt.NodeID, len(cfg.Peers)),
		pending:   make(chan struct{}, cfg.MaxPending),
		pendingIP: make(map[netip.Addr]int),
		logLimit:  rate.NewLimiter(rate.Every(time.Second), 5),
	}
	ch.keys.Store(cfg.Keys)
	for _, p := range cfg.Peers {
		ch.peers[p.ID] = &peerState{Peer: p}
		ch.byIP[p.Addr.Addr()] = p.ID
	}
	lc := net.ListenConfig{KeepAlive: -1} // liveness comes from heartbeats, not keepalive
	ln, err := lc.Listen(context.Background(), "tcp", cfg.Listen.String())
	if err != nil {
		return nil, fmt.Errorf("tcp listener on %s: %w", cfg.Listen, err)
	}
	ch.ln = ln
	return ch, nil
}

// Addr returns the listener's address.
func (ch *Channel) Addr() net.Addr { return ch.ln.Addr() }

// SetKeys replaces the keyring (key rotation).
func (ch *Channel) SetKeys(kr *llt.Keyring) { ch.keys.Store(kr) }

// Close releases the listener of a Channel that never ran.
func (ch *Channel) Close() error { return ch.ln.Close() }

// Run accepts and dials until ctx is done, handing decoded frames to
// deliver on each connection's reader goroutine. It closes every
// connection when it returns.
func (ch *Channel) Run(ctx context.Context, deliver links.Deliver) error {
	stop := context.AfterFunc(ctx, func() { ch.ln.Close() })
	defer stop()
	for _, p := range ch.peers {
		ch.wg.Add(1)
		go func() {
			defer ch.wg.Done()
			ch.dialLoop(ctx, p, deliver)
		}()
	}
	ch.acceptLoop(ctx, deliver)
	for _, p := range ch.peers {
		p.mu.Lock()
		for _, c := range []*conn{p.out, p.in} {
			if c != nil {
				c.close(CloseShutdown)
			}
		}
		p.mu.Unlock()
	}
	ch.wg.Wait()
	return nil
}

// Send queues a frame on the connection to peer of direction dir
// (llt.ChannelTCPTo: the one we dialled). It never blocks; without a
// connection the frame is dropped and counted. frame is copied, not
// retained: the caller may reuse it.
func (ch *Channel) Send(peer llt.NodeID, dir llt.Channel, frame []byte) {
	p := ch.peers[peer]
	if p == nil {
		return
	}
	c := ch.conn(peer, dir)
	if c == nil {
		ch.cfg.Counters.Drop("not-connected")
		return
	}
	if err := c.enqueue(frame); err == nil {
		ch.cfg.Counters.TxFrames.Add(1)
		ch.cfg.Counters.TxBytes.Add(uint64(4 + len(frame)))
	} else {
		ch.cfg.Counters.TxErrors.Add(1)
		if errors.Is(err, errOverLimit) {
			ch.logf(slog.LevelWarn, "connection reset: send buffer limit", "event", "tcp.reset", "peer", p.Name,
				"peer_id", uint16(peer), "direction", dirName(dir), "reason", CloseSendBufLimit, "limit", ch.cfg.SendBufLimit)
		}
	}
}

// MessageShare is the part of a connection's send buffer limit that
// messages may fill: the rest stays free for heartbeats and replies, so a
// burst of messages is pushed back (Room says no) instead of resetting the
// connection, which only a peer that stops reading does.
const MessageShare = 2 // 1/MessageShare of SendBufLimit

// Room reports whether the connection to peer of direction dir can take a
// message frame of n bytes now: it is connected and what it holds plus
// the frame stays within 1/MessageShare of the send buffer limit.
func (ch *Channel) Room(peer llt.NodeID, dir llt.Channel, n int) bool {
	c := ch.conn(peer, dir)
	if c == nil {
		return false
	}
	return c.used()+4+n <= ch.cfg.SendBufLimit/MessageShare
}

// conn returns the live connection to peer of direction dir, or nil.
func (ch *Channel) conn(peer llt.NodeID, dir llt.Channel) *conn {
	p := ch.peers[peer]
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if dir == llt.ChannelTCPFrom {
		return p.in
	}
	return p.out
}

func dirName(dir llt.Channel) string {
	if dir == llt.ChannelTCPTo {
		return "to"
	}
	return "from"
}

func (ch *Channel) logf(level slog.Level, msg string, args ...any) {
	if level >= slog.LevelWarn && !ch.logLimit.Allow() {
		return
	}
	ch.cfg.Log.Log(context.Background(), level, msg, append([]any{"network", ch.cfg.Name}, args...)...)
}

func (ch *Channel) acceptLoop(ctx context.Context, deliver links.Deliver) {
	for {
		nc, err := ch.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: wait a little rather than spin.
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		remote := addrOf(nc.RemoteAddr())
		if _, known := ch.byIP[remote]; !known {
			ch.cfg.Counters.ConnEvent("refused-unknown-address")
			ch.logf(slog.LevelWarn, "connection refused: not a configured peer address", "event", "tcp.refused",
				"remote", nc.RemoteAddr().String(), "reason", "unknown-address")
			nc.Close()
			continue
		}
		if !ch.acquire(remote) {
			ch.cfg.Counters.ConnEvent("refused-" + RefusedBusy)
			nc.Close()
			continue
		}
		ch.wg.Add(1)
		go func() {
			defer ch.wg.Done()
			peer, tr, ok := ch.handshake(nc, remote) // holds the slot only this long
			ch.release(remote)
			switch {
			case !ok:
			case tr.stream: // never a link: not registered, no frames
				ch.serveStream(ctx, nc, peer, tr)
			default:
				ch.serve(ctx, nc, peer, llt.ChannelTCPFrom, deliver)
			}
		}()
	}
}

// acquire takes a handshake slot for remote, if one is free.
func (ch *Channel) acquire(remote netip.Addr) bool {
	ch.pendingMu.Lock()
	defer ch.pendingMu.Unlock()
	if ch.pendingIP[remote] >= ch.cfg.MaxPendingPerIP {
		return false
	}
	select {
	case ch.pending <- struct{}{}:
	default:
		return false
	}
	ch.pendingIP[remote]++
	return true
}

func (ch *Channel) release(remote netip.Addr) {
	ch.pendingMu.Lock()
	defer ch.pendingMu.Unlock()
	<-ch.pending
	if ch.pendingIP[remote]--; ch.pendingIP[remote] <= 0 {
		delete(ch.pendingIP, remote)
	}
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ap := ta.AddrPort(); ap.IsValid() {
			return ap.Addr().Unmap()
		}
	}
	return netip.Addr{}
}

// admit checks the claimed node id against the address it came from.
func (ch *Channel) admit(from llt.NodeID, addr netip.Addr) string {
	p := ch.peers[from]
	if p == nil {
		return RefusedUnknownNode
	}
	if p.Addr.Addr() != addr {
		return RefusedWrongAddress
	}
	return ""
}

// handshake runs the server side of the handshake; on failure it closes
// the connection, counts and logs the refusal.
func (ch *Channel) handshake(nc net.Conn, remote netip.Addr) (llt.NodeID, transcript, bool) {
	deadline := time.Now().Add(ch.cfg.HandshakeTimeout)
	peer, authFailed, tr, err := serverHandshake(nc, ch.id, ch.keys.Load(), ch.admit, ch.cfg.OnStream != nil, remote, deadline)
	if err == nil {
		ch.cfg.Counters.ConnEvent("accepted")
		return peer, tr, true
	}
	nc.Close()
	// Only a configured peer's own address and id: a stranger claiming
	// anything is not news about that peer's key.
	if id, ok := ch.byIP[remote]; authFailed && ok && id == peer && ch.cfg.OnAuthFailure != nil {
		ch.cfg.OnAuthFailure(peer)
	}
	reason := RefusedMalformed
	var he *HandshakeError
	if errors.As(err, &he) {
		reason = he.Reason
	}
	// The listing's diagnosis is the links': a refused stream says nothing
	// of why the peer's link is missing.
	if p := ch.peers[ch.byIP[remote]]; p != nil && !tr.stream {
		p.mu.Lock()
		p.inErr, p.inErrAt = err.Error(), time.Now()
		p.mu.Unlock()
	}
	// Counted last: whoever sees the count sees the rest done.
	ch.cfg.Counters.ConnEvent("refused-" + reason)
	ch.logf(slog.LevelWarn, "connection refused", "event", "tcp.refused", "remote", nc.RemoteAddr().String(),
		"reason", reason, "stream", tr.stream, "err", err)
	return 0, tr, false
}

// dialLoop keeps our outbound connection to p up, with capped exponential
// backoff and jitter between failed attempts.
func (ch *Channel) dialLoop(ctx context.Context, p *peerState, deliver links.Deliver) {
	backoff := ch.cfg.BackoffMin
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(p.ID)))
	for ctx.Err() == nil {
		start := time.Now()
		err := ch.dial(ctx, p, deliver)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.mu.Lock()
			p.dialErr, p.dialErrAt = err.Error(), time.Now()
			p.mu.Unlock()
		}
		if err == nil && time.Since(start) > stableAfter {
			backoff = ch.cfg.BackoffMin
		}
		// Sleep backoff ±25 %, then double it up to the cap.
		wait := backoff - backoff/4 + time.Duration(rng.Int64N(int64(backoff/2)+1))
		backoff = min(2*backoff, ch.cfg.BackoffMax)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// dial connects, handshakes and serves one outbound connection; it
// returns when the connection ends, with the error that ended or prevented
// it.
func (ch *Channel) dial(ctx context.Context, p *peerState, deliver links.Deliver) error {
	d := ch.dialer()
	nc, err := d.DialContext(ctx, "tcp", p.Addr.String())
	if err != nil {
		ch.cfg.Counters.ConnEvent("dial-failed")
		return err // "dial tcp A->B: connect: connection refused" names both ends
	}
	if err := clientHandshake(nc, ch.id, ch.keys.Load(), p.ID, time.Now().Add(ch.cfg.HandshakeTimeout)); err != nil {
		nc.Close()
		var he *HandshakeError
		isHE := errors.As(err, &he)
		if isHE && he.keyMismatch() && ch.cfg.OnAuthFailure != nil {
			ch.cfg.OnAuthFailure(p.ID) // before the counter, as in handshake: who sees the count sees the call
		}
		ch.cfg.Counters.ConnEvent("handshake-failed")
		if isHE {
			ch.logf(slog.LevelWarn, "handshake failed", "event", "tcp.handshake_failed", "peer", p.Name,
				"peer_id", uint16(p.ID), "remote", p.Addr.String(), "reason", he.Reason, "by_peer", he.ByRemote, "err", err)
		}
		return err
	}
	ch.cfg.Counters.ConnEvent("dialled")
	p.mu.Lock()
	p.dialErr = ""
	p.mu.Unlock()
	ch.serve(ctx, nc, p.ID, llt.ChannelTCPTo, deliver)
	return nil
}

// dialer dials peers on this network, for links and streams.
func (ch *Channel) dialer() *net.Dialer {
	return &net.Dialer{
		Timeout:   ch.cfg.DialTimeout,
		LocalAddr: &net.TCPAddr{IP: ch.cfg.Listen.Addr().AsSlice()}, // leave through this network
		KeepAlive: -1,                                               // liveness: heartbeats (links), the caller's deadlines (streams)
	}
}

// serve registers an authenticated connection and reads from it until it
// closes. A newer connection of the same direction replaces an older one.
func (ch *Channel) serve(ctx context.Context, nc net.Conn, peer llt.NodeID, dir llt.Channel, deliver links.Deliver) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		// Keep the kernel's share of a stuck connection small too.
		_ = tc.SetWriteBuffer(ch.cfg.SendBufLimit)
	}
	p := ch.peers[peer]
	c := newConn(nc, peer, dir, ch.cfg.SendBufLimit)
	p.mu.Lock()
	old := &p.out
	if dir == llt.ChannelTCPFrom {
		old = &p.in
		p.lastIn = c.created
		p.inErr = ""
	}
	if *old != nil {
		(*old).close(CloseReplaced)
	}
	*old = c
	p.mu.Unlock()
	ch.logf(slog.LevelInfo, "tcp connection up", "event", "tcp.up", "peer", p.Name, "peer_id", uint16(peer),
		"direction", dirName(dir), "local", nc.LocalAddr().String(), "remote", nc.RemoteAddr().String())

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop(ch.cfg.IdleTimeout)
	}()
	stop := context.AfterFunc(ctx, func() { c.close(CloseShutdown) })
	ch.readLoop(c, deliver)
	stop()
	wg.Wait()

	p.mu.Lock()
	if *old == c {
		*old = nil
	}
	p.mu.Unlock()
	why, err := c.reason()
	if why != CloseShutdown {
		ch.cfg.Counters.ConnEvent("reset-" + why)
	}
	attrs := []any{"event", "tcp.down", "peer", p.Name, "peer_id", uint16(peer),
		"direction", dirName(dir), "reason", why, "lived", time.Since(c.created).Round(time.Millisecond).String()}
	if err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	ch.logf(slog.LevelInfo, "tcp connection down", attrs...)
}

func (ch *Channel) readLoop(c *conn, deliver links.Deliver) {
	kr := ch.keys.Load()
	codec := llt.NewCodec(kr, ch.cfg.Names...)
	from := c.nc.RemoteAddr().String()
	ctr := ch.cfg.Counters
	var r links.Received // reused: Decode keeps its Vector's capacity
	for n := 1; ; n++ {
		if n%links.YieldEvery == 0 {
			runtime.Gosched()
		}
		b, err := c.readFrame(ch.cfg.IdleTimeout)
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				c.close(CloseIdle)
			case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
				c.close(ClosePeer)
			default:
				c.closeErr(CloseBadFrame, err)
			}
			return
		}
		ctr.RxFrames.Add(1)
		ctr.RxBytes.Add(uint64(len(b)) + 4)
		if k := ch.keys.Load(); k != kr {
			kr = k
			codec = llt.NewCodec(kr, ch.cfg.Names...)
		}
		r.Network, r.Channel, r.From = ch.cfg.Network, c.dir, from
		if err := codec.Decode(b, &r.Frame); err != nil {
			var de *llt.DecodeError
			cause := links.OtherCause
			if errors.As(err, &de) {
				cause = de.Kind.String()
			}
			ctr.Drop(cause)
			continue
		}
		if r.Frame.Src != c.peer {
			// Authentic, but the connection belongs to another node.
			ctr.Drop("wrong-sender")
			continue
		}
		deliver(&r)
	}
}

// ConnInfo describes one connection, or one missing connection, for
// `tetherstat -L` (Redis CLUSTER LINKS).
type ConnInfo struct {
	Peer         llt.NodeID
	PeerName     string
	Direction    string // "to": we dialled; "from": the peer dialled
	Up           bool
	Local        string
	Remote       string
	Created      time.Time
	Events       string // "r", or "rw" while output is queued
	SendBufUsed  int
	SendBufAlloc int
	LastRx       time.Time
	FramesIn     uint64
	FramesOut    uint64
	BytesIn      uint64
	BytesOut     uint64
	// For a missing connection: why the last attempt failed and when.
	LastError   string
	LastErrorAt time.Time
}

// Connections lists both directions for every peer, sorted by peer.
func (ch *Channel) Connections() []ConnInfo {
	var out []ConnInfo
	for _, p := range ch.peers {
		p.mu.Lock()
		for _, dir := range []llt.Channel{llt.ChannelTCPTo, llt.ChannelTCPFrom} {
			c, errText, errAt := p.out, p.dialErr, p.dialErrAt
			remote := p.Addr.String()
			if dir == llt.ChannelTCPFrom {
				c, errText, errAt = p.in, p.inErr, p.inErrAt
				remote = p.Addr.Addr().String()
				if errText == "" && c == nil {
					errText = "the peer has not connected"
					if !p.lastIn.IsZero() {
						errText = "the peer has not connected again since " + p.lastIn.Format(time.RFC3339)
					}
				}
			}
			ci := ConnInfo{Peer: p.ID, PeerName: p.Name, Direction: dirName(dir), Remote: remote,
				LastError: errText, LastErrorAt: errAt}
			if c != nil {
				used, alloc := c.sendBuf()
				ci = ConnInfo{Peer: p.ID, PeerName: p.Name, Direction: dirName(dir), Up: true,
					Local: c.nc.LocalAddr().String(), Remote: c.nc.RemoteAddr().String(), Created: c.created,
					Events: "r", SendBufUsed: used, SendBufAlloc: alloc, LastRx: time.Unix(0, c.lastRx.Load()),
					FramesIn: c.framesIn.Load(), FramesOut: c.framesOut.Load(), BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load()}
				if used > 0 {
					ci.Events = "rw"
				}
			}
			out = append(out, ci)
		}
		p.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Peer != out[j].Peer {
			return out[i].Peer < out[j].Peer
		}
		return out[i].Direction > out[j].Direction // "to" before "from"
	})
	return out
}
