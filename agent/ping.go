package agent

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/llt"
)

// The echo service and ping: the far tetherd answers echo requests on
// TopicEcho; nothing has to be started there.
//
// An echo request's body is
//
//	[8-byte id][1-byte flags][2-byte reply frame length][filler]
//
// and the reply is the same body. Flags:
//
//	bit 0  reply on the network and channel the request came in on (a
//	       request that arrived on our tcp-from connection is answered on
//	       it: the same TCP connection), not over the best route
//	bit 1  pad the reply frame to the reply frame length
//	bit 7  set in the reply by an agent that honoured bits 0 and 1
//
// A body whose flags byte is 0, or shorter than 9 bytes, is answered as it
// always was: the body back over the best route (the bench sends zeros
// there). Bit 7 lets a pinned ping tell a reply that came back the way it
// was asked from one of an agent that ignores the flags (it answered over
// its best route): that one is counted as "unpinned", not as a reply.

// Echo body layout and flags.
const (
	echoIDLen     = 8
	echoHeaderLen = 11 // id, flags, reply frame length

	echoSameRoute byte = 1 << 0
	echoPadReply  byte = 1 << 1
	echoAnswered  byte = 1 << 7
)

// echoHeader is the head of an echo body.
type echoHeader struct {
	id       uint64
	flags    byte
	frameLen int // reply frame length (echoPadReply)
}

// parseEcho reads the head of an echo body; ok is false when it is too
// short to carry an id. Missing flags and length read as zero.
func parseEcho(body []byte) (h echoHeader, ok bool) {
	if len(body) < echoIDLen {
		return h, false
	}
	h.id = binary.BigEndian.Uint64(body)
	if len(body) > echoIDLen {
		h.flags = body[echoIDLen]
	}
	if len(body) >= echoHeaderLen {
		h.frameLen = int(binary.BigEndian.Uint16(body[echoIDLen+1:]))
	}
	return h, true
}

// echoBody builds an echo request body of size bytes (at least
// echoHeaderLen when h has flags; the filler is zeros).
func echoBody(h echoHeader, size int) []byte {
	if h.flags != 0 {
		size = max(size, echoHeaderLen)
	}
	b := make([]byte, max(size, echoIDLen))
	binary.BigEndian.PutUint64(b, h.id)
	if h.flags != 0 {
		b[echoIDLen] = h.flags
		binary.BigEndian.PutUint16(b[echoIDLen+1:], uint16(h.frameLen))
	}
	return b
}

// echoPlan is how the echo service answers one request.
type echoPlan struct {
	pinned   bool      // reply on route, not over the best one
	route    llt.Route // the route the request came in on
	frameLen int       // pad the reply frame to this length; 0 none
	reply    []byte    // the reply body
}

// planEcho decides the reply to an echo request msg with body (pure).
func planEcho(msg llt.Message, body []byte) echoPlan {
	h, _ := parseEcho(body)
	p := echoPlan{reply: body}
	if h.flags&(echoSameRoute|echoPadReply) == 0 {
		return p // today's behaviour: the body back over the best route
	}
	p.reply = slices.Clone(body)
	p.reply[echoIDLen] |= echoAnswered
	if h.flags&echoSameRoute != 0 {
		p.pinned, p.route = true, llt.Route{Network: msg.Network, Channel: msg.Channel}
	}
	if h.flags&echoPadReply != 0 {
		p.frameLen = h.frameLen
	}
	return p
}

// echoRequest answers an echo request (without the engine's lock): the
// body goes back; a refused reply is shed and counted. It runs on the
// reader that delivered the request and only takes the lock briefly.
func (a *Agent) echoRequest(msg llt.Message, body []byte) {
	p := planEcho(msg, body)
	_ = a.do(context.Background(), func(now time.Time) {
		a.msgs.Received++
		var err error
		switch {
		case !p.pinned && p.frameLen == 0:
			_, err = a.sendNow(now, msg.Peer, TopicEchoReply, p.reply)
		default:
			r := p.route
			if !p.pinned {
				r, err = a.route(now, msg.Peer, 1+len(p.reply))
			}
			if err == nil {
				err = a.trySendVia(now, msg.Peer, r, TopicEchoReply, p.reply, p.frameLen)
			}
			a.countSend(err)
		}
		if err != nil {
			a.msgs.EchoShed++
		}
	})
}

