package tcp

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"time"

	"github.com/tether-ha/tether/llt"
)

// A stream is a connection of its own to a peer on a network, for large
// request/response messages (the mirror replicator) that must neither
// queue ahead of heartbeats nor be bounded by a link's send buffer. It is
// opened like a link connection, on the same listener after the same
// handshake; the HELLO's type says it is a stream, and every MAC covers
// the HELLO. Messages are then sealed with AES-256-GCM under keys of this
// connection alone:
//
//	secret = HMAC(cluster key, labelStream, HELLO, CHALLENGE, AUTH)
//	keys   = HKDF-SHA256(secret, info "tether stream client to server"
//	         or "tether stream server to client"), 32 bytes each
//	nonce  = count of the messages sent that way before, 96 bits big-endian
//
// Both handshake nonces are fresh, so every stream has keys of its own and
// a counter nonce never repeats under a key; one key per direction keeps
// a message from being reflected back to its sender. On the wire a
// message is
//
//	len:4  AES-GCM(key, nonce, message, additional data: len)
//
// with len (big-endian) the size of the sealed message, tag included. A
// message that does not open (altered, replayed, reordered, dropped, cut
// short, from another stream) fails Recv, and so does every Recv after it.
//
// The keys rest on the cluster key alone: they keep a stream from whoever
// lacks it, but a key holder that recorded the handshake can derive them,
// and a cluster key that leaks later opens recorded streams (there is no
// forward secrecy).
const (
	tagLen          = 16 // GCM
	streamHeader    = 4
	streamBufSize   = 32 << 10
	infoClientToSrv = "tether stream client to server"
	infoSrvToClient = "tether stream server to client"
)

// Errors of a stream's messages.
var (
	ErrMessageTooLarge = errors.New("tcp stream: message too large")
	ErrBadMessage      = errors.New("tcp stream: message does not authenticate (altered, replayed, reordered or lost)")
)

// Stream is an authenticated, encrypted connection to a peer carrying
// messages. One goroutine may Send while another Recvs; Sends must not
// overlap, nor may Recvs. After an error from Recv, or from Send (but for
// a message refused as too large), every later call of that one fails
// too: the stream is out of step, close it.
type Stream struct {
	nc       net.Conn
	peer     llt.NodeID
	network  string
	max      int
	closeErr error
	once     sync.Once

	// The sender's: one at a time.
	seal   cipher.AEAD
	wseq   uint64
	wnonce [12]byte
	whdr   [streamHeader]byte // the additional data, apart from wbuf: Seal wants them apart
	wbuf   []byte             // length and sealed message, one write
	werr   error

	// The receiver's.
	open   cipher.AEAD
	br     *bufio.Reader
	rseq   uint64
	rnonce [12]byte
	rhdr   [streamHeader]byte
	rerr   error
}

// newStream makes a stream of nc after a successful stream handshake tr;
// client says which end we are, so which key seals and which opens.
func newStream(nc net.Conn, tr transcript, client bool, peer llt.NodeID, network string, maxMsg int) (*Stream, error) {
	secret, ok := tr.ring.MAC(tr.keyID, labelStream, tr.hello, tr.chall, tr.auth)
	if !ok {
		return nil, fmt.Errorf("tcp stream: key %08x of the handshake not in its keyring", tr.keyID)
	}
	c2s, err := hkdf.Key(sha256.New, secret, nil, infoClientToSrv, 32)
	if err != nil {
		return nil, err
	}
	s2c, err := hkdf.Key(sha256.New, secret, nil, infoSrvToClient, 32)
	if err != nil {
		return nil, err
	}
	if !client {
		c2s, s2c = s2c, c2s
	}
	s := &Stream{nc: nc, peer: peer, network: network, max: maxMsg, br: bufio.NewReaderSize(nc, streamBufSize)}
	if s.seal, err = newGCM(c2s); err != nil {
		return nil, err
	}
	if s.open, err = newGCM(s2c); err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // Go's default; a request must not wait for Nagle
	}
	return s, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// nonce writes seq as a 96-bit big-endian counter into n.
func nonce(n *[12]byte, seq uint64) []byte {
	binary.BigEndian.PutUint64(n[4:], seq) // n[:4] stay 0: 2^64 messages is never reached
	return n[:]
}

// Send seals msg and writes it in one write. A message over MaxMessage is
// refused with ErrMessageTooLarge and nothing is sent: the stream stays
// usable. msg is not retained.
func (s *Stream) Send(msg []byte) error {
	if s.werr != nil {
		return s.werr
	}
	if len(msg) > s.max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(msg), s.max)
	}
	if s.wseq == math.MaxUint64 {
		s.werr = errors.New("tcp stream: nonces exhausted")
		return s.werr
	}
	binary.BigEndian.PutUint32(s.whdr[:], uint32(len(msg)+tagLen))
	s.wbuf = append(s.wbuf[:0], s.whdr[:]...)
	s.wbuf = s.seal.Seal(s.wbuf, nonce(&s.wnonce, s.wseq), msg, s.whdr[:])
	s.wseq++ // used, whatever the write does
	if _, err := s.nc.Write(s.wbuf); err != nil {
		// Part of it may be gone: the stream is out of step.
		s.werr = fmt.Errorf("tcp stream to node %d: %w", s.peer, err)
		return s.werr
	}
	return nil
}

