package agent

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/llt"
)

// The echo service and ping: the far tetherd answers echo requests on
// TopicEcho; nothing has to be started there.

// echoRequest answers an echo request (without the engine's lock): the
// body goes back; a refused reply is shed and counted.
func (a *Agent) echoRequest(msg llt.Message, body []byte) {
	_ = a.do(context.Background(), func(now time.Time) {
		a.msgs.Received++
		if _, err := a.sendNow(now, msg.Peer, TopicEchoReply, body); err != nil {
			a.msgs.EchoShed++
		}
	})
}

// echoReply hands an echo reply to the ping waiting for it.
func (a *Agent) echoReply(body []byte) {
	if len(body) < 8 {
		return
	}
	id := binary.BigEndian.Uint64(body)
	a.echoMu.Lock()
	w, ok := a.echoWaiters[id]
	delete(a.echoWaiters, id)
	a.echoMu.Unlock()
	if ok {
		select {
		case w <- time.Now():
		default:
		}
	}
}

// Ping sends echo messages to a peer and measures their round trips
// (the status API's /v1/ping; tetherctl ping later).
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
		return nil, errors.New("ping: count, window or size too large")
	}
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	res := &status.PingResult{Peer: req.Peer, Size: req.Size, Routes: map[string]int{}, SendErrors: map[string]int{}}
	var base [8]byte
	if _, err := rand.Read(base[:]); err != nil {
		return nil, err
	}
	firstID := binary.BigEndian.Uint64(base[:]) &^ (1<<32 - 1)

	type flight struct {
		sent  time.Time
		reply chan time.Time
	}
	var inFlight []flight
	var rtts []time.Duration
	wait := func(f flight) {
		// A reply that came in time counts even when its deadline has
		// passed by the time we look (select would pick at random).
		select {
		case at := <-f.reply:
			if at.Sub(f.sent) <= timeout {
				rtts = append(rtts, at.Sub(f.sent))
			}
			return
		default:
		}
		select {
		case at := <-f.reply:
			rtts = append(rtts, at.Sub(f.sent))
		case <-time.After(time.Until(f.sent.Add(timeout))):
		case <-ctx.Done():
		}
	}
	start := time.Now()
	body := make([]byte, req.Size)
	for i := 0; i < req.Count && ctx.Err() == nil; i++ {
		if len(inFlight) >= req.Window {
			wait(inFlight[0])
			inFlight = inFlight[1:]
		}
		id := firstID + uint64(i)
		binary.BigEndian.PutUint64(body, id)
		f := flight{reply: make(chan time.Time, 1)}
		var r llt.Route
		var err error
		a.echoMu.Lock()
		a.echoWaiters[id] = f.reply
		a.echoMu.Unlock()
		derr := a.do(ctx, func(now time.Time) {
			f.sent = time.Now()
			r, err = a.sendNow(now, llt.NodeID(req.Peer), TopicEcho, body)
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
		res.Sent++
		if err != nil {
			res.SendErrors[sendErrorName(err)]++
			continue
		}
		res.Routes[a.nets[r.Network].cfg.Name+"/"+r.Channel.String()]++
		inFlight = append(inFlight, f)
		if req.IntervalMs > 0 && req.Window == 1 {
			wait(f)
			inFlight = inFlight[:0]
			select {
			case <-time.After(time.Duration(req.IntervalMs) * time.Millisecond):
			case <-ctx.Done():
			}
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
	res.Received = len(rtts)
	res.DurationMs = float64(elapsed) / float64(time.Millisecond)
	if elapsed > 0 {
		res.PerSecond = float64(res.Received) / elapsed.Seconds()
	}
	if len(rtts) > 0 {
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
