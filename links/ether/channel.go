package ether

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/tether-ha/tether/links"
	"github.com/tether-ha/tether/llt"
)

// Tuning.
const (
	readBufLen  = 65536 + 14
	reopenEvery = 500 * time.Millisecond // retry period when the socket is gone
)

// Channel is the ether channel of one network: it reads, authenticates and
// decodes frames on its own goroutine and hands them to the agent, and
// sends the agent's frames with non-blocking writes, so that a stuck NIC
// never delays the agent or another network and no frame waits in a queue
// (a heartbeat that cannot leave now is worth nothing later).
type Channel struct {
	network   int
	name      string // network name, for logs
	ifname    string
	ethertype uint16
	filter    *Filter
	names     []string // network names to intern when decoding

	conn atomic.Pointer[Conn]
	keys atomic.Pointer[llt.Keyring]
	ctr  *links.Counters
	log  *slog.Logger
	// logLimit keeps a flood of bad frames from flooding the log.
	logLimit *rate.Limiter
	// authLimit bounds how often auth failures reach the agent.
	authLimit *rate.Limiter
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
	// Filter, if set, has the kernel drop frames of our cluster addressed
	// to other nodes before they wake the reader (Filter).
	Filter *Filter
}

// NewChannel opens the raw socket. The error says which interface and why
// (missing interface, missing CAP_NET_RAW).
func NewChannel(cfg Config) (*Channel, error) {
	conn, err := Open(cfg.Interface, cfg.EtherType, cfg.Filter)
	if err != nil {
		return nil, err
	}
	ch := &Channel{
		network: cfg.Network, name: cfg.Name, ifname: cfg.Interface, ethertype: cfg.EtherType, filter: cfg.Filter, names: cfg.Names,
		ctr: cfg.Counters, log: cfg.Log,
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
var DropCauses = []string{"ethernet", SendWouldBlock, KernelDropCause}

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

// Send writes an encoded frame to to (6 raw bytes, or "" to broadcast). It
// never blocks. Errors (ENOBUFS from an egress drop or a full qdisc,
// ENETDOWN, EAGAIN) are counted and tolerated; there is no retry here: the
// next heartbeat is the retry. b is not retained: the caller may reuse it.
func (ch *Channel) Send(to string, b []byte) {
	var dst net.HardwareAddr
	if len(to) == 6 {
		dst = net.HardwareAddr(to)
	}
	n, err := ch.conn.Load().Write(dst, b)
	if err != nil {
		ch.ctr.TxErrors.Add(1)
		if errors.Is(err, links.ErrWouldBlock) {
			ch.ctr.Drop(SendWouldBlock)
		}
		if ch.logLimit.Allow() {
			ch.log.Debug("send failed", "event", "frame.send_error", "network", ch.name, "interface", ch.ifname, "err", err)
		}
		return
	}
	ch.ctr.TxFrames.Add(1)
	ch.ctr.TxBytes.Add(uint64(n))
}

// SendWouldBlock labels frames dropped because the socket's send queue was
// full at that instant.
const SendWouldBlock = "send-would-block"

// Run reads until ctx is done, handing each decoded frame to deliver. It
// closes the socket when it returns.
func (ch *Channel) Run(ctx context.Context, deliver links.Deliver) error {
	stop := context.AfterFunc(ctx, func() { ch.conn.Load().Close() })
	defer stop()
	ch.readLoop(ctx, deliver)
	ch.conn.Load().Close()
	return nil
}

func (ch *Channel) readLoop(ctx context.Context, deliver links.Deliver) {
	buf := make([]byte, readBufLen)
	kr := ch.keys.Load()
	codec := llt.NewCodec(kr, ch.names...)
	var r links.Received // reused: Decode keeps its Vector's capacity
	for n := 1; ctx.Err() == nil; n++ {
		if n%links.YieldEvery == 0 {
			runtime.Gosched()
		}
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
		r.Network, r.Channel, r.From, r.AuthFailure = ch.network, llt.ChannelEther, string(src), false
		if err := codec.Decode(payload, &r.Frame); err != nil {
			ch.rejected(&r, src, err, deliver)
			continue
		}
		deliver(&r)
	}
}

// rejected counts and (rate-limited) logs a frame that failed to decode or
// authenticate, and tells the agent of auth failures so a DOWN link can
// name them.
func (ch *Channel) rejected(r *links.Received, src net.HardwareAddr, err error, deliver links.Deliver) {
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
		deliver(r)
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
		conn, err := Open(ch.ifname, ch.ethertype, ch.filter)
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