// echoReply hands an echo reply to the ping waiting for it. It never
// blocks (the waiter's channel has room for one reply; a duplicate is
// dropped). A reply to a pinned request without echoAnswered is handed
// over as the zero time: it came, but not the way it was asked to.
func (a *Agent) echoReply(body []byte) {
	h, ok := parseEcho(body)
	if !ok {
		return
	}
	at := time.Now()
	if h.flags&(echoSameRoute|echoPadReply) != 0 && h.flags&echoAnswered == 0 {
		at = time.Time{}
	}
	a.echoMu.Lock()
	w, ok := a.echoWaiters[h.id]
	delete(a.echoWaiters, h.id)
	a.echoMu.Unlock()
	if ok {
		select {
		case w <- at:
		default:
		}
	}
}

// trySendVia sends a message on route r, in a frame padded to frameLen
// when it is > 0 (locked). It counts nothing: callers count the outcome
// (countSend) once they have settled on it.
func (a *Agent) trySendVia(now time.Time, peer llt.NodeID, r llt.Route, topic byte, body []byte, frameLen int) error {
	if r.Network < 0 || r.Network >= len(a.nets) {
		return fmt.Errorf("agent: bad route %+v", r)
	}
	payload := make([]byte, 1+len(body))
	payload[0] = topic
	copy(payload[1:], body)
	if nw := a.nets[r.Network]; r.Channel.IsTCP() && nw.tcp != nil {
		if !nw.tcp.Room(peer, r.Channel, max(frameLen, len(payload)+llt.MaxOverhead)) {
			if !nw.tcp.Room(peer, r.Channel, 0) {
				return ErrNoRoute // no connection
			}
			return ErrBusy
		}
	}
	if frameLen == 0 && r.Channel == llt.ChannelEther {
		// A test of this path: sized against the network's MTU only. The
		// machine's message limit for the link (SendMessageVia) also
		// shrinks to what its MTU probes saw pass once they suspect a
		// mismatch, which can refuse even a 64-byte echo while they
		// search: the path must be tested, not avoided.
		if len(payload) > a.nets[r.Network].maxEtherPayload() {
			return ErrTooLarge
		}
		return a.m.SendPaddedVia(now, peer, r, payload, 0)
	}
	if frameLen > 0 {
		return a.m.SendPaddedVia(now, peer, r, payload, frameLen)
	}
	return a.m.SendMessageVia(now, peer, r, payload)
}

// countSend counts a message send's outcome as sendNow does (locked).
func (a *Agent) countSend(err error) {
	switch {
	case err == nil:
		a.msgs.Sent++
	case errors.Is(err, ErrBusy):
		a.msgs.Busy++
	case errors.Is(err, ErrNoRoute):
		a.msgs.NoRoute++
	case errors.Is(err, ErrTooLarge):
		a.msgs.TooLarge++
	}
}

// pingPin is a PingRequest's pinning, checked against the configuration.
type pingPin struct {
	net      int           // network index; -1 any
	channels []llt.Channel // tried in order; nil any
	chName   string        // the channel as asked ("tcp", ...)
	frameLen int
	mtu      bool
}

// pinned: the route is chosen by the request, not by MessageRoute.
func (p pingPin) pinned() bool { return p.net >= 0 || p.channels != nil }

// custom: the echo uses the flags (pinned reply, padding, MTU size).
func (p pingPin) custom() bool { return p.pinned() || p.frameLen > 0 || p.mtu }

// routeOrder is the order in which messages try the networks: private
// ones in configuration order, then lowpri ones.
func (a *Agent) routeOrder() []int {
	var out []int
	for _, lowpri := range []bool{false, true} {
		for i, n := range a.nets {
			if n.cfg.Lowpri == lowpri {
				out = append(out, i)
			}
		}
	}
	return out
}

// carries reports whether network i has the channel c.
func (a *Agent) carries(i int, c llt.Channel) bool {
	if c == llt.ChannelEther {
		return a.nets[i].cfg.HasChannel(config.ChannelEther)
	}
	return a.nets[i].cfg.HasChannel(config.ChannelTCP)
}

