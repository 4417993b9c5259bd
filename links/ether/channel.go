package ether

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/llt"
)

// Tuning.
const (
	sendQueueLen = 256                   // frames waiting for the NIC; more are dropped and counted
	sendTimeout  = 20 * time.Millisecond // a send that blocks longer fails
	readBufLen   = 65536 + 14
	reopenEvery  = 500 * time.Millisecond // retry period when the socket is gone
)

// Channel is the ether channel of one network: it reads, authenticates and
// decodes frames and hands them to the agent, and sends the agent's frames
// from its own goroutine, so that a stuck NIC never delays the agent or
// another network.
type Channel struct {
	network   int
	name      string // network name, for logs
	ifname    string
	ethertype uint16
	names     []string // network names to intern when decoding

	conn  atomic.Pointer[Conn]
	keys  atomic.Pointer[llt.Keyring]
	sendq chan outFrame
	ctr   *links.Counters
	log   *slog.Logger
	// logLimit keeps a flood of bad frames from flooding the log.
	logLimit *rate.Limiter
	// authLimit bounds how often auth failures reach the agent.
	authLimit *rate.Limiter
}

type outFrame struct {
	to []byte // nil: broadcast
	b  []byte
}

// Config configures a Channel.
type Config struct {
	Network   int    // network index
	Name      string // network name
	Interface string
	EtherType uint16
	Names     []string // every network name, interned by the decoder
	Keys      *llt.Keyring
	Counters  *links.Counters
	Log       *slog.Logger
}

// NewChannel opens the raw socket. The error says which interface and why
// (missing interface, missing CAP_NET_RAW).
func NewChannel(cfg Config) (*Channel, error) {
	conn, err := Open(cfg.Interface, cfg.EtherType)
	if err != nil {
		return nil, err
	}
	ch := &Channel{
		network: cfg.Network, name: cfg.Name, ifname: cfg.Interface, ethertype: cfg.EtherType, names: cfg.Names,
		sendq: make(chan outFrame, sendQueueLen), ctr: cfg.Counters, log: cfg.Log,
		logLimit:  rate.NewLimiter(rate.Every(time.Second), 5),
		authLimit: rate.NewLimiter(rate.Every(50*time.Millisecond), 10),
	}
	ch.conn.Store(conn)
	ch.keys.Store(cfg.Keys)
	return ch, nil
}

// HardwareAddr returns our MAC on this network.
func (ch *Channel) HardwareAddr() net.HardwareAddr { return ch.conn.Load().HardwareAddr() }

// Counters returns the channel's counters.
func (ch *Channel) Counters() *links.Counters { return ch.ctr }

// DropCauses are the channel's frame drop causes besides llt's.
var DropCauses = []string{"ethernet", "send-queue-full", KernelDropCause}

// KernelDropCause labels frames the kernel dropped because the socket's
// receive buffer was full (the agent could not keep up: a flood, or a
// starved CPU).
const KernelDropCause = "kernel-rx-overflow"

// PollKernelDrops moves the kernel's drop count into the counters.
func (ch *Channel) PollKernelDrops() {
	if n := ch.conn.Load().KernelDrops(); n > 0 {
		ch.ctr.DropN(KernelDropCause, n)
	}
}

// SetKeys replaces the keyring (key rotation); the receive loop picks it up
// with the next frame.
func (ch *Channel) SetKeys(kr *llt.Keyring) { ch.keys.Store(kr) }

// Send queues an encoded frame for to (6 raw bytes, or "" to broadcast).
// It never blocks: when the queue is full the frame is dropped and counted.
func (ch *Channel) Send(to string, b []byte) {
	var dst []byte
	if len(to) == 6 {
		dst = []byte(to)
	}
	select {
	case ch.sendq <- outFrame{to: dst, b: b}:
	default:
		ch.ctr.TxErrors.Add(1)
		ch.ctr.Drop("send-queue-full")
	}
}

// Run reads and sends until ctx is done, delivering decoded frames to rx
// (never blocking on it: a full queue drops and counts). It closes the
// socket when it returns.
func (ch *Channel) Run(ctx context.Context, rx chan<- links.Received) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ch.sendLoop(ctx)
	}()
	stop := context.AfterFunc(ctx, func() { ch.conn.Load().Close() })
	defer stop()
	ch.readLoop(ctx, rx)
	ch.conn.Load().Close()
	wg.Wait()
	return nil
}

