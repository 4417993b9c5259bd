package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/llt"
)

// The message API: an application message to a peer over the best
// available link (llt.Machine.SendMessage: the highest-priority link that
// is up and was heard within one and a quarter heartbeats; TCP first, else
// ether if it fits the MTU).
//
// Every message starts with a topic byte that routes it to its handler.
// Size: up to llt.MaxPayload-1 bytes over TCP, MTU minus llt.MaxOverhead
// over ether. Delivery is at most once; messages on one route arrive in
// order, a change of route (failover) can reorder or lose messages in
// flight. There is no acknowledgement: users that need one build it (as
// the echo service does). Flow control: over TCP, Send refuses with
// ErrBusy when the connection already holds half its send buffer limit
// (tcp.sendbuf_limit); the other half is kept for heartbeats, so a burst
// of messages never resets the connection.

// Reserved topics.
const (
	TopicEcho      byte = 0 // echo request: the receiver sends the body back
	TopicEchoReply byte = 1 // echo reply
	TopicLinkTable byte = 2 // a peer's link table (linktables.go)
	TopicFailover  byte = 3 // a peer's failover view (failover.go)
	// A peer's link table digest, and a request for our table
	// (linktables.go).
	TopicTableDigest byte = 4
	TopicTablePull   byte = 5
	FirstAppTopic    byte = 16 // topics below are the agent's
)

// MessageHandler receives a message's body (without the topic byte). It
// runs on the goroutine that read the frame, after the engine's lock is
// released: it may call Send, but it holds up that network's reader while
// it runs, so it must not block for long (hand slow work to a goroutine of
// its own), and it must copy the body to keep it.
type MessageHandler func(from uint16, body []byte)

// Errors of Send.
var (
	ErrNoRoute  = llt.ErrNoRoute
	ErrTooLarge = llt.ErrTooLarge
	// ErrBusy: the best route is a TCP connection whose send buffer already
	// holds its share of messages (the peer or the network is slower than
	// the sender). Nothing was sent; try again after a while, or after a
	// reply. Messages are never dropped inside the agent for this.
	ErrBusy = errors.New("agent: send buffer of the route is full, try again")
)

// Handle registers h for topic (>= FirstAppTopic). Call it before Run.
func (a *Agent) Handle(topic byte, h MessageHandler) error {
	if topic < FirstAppTopic {
		return fmt.Errorf("topic %d is reserved", topic)
	}
	a.handlers[topic] = h
	return nil
}

// Send sends body on topic to peer over the best link and returns the
// route it took.
func (a *Agent) Send(ctx context.Context, peer uint16, topic byte, body []byte) (llt.Route, error) {
	var r llt.Route
	var err error
	derr := a.do(ctx, func(now time.Time) { r, err = a.sendNow(now, llt.NodeID(peer), topic, body) })
	if derr != nil {
		return r, derr
	}
	return r, err
}

// sendNow sends a message (locked). A TCP route whose connection holds
// more than its message share of the send buffer refuses it with ErrBusy:
// the sender is pushed back, in order, instead of the connection being
// reset (tcp.MessageShare).
func (a *Agent) sendNow(now time.Time, peer llt.NodeID, topic byte, body []byte) (llt.Route, error) {
	r, err := a.route(now, peer, 1+len(body))
	if err == nil {
		payload := make([]byte, 1+len(body))
		payload[0] = topic
		copy(payload[1:], body)
		err = a.m.SendMessageVia(now, peer, r, payload)
	}
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
	return r, err
}

// route is the best route for a payload of size bytes, if it has room.
func (a *Agent) route(now time.Time, peer llt.NodeID, size int) (llt.Route, error) {
	r, err := a.m.MessageRoute(now, peer, size)
	if err != nil {
		return r, err
	}
	if nw := a.nets[r.Network]; r.Channel.IsTCP() && nw.tcp != nil && !nw.tcp.Room(peer, r.Channel, size+llt.MaxOverhead) {
		return r, ErrBusy
	}
	return r, nil
}

// dispatch delivers received messages to the echo service and the
// handlers. It runs without the engine's lock.
func (a *Agent) dispatch(msgs []llt.Message) {
	for _, msg := range msgs {
		if len(msg.Payload) == 0 {
			continue
		}
		topic, body := msg.Payload[0], msg.Payload[1:]
		switch topic {
		case TopicEcho:
			a.echoRequest(msg, body)
		case TopicEchoReply:
			a.count(func(c *status.Messages) { c.Received++ })
			a.echoReply(body)
		case TopicLinkTable:
			a.receiveTable(msg.Peer, body)
		case TopicTableDigest:
			a.receiveDigest(msg.Peer, body)
		case TopicTablePull:
			a.receivePull(msg.Peer)
		case TopicFailover:
			a.receiveView(msg.Peer, body)
		default:
			if h := a.handlers[topic]; h != nil {
				a.count(func(c *status.Messages) { c.Received++ })
				h(uint16(msg.Peer), body)
			} else {
				a.count(func(c *status.Messages) { c.Received++; c.Unrouted++ })
			}
		}
	}
}

// count updates the message counters under the engine's lock.
func (a *Agent) count(fn func(*status.Messages)) {
	a.mu.Lock()
	fn(&a.msgs)
	a.mu.Unlock()
}