// resolvePin checks a request's network and channel (read-only
// configuration: no lock).
func (a *Agent) resolvePin(req status.PingRequest) (pingPin, error) {
	pin := pingPin{net: -1, chName: req.Channel, frameLen: req.FrameLen, mtu: req.MTU}
	if req.Network != "" {
		pin.net = slices.Index(a.netNames, req.Network)
		if pin.net < 0 {
			return pin, status.BadRequest(fmt.Errorf("network %q is not configured (networks: %s)", req.Network, strings.Join(a.netNames, ", ")))
		}
	}
	switch req.Channel {
	case "":
	case status.PingChannelEther:
		pin.channels = []llt.Channel{llt.ChannelEther}
	case status.PingChannelTCP:
		pin.channels = []llt.Channel{llt.ChannelTCPTo, llt.ChannelTCPFrom}
	case status.PingChannelTCPTo:
		pin.channels = []llt.Channel{llt.ChannelTCPTo}
	case status.PingChannelTCPFrom:
		pin.channels = []llt.Channel{llt.ChannelTCPFrom}
	default:
		return pin, status.BadRequest(fmt.Errorf("channel %q: want ether, tcp, tcp-to or tcp-from", req.Channel))
	}
	if pin.channels != nil {
		found := false
		for i := range a.nets {
			if (pin.net < 0 || pin.net == i) && a.carries(i, pin.channels[0]) {
				found = true
			}
		}
		if !found && pin.net >= 0 {
			return pin, status.BadRequest(fmt.Errorf("network %s does not carry %s (channels: %s)",
				req.Network, req.Channel, strings.Join(a.nets[pin.net].cfg.Channels, ", ")))
		}
		if !found {
			return pin, status.BadRequest(fmt.Errorf("no network carries %s", req.Channel))
		}
	}
	switch {
	case req.FrameLen < 0 || req.FrameLen > 0xFFFF:
		return pin, status.BadRequest(fmt.Errorf("frame_len %d out of range 0..65535", req.FrameLen))
	case req.FrameLen > 0 && req.MTU:
		return pin, status.BadRequest(errors.New("frame_len and mtu exclude each other"))
	}
	return pin, nil
}

// echoError is why a pinned echo could not be sent, said for an operator
// ("no route on hb1/ether: the link is DOWN (peer-silent)"); it unwraps
// to ErrNoRoute, ErrTooLarge, ...
type echoError struct {
	msg string
	err error
}

func (e *echoError) Error() string { return e.msg }
func (e *echoError) Unwrap() error { return e.err }

// describeNoRoute explains why no session of pin to peer is up (locked),
// from the machine's snapshot: "no route on hb1/ether: the link is DOWN
// (peer-silent)".
func (a *Agent) describeNoRoute(now time.Time, peer llt.NodeID, pin pingPin) error {
	snap := a.m.Snapshot(now)
	var ps *llt.PeerSnapshot
	for i := range snap.Peers {
		if snap.Peers[i].ID == peer {
			ps = &snap.Peers[i]
		}
	}
	one := func(net int) string {
		if ps == nil || net >= len(ps.Links) {
			return "the peer is unknown"
		}
		l := ps.Links[net]
		why := ""
		if r := l.Reason.String(); r != "" {
			why = " (" + r + ")"
		}
		if l.State != llt.LinkUp {
			return "the link is " + l.State.String() + why
		}
		// The link is up, but not on the channel asked for.
		var states []string
		for _, s := range l.Sessions {
			if pin.channels == nil || slices.Contains(pin.channels, s.Channel) {
				states = append(states, s.Channel.String()+" "+s.State.String())
			}
		}
		ch := pin.chName
		if ch == "" {
			ch = "any channel"
		}
		return "the link is UP, but not on " + ch + ": " + strings.Join(states, ", ") + why
	}
	where := func(net int) string {
		if pin.chName == "" {
			return a.netNames[net]
		}
		return a.netNames[net] + "/" + pin.chName
	}
	if pin.net >= 0 {
		return &echoError{fmt.Sprintf("no route on %s: %s", where(pin.net), one(pin.net)), ErrNoRoute}
	}
	var parts []string
	for _, i := range a.routeOrder() {
		if pin.channels == nil || a.carries(i, pin.channels[0]) {
			parts = append(parts, where(i)+": "+one(i))
		}
	}
	return &echoError{"no route: " + strings.Join(parts, "; "), ErrNoRoute}
}

// sentEcho is what pingSend did.
type sentEcho struct {
	route  llt.Route
	bytes  int  // message body, or frame length when padded
	padded bool // bytes is a frame length
}