func (ch *Channel) sendLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-ch.sendq:
			n, err := ch.conn.Load().WriteTo(o.to, o.b, sendTimeout)
			if err != nil {
				// ENOBUFS (egress drop, full qdisc), ENETDOWN (interface
				// down), a timeout: counted and tolerated, never retried
				// here; the next heartbeat is the retry.
				ch.ctr.TxErrors.Add(1)
				if ch.logLimit.Allow() {
					ch.log.Debug("send failed", "event", "frame.send_error", "network", ch.name, "interface", ch.ifname, "err", err)
				}
				continue
			}
			ch.ctr.TxFrames.Add(1)
			ch.ctr.TxBytes.Add(uint64(n))
		}
	}
}

func (ch *Channel) readLoop(ctx context.Context, rx chan<- links.Received) {
	buf := make([]byte, readBufLen)
	kr := ch.keys.Load()
	codec := llt.NewCodec(kr, ch.names...)
	for ctx.Err() == nil {
		conn := ch.conn.Load()
		payload, src, n, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, errBadEthernet) {
				ch.ctr.Drop("ethernet")
				continue
			}
			if errors.Is(err, syscall.ENETDOWN) && ch.sameInterface(conn) {
				// The interface went down (cable pulled, ip link set down):
				// the kernel reports it once and the socket resumes when the
				// interface comes back. The NIC watch reports the carrier.
				continue
			}
			ch.reopen(ctx, conn, err)
			continue
		}
		ch.ctr.RxFrames.Add(1)
		ch.ctr.RxBytes.Add(uint64(n))
		if k := ch.keys.Load(); k != kr {
			kr = k
			codec = llt.NewCodec(kr, ch.names...)
		}
		r := links.Received{Network: ch.network, Channel: llt.ChannelEther, From: string(src)}
		if err := codec.Decode(payload, &r.Frame); err != nil {
			ch.rejected(r, src, err, rx)
			continue
		}
		select {
		case rx <- r:
		default:
			ch.ctr.RxQueueDrops.Add(1)
		}
	}
}

// rejected counts and (rate-limited) logs a frame that failed to decode or
// authenticate, and tells the agent of auth failures so a DOWN link can
// name them.
func (ch *Channel) rejected(r links.Received, src net.HardwareAddr, err error, rx chan<- links.Received) {
	var de *llt.DecodeError
	cause := links.OtherCause
	if errors.As(err, &de) {
		cause = de.Kind.String()
	}
	ch.ctr.Drop(cause)
	if ch.logLimit.Allow() {
		attrs := []any{"event", "frame.rejected", "network", ch.name, "interface", ch.ifname, "src_mac", src.String(), "cause", cause, "err", err}
		if llt.IsAuthError(err) {
			attrs = append(attrs, "claimed_node", r.Frame.Src, "claimed_cluster", r.Frame.Cluster)
		}
		ch.log.Warn("frame rejected", attrs...)
	}
	if llt.IsAuthError(err) && ch.authLimit.Allow() {
		r.AuthFailure = true
		select {
		case rx <- r:
		default:
		}
	}
}

// sameInterface reports whether conn's interface still exists with the
// index the socket is bound to.
func (ch *Channel) sameInterface(conn *Conn) bool {
	ifi, err := net.InterfaceByName(ch.ifname)
	return err == nil && ifi.Index == conn.Index()
}

// reopen replaces a socket that failed (interface deleted and re-created,
// say), retrying every reopenEvery until it works or ctx ends.
func (ch *Channel) reopen(ctx context.Context, old *Conn, cause error) {
	ch.log.Warn("raw socket failed, reopening", "event", "socket.reopen", "network", ch.name, "interface", ch.ifname, "err", cause)
	old.Close()
	t := time.NewTicker(reopenEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		conn, err := Open(ch.ifname, ch.ethertype)
		if err == nil {
			ch.conn.Store(conn)
			if ctx.Err() != nil {
				conn.Close()
			}
			ch.log.Info("raw socket reopened", "event", "socket.reopen", "network", ch.name, "interface", ch.ifname)
			return
		}
	}
}

// Close releases the socket of a Channel that never ran.
func (ch *Channel) Close() error { return ch.conn.Load().Close() }