// Recv reads and opens the next message, in a slice of its own the caller
// owns. A clean close of the peer between messages is io.EOF. A message
// announced over MaxMessage is ErrMessageTooLarge and closes the stream
// without reading or allocating it; one that does not open is
// ErrBadMessage.
func (s *Stream) Recv() ([]byte, error) {
	if s.rerr != nil {
		return nil, s.rerr
	}
	msg, err := s.recv()
	if err != nil {
		s.rerr = err
	}
	return msg, err
}

func (s *Stream) recv() ([]byte, error) {
	if _, err := io.ReadFull(s.br, s.rhdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(s.rhdr[:])
	switch {
	case n < tagLen:
		return nil, fmt.Errorf("%w: message %d of %d bytes, shorter than its tag", ErrBadMessage, s.rseq, n)
	case n-tagLen > uint32(s.max):
		// Not one byte more: the rest may be anything, the length even
		// a forgery (it is authenticated only with the message).
		s.Close()
		return nil, fmt.Errorf("%w: node %d announces %d bytes, limit %d", ErrMessageTooLarge, s.peer, n-tagLen, s.max)
	}
	// The whole message at once: the limit bounds what a peer, or whoever
	// forges a length, can make us hold per stream.
	b := make([]byte, n)
	if _, err := io.ReadFull(s.br, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // a length and nothing: cut short
		}
		return nil, err
	}
	msg, err := s.open.Open(b[:0], nonce(&s.rnonce, s.rseq), b, s.rhdr[:])
	if err != nil {
		return nil, fmt.Errorf("%w: message %d from node %d", ErrBadMessage, s.rseq, s.peer)
	}
	s.rseq++
	return msg, nil
}

// MaxMessage returns the largest message Send takes and Recv accepts.
func (s *Stream) MaxMessage() int { return s.max }

// SetDeadline sets the read and write deadlines (net.Conn). A Send or Recv
// that times out ends the stream like any error.
func (s *Stream) SetDeadline(t time.Time) error { return s.nc.SetDeadline(t) }

// SetReadDeadline sets the deadline of Recv.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of Send.
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.nc.SetWriteDeadline(t) }

// Close closes the connection; a Send or Recv in progress fails. It may
// be called more than once, from any goroutine.
func (s *Stream) Close() error {
	s.once.Do(func() { s.closeErr = s.nc.Close() })
	return s.closeErr
}

// Peer returns the node at the other end, as the handshake authenticated it.
func (s *Stream) Peer() llt.NodeID { return s.peer }

// Network returns the name of the stream's network.
func (s *Stream) Network() string { return s.network }

// LocalAddr returns our end's address.
func (s *Stream) LocalAddr() net.Addr { return s.nc.LocalAddr() }

// RemoteAddr returns the peer's address.
func (s *Stream) RemoteAddr() net.Addr { return s.nc.RemoteAddr() }

// DialStream opens a stream to peer on this network: it dials the peer's
// address from ours, as the links do, and runs the handshake for a stream
// within the dial and handshake timeouts and ctx. Once it returns, ctx no
// longer matters: the stream is the caller's to close, whether Run is
// running or not. Errors are a dial's, or a *HandshakeError (a peer that
// takes no streams: RefusedNoStreams, ByRemote).
func (ch *Channel) DialStream(ctx context.Context, peer llt.NodeID) (*Stream, error) {
	p := ch.peers[peer]
	if p == nil {
		return nil, fmt.Errorf("tcp stream to node %d: not a peer on network %s", peer, ch.cfg.Name)
	}
	nc, err := ch.dialer().DialContext(ctx, "tcp", p.Addr.String())
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(ch.cfg.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() }) // ends a handshake in progress
	kr := ch.keys.Load()
	tr, err := clientHandshakeTranscript(nc, ch.id, kr, p.ID, true, deadline)
	if !stop() {
		nc.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		nc.Close()
		var he *HandshakeError
		if errors.As(err, &he) && he.keyMismatch() && ch.cfg.OnAuthFailure != nil {
			ch.cfg.OnAuthFailure(p.ID)
		}
		return nil, err
	}
	s, err := newStream(nc, tr, true, p.ID, ch.cfg.Name, ch.cfg.StreamMaxMessage)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

// serveStream hands an accepted stream to OnStream, on the accept
// goroutine (the channel's WaitGroup waits for it), and closes it when
// OnStream returns or, to make OnStream return, when ctx is done.
func (ch *Channel) serveStream(ctx context.Context, nc net.Conn, peer llt.NodeID, tr transcript) {
	s, err := newStream(nc, tr, false, peer, ch.cfg.Name, ch.cfg.StreamMaxMessage)
	if err != nil {
		// Not after a handshake that succeeded with tr's own keyring: no
		// event of its own (docs/EVENTS.md) for what cannot happen.
		nc.Close()
		return
	}
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	defer s.Close()
	ch.cfg.OnStream(s)
}