// pingSend sends one echo with id (locked).
func (a *Agent) pingSend(now time.Time, peer llt.NodeID, pin pingPin, id uint64, size int) (sentEcho, error) {
	if !pin.custom() {
		r, err := a.sendNow(now, peer, TopicEcho, echoBody(echoHeader{id: id}, size))
		return sentEcho{route: r, bytes: size}, err
	}
	var cands []llt.Route
	if !pin.pinned() {
		// MTU or padding only: the best route, then that route both ways.
		r, err := a.route(now, peer, 1+max(size, echoHeaderLen))
		if err != nil {
			a.countSend(err)
			return sentEcho{}, err
		}
		cands = []llt.Route{r}
	} else {
		nets := a.routeOrder()
		if pin.net >= 0 {
			nets = []int{pin.net}
		}
		chans := pin.channels
		if chans == nil {
			chans = []llt.Channel{llt.ChannelTCPTo, llt.ChannelTCPFrom, llt.ChannelEther}
		}
		for _, i := range nets {
			for _, c := range chans {
				if a.carries(i, c) {
					cands = append(cands, llt.Route{Network: i, Channel: c})
				}
			}
		}
	}
	busy := false
	for _, r := range cands {
		h := echoHeader{id: id, flags: echoSameRoute, frameLen: pin.frameLen}
		bodySize := max(size, echoHeaderLen)
		if pin.mtu {
			mtu := a.m.NetworkMTU(r.Network)
			if r.Channel == llt.ChannelEther {
				h.frameLen = mtu // a small message in a frame of the MTU
			} else {
				bodySize = max(min(mtu, llt.MaxPayload-1), echoHeaderLen) // a message of the MTU
			}
		}
		if h.frameLen > 0 {
			h.flags |= echoPadReply
		}
		body := echoBody(h, bodySize)
		e := sentEcho{route: r, bytes: len(body)}
		if h.frameLen > 0 {
			e.bytes, e.padded = h.frameLen, true
		}
		err := a.trySendVia(now, peer, r, TopicEcho, body, h.frameLen)
		switch {
		case err == nil:
			a.countSend(nil)
			return e, nil
		case errors.Is(err, ErrBusy):
			busy = true
		case errors.Is(err, ErrNoRoute):
		case errors.Is(err, ErrTooLarge):
			a.countSend(err)
			what := fmt.Sprintf("a %d-byte message", e.bytes)
			if e.padded {
				what = fmt.Sprintf("a %d-byte frame", e.bytes)
			}
			limit := fmt.Sprintf("MTU %d", a.m.NetworkMTU(r.Network))
			if r.Channel.IsTCP() {
				limit = fmt.Sprintf("messages up to %d bytes", llt.MaxPayload-1)
			}
			return e, &echoError{fmt.Sprintf("%s does not fit %s/%s (%s)", what, a.netNames[r.Network], r.Channel, limit), err}
		default:
			a.countSend(err)
			return e, err
		}
	}
	if busy {
		a.countSend(ErrBusy)
		return sentEcho{}, ErrBusy
	}
	a.countSend(ErrNoRoute)
	return sentEcho{}, a.describeNoRoute(now, peer, pin)
}

// Ping sends echo messages to a peer and measures their round trips
// (the status API's /v1/ping, tetherctl ping). It holds the engine's lock
// only to send each echo, never while it waits for replies.
func (a *Agent) Ping(ctx context.Context, req status.PingRequest) (*status.PingResult, error) {
	if req.Count <= 0 {
		req.Count = 10
	}
	if req.Size < 8 {
		req.Size = max(req.Size, 64)
	}
	if req.Window <= 0 {
		req.Window = 1
	}
	if req.TimeoutMs <= 0 {
		req.TimeoutMs = 1000
	}
	if req.Count > 1_000_000 || req.Window > 10_000 || req.Size > llt.MaxPayload-1 {
		return nil, status.BadRequest(errors.New("ping: count, window or size too large"))
	}
	peer := llt.NodeID(req.Peer)
	if _, ok := a.peerNames[peer]; !ok {
		return nil, status.BadRequest(fmt.Errorf("ping: node %d is not a peer of node %d", req.Peer, a.cfg.Node.ID))
	}
	pin, err := a.resolvePin(req)
	if err != nil {
		return nil, err
	}
	if pin.custom() {
		req.Size = max(req.Size, echoHeaderLen)
	}
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	interval := time.Duration(req.IntervalMs) * time.Millisecond
	res := &status.PingResult{Peer: req.Peer, Size: req.Size, Routes: map[string]int{}, SendErrors: map[string]int{},
		Network: req.Network, Channel: req.Channel, FrameLen: req.FrameLen, MTU: req.MTU}
	var base [8]byte
	if _, err := rand.Read(base[:]); err != nil {
		return nil, err
	}
	firstID := binary.BigEndian.Uint64(base[:]) &^ (1<<32 - 1)

	type flight struct {
		sent  time.Time
		reply chan time.Time
		rec   int // index in replies; -1 not recorded
	}
	var replies []status.PingReply
	record := func(f flight, st string, rtt time.Duration) {
		if f.rec >= 0 {
			replies[f.rec].Status = st
			if st == status.EchoOK {
				replies[f.rec].RTTMicros = float64(rtt) / float64(time.Microsecond)
			}
		}
	}
	var inFlight []flight
	var rtts []time.Duration
	got := func(f flight, at time.Time) {
		switch {
		case at.IsZero():
			record(f, status.EchoUnpinned, 0)
		default:
			rtts = append(rtts, at.Sub(f.sent))
			record(f, status.EchoOK, at.Sub(f.sent))
		}
	}
	wait := func(f flight) {
		// A reply that came in time counts even when its deadline has
		// passed by the time we look (select would pick at random).
		select {
		case at := <-f.reply:
			if at.IsZero() || at.Sub(f.sent) <= timeout {
				got(f, at)
			} else {
				res.Timeouts++
			}
			return
		default:
		}
		t := time.NewTimer(time.Until(f.sent.Add(timeout)))
		defer t.Stop()
		select {
		case at := <-f.reply:
			got(f, at)
		case <-t.C:
			res.Timeouts++
		case <-ctx.Done():
		}
	}
	pause := func() {
		if interval > 0 && req.Window == 1 {
			t := time.NewTimer(interval)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
	}
	var backoff busyBackoff
	start := time.Now()
	for i := 0; i < req.Count && ctx.Err() == nil; i++ {
		if len(inFlight) >= req.Window {
			wait(inFlight[0])
			inFlight = inFlight[1:]
		}
		id := firstID + uint64(i)
		f := flight{reply: make(chan time.Time, 1), rec: -1}
		var sent sentEcho
		var err error
		a.echoMu.Lock()
		a.echoWaiters[id] = f.reply
		a.echoMu.Unlock()
		derr := a.do(ctx, func(now time.Time) {
			f.sent = time.Now()
			sent, err = a.pingSend(now, peer, pin, id, req.Size)
		})
		if derr != nil || err != nil {
			a.echoMu.Lock()
			delete(a.echoWaiters, id)
			a.echoMu.Unlock()
		}
		if derr != nil {
			return nil, derr
		}
		if errors.Is(err, ErrBusy) && len(inFlight) > 0 {
			// Pushed back: wait for the oldest echo, then send this one again.
			wait(inFlight[0])
			inFlight = inFlight[1:]
			res.Busy++
			i--
			continue
		}
		if errors.Is(err, ErrBusy) && backoff.wait(ctx, timeout) {
			// Pushed back with nothing left to wait for (every echo in
			// flight timed out while the buffer drains slowly): back off
			// and try again, for up to one echo timeout, before calling
			// this one not sent.
			res.Busy++
			i--
			continue
		}
		backoff = busyBackoff{}
		res.Sent++
		if req.Replies {
			rp := status.PingReply{Seq: res.Sent, SentAt: f.sent, Bytes: sent.bytes, Padded: sent.padded}
			if err == nil {
				rp.Network, rp.Channel = a.netNames[sent.route.Network], sent.route.Channel.String()
				rp.Status = status.EchoTimeout // until the reply comes
			} else {
				rp.Status, rp.Error = echoErrorStatus(err), err.Error()
			}
			f.rec = len(replies)
			replies = append(replies, rp)
		}
		if err != nil {
			res.SendErrors[sendErrorName(err)]++
			pause()
			continue
		}
		res.Routes[a.netNames[sent.route.Network]+"/"+sent.route.Channel.String()]++
		inFlight = append(inFlight, f)
		if interval > 0 && req.Window == 1 {
			wait(f)
			inFlight = inFlight[:0]
			pause()
		}
	}
	for _, f := range inFlight {
		wait(f)
	}
	elapsed := time.Since(start)
	// Forget replies that will never come.
	a.echoMu.Lock()
	for i := 0; i < req.Count; i++ {
		delete(a.echoWaiters, firstID+uint64(i))
	}
	a.echoMu.Unlock()
	res.Replies = replies
	res.Received = len(rtts)
	res.DurationMs = float64(elapsed) / float64(time.Millisecond)
	if elapsed > 0 {
		res.PerSecond = float64(res.Received) / elapsed.Seconds()
	}
	if len(rtts) > 0 {
		var sum time.Duration
		for _, r := range rtts {
			sum += r
		}
		res.RTTAvgMicros = float64(sum) / float64(len(rtts)) / float64(time.Microsecond)
		slices.Sort(rtts)
		q := func(p float64) int64 { return rtts[min(len(rtts)-1, int(p*float64(len(rtts))))].Microseconds() }
		res.RTTMinMicros, res.RTTMaxMicros = rtts[0].Microseconds(), rtts[len(rtts)-1].Microseconds()
		res.RTTP50Micros, res.RTTP99Micros = q(0.50), q(0.99)
	}
	return res, ctx.Err()
}

func sendErrorName(err error) string {
	switch {
	case errors.Is(err, llt.ErrNoRoute):
		return "no-route"
	case errors.Is(err, llt.ErrTooLarge):
		return "too-large"
	case errors.Is(err, ErrBusy):
		return "busy"
	}
	return "other"
}

// echoErrorStatus is the PingReply status of an echo that was not sent.
func echoErrorStatus(err error) string {
	switch {
	case errors.Is(err, llt.ErrNoRoute):
		return status.EchoNoRoute
	case errors.Is(err, llt.ErrTooLarge):
		return status.EchoTooLarge
	case errors.Is(err, ErrBusy):
		return status.EchoBusy
	}
	return status.EchoError
}

// Bounds of a ping-cluster request.
const (
	pingClusterCount      = 3
	pingClusterMaxCount   = 100
	pingClusterMaxTimeout = 60_000 // ms
)

// PingCluster tests every path to every peer: every network × every peer
// × every channel the network carries, at 64 bytes, at the network's MTU
// and beyond it (the status API's /v1/ping-cluster, tetherctl
// ping-cluster). Paths are tested concurrently, so broken ones cost one
// timeout, not one each: the whole takes about two echo timeouts (the MTU
// tests run once basic connectivity is known).
func (a *Agent) PingCluster(ctx context.Context, req status.PingClusterRequest) (*status.PingClusterResult, error) {
	if req.Count <= 0 {
		req.Count = pingClusterCount
	}
	if req.TimeoutMs <= 0 {
		req.TimeoutMs = 1000
	}
	if req.Count > pingClusterMaxCount || req.TimeoutMs > pingClusterMaxTimeout {
		return nil, status.BadRequest(fmt.Errorf("ping-cluster: count at most %d, timeout at most %d ms", pingClusterMaxCount, pingClusterMaxTimeout))
	}
	start := time.Now()
	res := &status.PingClusterResult{LocalNode: a.cfg.Node.ID, LocalName: a.cfg.Node.Name,
		Networks: slices.Clone(a.netNames), Count: req.Count, TimeoutMs: req.TimeoutMs, Peers: []status.PingPeer{}, Paths: []status.PingPath{}}
	peers := a.cfg.Peers()
	for _, p := range peers {
		res.Peers = append(res.Peers, status.PingPeer{ID: p.ID, Name: p.Name})
	}
	var mtus []int
	if err := a.do(ctx, func(time.Time) {
		for i := range a.nets {
			mtus = append(mtus, a.m.NetworkMTU(i))
		}
	}); err != nil {
		return nil, err
	}
	for i, n := range a.nets {
		for _, p := range peers {
			for _, ch := range []string{config.ChannelEther, config.ChannelTCP} {
				if n.cfg.HasChannel(ch) {
					res.Paths = append(res.Paths, status.PingPath{Network: n.cfg.Name, Peer: p.ID, PeerName: p.Name, Channel: ch, MTU: mtus[i]})
				}
			}
		}
	}
	var wg sync.WaitGroup
	for k := range res.Paths {
		wg.Go(func() { a.pingPath(ctx, &res.Paths[k], req) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := a.Status(ctx)
	if err != nil {
		return nil, err
	}
	for k := range res.Paths {
		p := &res.Paths[k]
		for _, n := range st.Nodes {
			if n.ID != p.Peer {
				continue
			}
			for _, l := range n.Links {
				if l.Network == p.Network {
					p.LinkState, p.ChannelState = l.State, l.Channels[p.Channel]
					p.Reason, p.RemoteReason, p.Detail = l.Reason, l.RemoteReason, l.Detail
				}
			}
		}
	}
	res.DurationMs = float64(time.Since(start)) / float64(time.Millisecond)
	return res, nil
}

// pingPath runs the tests of one path: basic connectivity first, then the
// MTU and larger-than-MTU tests together.
func (a *Agent) pingPath(ctx context.Context, p *status.PingPath, creq status.PingClusterRequest) {
	base := status.PingRequest{Peer: p.Peer, Count: creq.Count, Window: creq.Count, TimeoutMs: creq.TimeoutMs,
		Network: p.Network, Channel: p.Channel, Replies: true}
	run := func(name string, req status.PingRequest) status.PingTest {
		t := status.PingTest{Test: name, Bytes: req.Size}
		res, err := a.Ping(ctx, req)
		if err != nil {
			t.Result, t.Error = status.TestFailed, err.Error()
			return t
		}
		t.Sent, t.Received = res.Sent, res.Received
		var sum time.Duration
		for _, r := range res.Replies {
			if r.Bytes > 0 {
				t.Bytes, t.Padded = r.Bytes, r.Padded
			}
			switch r.Status {
			case status.EchoOK:
				d := time.Duration(r.RTTMicros * float64(time.Microsecond))
				sum += d
				t.RTTMaxMicros = max(t.RTTMaxMicros, r.RTTMicros)
			case status.EchoNoRoute:
				t.NoRoute++
			case status.EchoTimeout:
			default:
				t.OtherErrors++
			}
			if t.Error == "" && r.Error != "" {
				t.Error = r.Error
			}
		}
		if t.Received > 0 {
			t.RTTAvgMicros = float64(sum) / float64(t.Received) / float64(time.Microsecond)
		}
		t.Result = status.TestOK
		if t.Received < creq.Count {
			t.Result = status.TestFailed
		}
		return t
	}
	small := base
	small.Size = 64
	basic := run(status.TestBasic, small)
	mtuReq := base
	mtuReq.Size, mtuReq.MTU = 64, true
	larger := base
	larger.Size = min(3*p.MTU, llt.MaxPayload-1)
	if basic.Result != status.TestOK {
		note := "basic connectivity fails"
		p.Tests = []status.PingTest{basic,
			{Test: status.TestMTU, Result: status.TestSkipped, Note: note}, {Test: status.TestLarger, Result: status.TestSkipped, Note: note}}
		if p.Channel == config.ChannelEther {
			p.Tests[2] = notApplicable()
		}
		return
	}
	var mtu, big status.PingTest
	var wg sync.WaitGroup
	wg.Go(func() { mtu = run(status.TestMTU, mtuReq) })
	if p.Channel == config.ChannelEther {
		big = notApplicable()
	} else {
		wg.Go(func() { big = run(status.TestLarger, larger) })
	}
	wg.Wait()
	p.Tests = []status.PingTest{basic, mtu, big}
}

func notApplicable() status.PingTest {
	return status.PingTest{Test: status.TestLarger, Result: status.TestNotApplicable, Note: "an ether frame cannot exceed the MTU"}
}

// busyBackoff paces retries of one echo refused busy with nothing in flight:
// 1 ms, doubling to 50 ms, until limit has passed since the first refusal.
type busyBackoff struct {
	first time.Time
	next  time.Duration
}

// wait sleeps before the next retry and says whether to retry at all.
func (b *busyBackoff) wait(ctx context.Context, limit time.Duration) bool {
	now := time.Now()
	if b.first.IsZero() {
		b.first, b.next = now, time.Millisecond
	}
	left := limit - now.Sub(b.first)
	if left <= 0 {
		*b = busyBackoff{}
		return false
	}
	t := time.NewTimer(min(b.next, left))
	defer t.Stop()
	b.next = min(2*b.next, 50*time.Millisecond)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
