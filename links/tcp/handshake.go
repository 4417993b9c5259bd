package tcp

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tether-ha/tether/llt"
)

// The handshake proves, both ways, that each end holds the cluster key,
// and tells nothing to an end that does not: no identity in clear before
// the client has proven the key, and the same answer to every HELLO.
//
//	client -> HELLO     cluster, from (client), to (server), key id, client nonce, network
//	server -> CHALLENGE server nonce, proof = HMAC(key, labelServer, HELLO,
//	                    server's cluster, node id, network, server nonce)
//	client -> AUTH      HMAC(key, labelClient, HELLO, CHALLENGE)
//	server -> RESULT    only if AUTH verifies: code, the server's cluster, node id,
//	                    network, HMAC(key, labelResult, HELLO, CHALLENGE, AUTH, RESULT before the MAC)
//
// The key is the one the HELLO names, so rotation works as for frames.
// The server answers every well-formed HELLO with a CHALLENGE of the same
// size whatever it claims; without the named key the proof is a MAC under
// a secret key of this process, indistinguishable from random and as costly
// to compute. It then reads the AUTH and, unless it verifies, closes without
// another byte. So a client without the key learns nothing, not even whether
// its guess of cluster, node or key id was right. Only a key holder gets a
// RESULT, which names the precise reason of a refusal and the server's real
// identity (so the dialling side can log what it reached).
//
// The client checks the proof against the identity it expects (the node it
// dialled); it sends its AUTH even when the proof fails (AUTH is bound to
// both nonces, an impostor can do nothing with it) so that an authenticated
// RESULT can still say what the server really is. Without a verifiable
// RESULT after a failed proof, the peer does not hold our key.
//
// Every MAC covers both nonces, so nothing can be replayed; the labels keep
// one message's MAC from passing for another's. MAC parts are the message
// bodies and, for the identity, cluster (2 bytes), node id (2) and network
// name, each length-prefixed by Keyring.MAC. Every message is a 16-bit
// length and a body; the bodies, all integers big-endian:
//
//	HELLO      "THTC" 2 1 cluster:2 from:2 to:2 keyid:4 nonce:32 netlen:1 network  (49+netlen bytes)
//	           "THTC" 2 5 ...: the same HELLO opening a stream (stream.go), not a link
//	CHALLENGE  "THTC" 2 2 nonce:32 proof:32                                         (70 bytes)
//	AUTH       "THTC" 2 3 mac:32                                                    (38 bytes)
//	RESULT     "THTC" 2 4 code:1 cluster:2 node:2 netlen:1 network mac:32           (44+netlen bytes)
const (
	hsMagic   = "THTC"
	hsVersion = 2

	msgHello     = 1
	msgChallenge = 2
	msgAuth      = 3
	msgResult    = 4
	// msgStreamHello is a HELLO for a stream: the type is all that
	// differs, and every MAC covers it, so the purpose is authenticated.
	msgStreamHello = 5

	nonceLen     = 32
	proofLen     = 32
	maxHSMsg     = 512
	hsHeader     = 4 + 1 + 1                               // magic, version, type
	helloFixed   = hsHeader + 2 + 2 + 2 + 4 + nonceLen + 1 // ... cluster from to keyid nonce netlen
	challengeLen = hsHeader + nonceLen + proofLen          // the same for every HELLO
	resultFixed  = hsHeader + 1 + 2 + 2 + 1 + proofLen     // ... code cluster node netlen mac
	labelServer  = "tether tcp v2 server"
	labelClient  = "tether tcp v2 client"
	labelResult  = "tether tcp v2 result"
	labelStream  = "tether tcp v2 stream" // a stream's secret (stream.go)
)

// Refusal reasons: the RESULT codes and the counter labels.
const (
	RefusedForeignCluster = "foreign-cluster"
	RefusedWrongNode      = "wrong-node"    // dialled node id is not ours / answered by another node
	RefusedUnknownNode    = "unknown-node"  // not in the node table
	RefusedWrongAddress   = "wrong-address" // source IP is not the node's address on this network
	RefusedWrongNetwork   = "wrong-network" // the peer's network name differs: crossed addresses
	RefusedUnknownKey     = "unknown-key"
	RefusedBadProof       = "bad-proof" // wrong key
	RefusedBusy           = "busy"      // too many handshakes in progress
	RefusedMalformed      = "malformed"
	RefusedTimeout        = "timeout"
	RefusedNoStreams      = "no-streams" // a stream HELLO to a channel that takes no streams (no OnStream)
)

// resultCodes index the RESULT code; the order is the wire format: new
// reasons go at the end.
var resultCodes = []string{"", RefusedForeignCluster, RefusedWrongNode, RefusedUnknownNode, RefusedWrongAddress,
	RefusedWrongNetwork, RefusedUnknownKey, RefusedBadProof, RefusedBusy, RefusedMalformed, RefusedTimeout,
	RefusedNoStreams}

func resultCode(reason string) byte {
	for i, r := range resultCodes {
		if r == reason {
			return byte(i)
		}
	}
	return byte(len(resultCodes)) // unknown to us: still a refusal
}

// HandshakeError says why a handshake failed and which side refused.
type HandshakeError struct {
	Reason   string // one of the Refused* constants
	ByRemote bool   // the other end refused us, in an authenticated RESULT
	Detail   string
}

func (e *HandshakeError) Error() string {
	who := "refused"
	if e.ByRemote {
		who = "refused by the peer"
	}
	if e.Detail == "" {
		return "handshake " + who + ": " + e.Reason
	}
	return "handshake " + who + ": " + e.Reason + ": " + e.Detail
}

// keyMismatch reports whether a client handshake failed because the peer
// did not prove the key (and did not say otherwise in a RESULT we trust).
func (e *HandshakeError) keyMismatch() bool { return e.Reason == RefusedBadProof && !e.ByRemote }

func refuse(reason, format string, args ...any) *HandshakeError {
	return &HandshakeError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// hello is a HELLO.
type hello struct {
	cluster uint16
	from    llt.NodeID
	to      llt.NodeID
	keyID   uint32
	nonce   [nonceLen]byte
	network string
	stream  bool // msgStreamHello: it opens a stream
}

func (h *hello) marshal() []byte {
	typ := byte(msgHello)
	if h.stream {
		typ = msgStreamHello
	}
	b := make([]byte, 0, helloFixed+len(h.network))
	b = append(b, hsMagic...)
	b = append(b, hsVersion, typ)
	b = binary.BigEndian.AppendUint16(b, h.cluster)
	b = binary.BigEndian.AppendUint16(b, uint16(h.from))
	b = binary.BigEndian.AppendUint16(b, uint16(h.to))
	b = binary.BigEndian.AppendUint32(b, h.keyID)
	b = append(b, h.nonce[:]...)
	b = append(b, byte(len(h.network)))
	return append(b, h.network...)
}

// checkHeader checks magic, version and type of a message of at least
// min bytes.
func checkHeader(b []byte, typ byte, min int) error {
	switch {
	case len(b) < hsHeader || string(b[:4]) != hsMagic:
		return refuse(RefusedMalformed, "not a tether handshake")
	case b[4] != hsVersion:
		// Most likely a tether of another release: say so.
		return refuse(RefusedMalformed, "handshake version %d, want %d: the peer runs another tether release", b[4], hsVersion)
	case b[5] != typ:
		return refuse(RefusedMalformed, "message type %d, want %d", b[5], typ)
	case len(b) < min:
		return refuse(RefusedMalformed, "message type %d of %d bytes, want at least %d", typ, len(b), min)
	}
	return nil
}

func parseHello(b []byte) (h hello, err error) {
	typ := byte(msgHello)
	if len(b) > 5 && b[5] == msgStreamHello {
		typ, h.stream = msgStreamHello, true
	}
	if err := checkHeader(b, typ, helloFixed); err != nil {
		return h, err
	}
	h.cluster = binary.BigEndian.Uint16(b[6:])
	h.from = llt.NodeID(binary.BigEndian.Uint16(b[8:]))
	h.to = llt.NodeID(binary.BigEndian.Uint16(b[10:]))
	h.keyID = binary.BigEndian.Uint32(b[12:])
	copy(h.nonce[:], b[16:16+nonceLen])
	n := int(b[helloFixed-1])
	if len(b) != helloFixed+n {
		return h, refuse(RefusedMalformed, "HELLO of %d bytes, want %d", len(b), helloFixed+n)
	}
	h.network = string(b[helloFixed:])
	if !llt.ValidName(h.network) {
		return h, refuse(RefusedMalformed, "bad network name")
	}
	return h, nil
}

func parseChallenge(b []byte) (nonce, proof []byte, err error) {
	if err := checkHeader(b, msgChallenge, challengeLen); err != nil {
		return nil, nil, err
	}
	if len(b) != challengeLen {
		return nil, nil, refuse(RefusedMalformed, "CHALLENGE of %d bytes, want %d", len(b), challengeLen)
	}
	return b[hsHeader : hsHeader+nonceLen], b[hsHeader+nonceLen:], nil
}

// result is a RESULT: the verdict and who gave it.
type result struct {
	code   byte
	server identity
}

// marshal returns the RESULT without its MAC.
func (r *result) marshal() []byte {
	b := make([]byte, 0, resultFixed+len(r.server.network))
	b = append(b, hsMagic...)
	b = append(b, hsVersion, msgResult, r.code)
	b = binary.BigEndian.AppendUint16(b, r.server.cluster)
	b = binary.BigEndian.AppendUint16(b, uint16(r.server.self))
	b = append(b, byte(len(r.server.network)))
	return append(b, r.server.network...)
}

// parseResult splits a RESULT into its fields and MAC; the caller
// verifies the MAC before believing any of it.
func parseResult(b []byte) (r result, signed, mac []byte, err error) {
	if err := checkHeader(b, msgResult, resultFixed); err != nil {
		return r, nil, nil, err
	}
	r.code = b[6]
	r.server.cluster = binary.BigEndian.Uint16(b[7:])
	r.server.self = llt.NodeID(binary.BigEndian.Uint16(b[9:]))
	n := int(b[11])
	if len(b) != resultFixed+n {
		return r, nil, nil, refuse(RefusedMalformed, "RESULT of %d bytes, want %d", len(b), resultFixed+n)
	}
	r.server.network = string(b[12 : 12+n])
	if !llt.ValidName(r.server.network) {
		return r, nil, nil, refuse(RefusedMalformed, "bad network name in RESULT")
	}
	return r, b[:12+n], b[12+n:], nil
}

func writeMsg(w io.Writer, body []byte) error {
	b := make([]byte, 2, 2+len(body))
	binary.BigEndian.PutUint16(b, uint16(len(body)))
	_, err := w.Write(append(b, body...))
	return err
}

func readMsg(r io.Reader) ([]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	l := int(binary.BigEndian.Uint16(n[:]))
	if l > maxHSMsg {
		return nil, refuse(RefusedMalformed, "handshake message of %d bytes", l)
	}
	b := make([]byte, l)
	_, err := io.ReadFull(r, b)
	return b, err
}

func shortMsg(typ byte, payload ...byte) []byte {
	return append([]byte{hsMagic[0], hsMagic[1], hsMagic[2], hsMagic[3], hsVersion, typ}, payload...)
}

func parseShort(b []byte, typ byte, n int) ([]byte, error) {
	if len(b) != hsHeader+n || string(b[:4]) != hsMagic || b[4] != hsVersion || b[5] != typ {
		return nil, refuse(RefusedMalformed, "bad handshake message (type %d)", typ)
	}
	return b[hsHeader:], nil
}

// identity is what one end knows of itself on a network.
type identity struct {
	cluster uint16
	self    llt.NodeID
	network string
}

func (id identity) String() string {
	return fmt.Sprintf("node %d of cluster %d on %s", id.self, id.cluster, id.network)
}

// serverProof is the CHALLENGE's proof: the server holds the key and is
// server. Each field is a part of its own, so Keyring.MAC length-prefixes it.
func serverProof(kr *llt.Keyring, keyID uint32, hb []byte, server identity, nonce []byte) []byte {
	var c, n [2]byte
	binary.BigEndian.PutUint16(c[:], server.cluster)
	binary.BigEndian.PutUint16(n[:], uint16(server.self))
	mac, _ := kr.MAC(keyID, labelServer, hb, c[:], n[:], []byte(server.network), nonce)
	return mac
}

// decoy is a keyring of one random key of this process: the server proves
// and verifies with it when it does not hold the key a HELLO names, so
// that its answer looks and costs the same. Nobody knows the key, so the
// proof is as good as random and no AUTH verifies under it (it is never
// accepted anyway).
var decoy = sync.OnceValue(func() *llt.Keyring {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // never fails (Go 1.24+)
	kr, err := llt.NewKeyring(k)
	if err != nil {
		panic(err)
	}
	return kr
})

// ClientHandshake authenticates a connection nc that node self of cluster
// dialled to peer on network, as tetherd does; tools and tests use it to
// talk to an agent as a cluster node.
func ClientHandshake(nc net.Conn, cluster uint16, self llt.NodeID, network string, kr *llt.Keyring, peer llt.NodeID, deadline time.Time) error {
	return clientHandshake(nc, identity{cluster: cluster, self: self, network: network}, kr, peer, deadline)
}

// errNoProof is the client's verdict on a peer that does not prove the
// key and has no verifiable RESULT to offer.
func errNoProof() *HandshakeError {
	return refuse(RefusedBadProof, "the peer does not prove the cluster key: wrong key on one side, or not a tether node")
}

// transcript is what a successful handshake leaves for a stream's session
// keys (stream.go): the key both ends proved and the messages it covered.
type transcript struct {
	stream bool // the HELLO opened a stream
	ring   *llt.Keyring
	keyID  uint32
	hello  []byte
	chall  []byte
	auth   []byte
}

// clientHandshake runs the dialling side of a link connection against peer.
func clientHandshake(nc net.Conn, id identity, kr *llt.Keyring, peer llt.NodeID, deadline time.Time) error {
	_, err := clientHandshakeTranscript(nc, id, kr, peer, false, deadline)
	return err
}

// clientHandshakeTranscript runs the dialling side against peer, for a
// stream when stream is set, and returns the transcript when it succeeds.
func clientHandshakeTranscript(nc net.Conn, id identity, kr *llt.Keyring, peer llt.NodeID, stream bool, deadline time.Time) (transcript, error) {
	if err := nc.SetDeadline(deadline); err != nil {
		return transcript{}, err
	}
	defer nc.SetDeadline(time.Time{})
	h := hello{cluster: id.cluster, from: id.self, to: peer, keyID: kr.SendKeyID(), network: id.network, stream: stream}
	if _, err := rand.Read(h.nonce[:]); err != nil {
		return transcript{}, err
	}
	hb := h.marshal()
	if err := writeMsg(nc, hb); err != nil {
		return transcript{}, err
	}
	cb, err := readMsg(nc)
	if err != nil {
		return transcript{}, err
	}
	nonce, proof, err := parseChallenge(cb)
	if err != nil {
		return transcript{}, err
	}
	want := identity{cluster: id.cluster, self: peer, network: id.network}
	proved := hmac.Equal(proof, serverProof(kr, h.keyID, hb, want, nonce))
	mine, _ := kr.MAC(h.keyID, labelClient, hb, cb)
	ab := shortMsg(msgAuth, mine...)
	// From here on, after a failed proof, whatever goes wrong means the
	// same: the peer does not hold our key.
	fail := func(err error) (transcript, error) {
		if !proved {
			return transcript{}, errNoProof()
		}
		return transcript{}, err
	}
	if err := writeMsg(nc, ab); err != nil {
		return fail(err)
	}
	rb, err := readMsg(nc)
	if err != nil {
		return fail(err)
	}
	r, signed, mac, err := parseResult(rb)
	if err != nil {
		return fail(err)
	}
	if wantMAC, _ := kr.MAC(h.keyID, labelResult, hb, cb, ab, signed); !hmac.Equal(mac, wantMAC) {
		return fail(refuse(RefusedMalformed, "the RESULT of %s does not verify: altered in transit", want))
	}
	if r.code != 0 {
		return transcript{}, remoteRefusal(r, id, want, nc.LocalAddr())
	}
	if !proved || r.server != want {
		// A key holder admits us but is not what it proves: not a tether
		// that follows this protocol.
		return transcript{}, refuse(RefusedMalformed, "admitted by %s, whose proof does not match", r.server)
	}
	return transcript{stream: stream, ring: kr, keyID: h.keyID, hello: hb, chall: cb, auth: ab}, nil
}

// remoteRefusal is the error for an authenticated refusal: the reason and
// what we dialled against what we reached.
func remoteRefusal(r result, self, want identity, local net.Addr) error {
	reason := "unknown"
	if int(r.code) < len(resultCodes) {
		reason = resultCodes[r.code]
	}
	d := fmt.Sprintf("dialled %s, reached %s", want, r.server)
	switch reason {
	case RefusedWrongNode:
		d += ": check the addresses in the node table"
	case RefusedForeignCluster:
		d += ": another cluster with the same key at this address, check the addresses and cluster ids"
	case RefusedWrongNetwork:
		d += ": crossed addresses, check the node table's addresses per network"
	case RefusedUnknownNode:
		d += fmt.Sprintf(": its node table has no node %d", self.self)
	case RefusedWrongAddress:
		d += fmt.Sprintf(": it does not expect node %d from %v, check the addresses in the node table", self.self, local)
	case RefusedNoStreams:
		d += ": it takes no streams on this network"
	}
	return &HandshakeError{Reason: reason, ByRemote: true, Detail: d}
}

// admit decides whether a node may connect from an address; it returns a
// Refused* reason, or "" to admit.
type admit func(from llt.NodeID, addr netip.Addr) string

// serverHandshake runs the accepting side. It returns the node the HELLO
// claims (the authenticated peer when err is nil), and whether the client
// failed to authenticate: it names a key we do not hold or its AUTH does
// not verify. An authenticated client is told the verdict in a RESULT;
// anyone else gets the connection closed after its AUTH, nothing more.
// A stream HELLO is refused (RefusedNoStreams) unless streams is set.
// tr.stream says what the HELLO asked for as soon as it parses (the
// client's word until err is nil); the rest of tr is set only on success.
func serverHandshake(nc net.Conn, id identity, kr *llt.Keyring, ok admit, streams bool, remote netip.Addr, deadline time.Time) (from llt.NodeID, authFailed bool, tr transcript, err error) {
	if err := nc.SetDeadline(deadline); err != nil {
		return 0, false, tr, err
	}
	defer nc.SetDeadline(time.Time{})
	hb, err := readMsg(nc)
	if err != nil {
		return 0, false, tr, timeoutOr(err)
	}
	h, err := parseHello(hb)
	if err != nil {
		return 0, false, tr, err
	}
	tr.stream = h.stream
	// Unproven claims: for the log only until the AUTH verifies.
	claims := fmt.Sprintf("%s, claiming node %d of cluster %d on %s", remote, h.from, h.cluster, h.network)
	known := kr.Has(h.keyID)
	ring, keyID := kr, h.keyID
	if !known {
		ring, keyID = decoy(), decoy().SendKeyID()
	}
	var nonce [nonceLen]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return h.from, false, tr, err
	}
	cb := shortMsg(msgChallenge, append(nonce[:], serverProof(ring, keyID, hb, id, nonce[:])...)...)
	if err := writeMsg(nc, cb); err != nil {
		return h.from, false, tr, err
	}
	ab, err := readMsg(nc)
	if err != nil && known {
		return h.from, false, tr, timeoutOr(err)
	}
	want, _ := ring.MAC(keyID, labelClient, hb, cb)
	theirs, perr := parseShort(ab, msgAuth, proofLen)
	switch {
	case !known:
		return h.from, true, tr, refuse(RefusedUnknownKey, "%s, signs with key %08x", claims, h.keyID)
	case perr != nil:
		return h.from, true, tr, refuse(RefusedMalformed, "bad AUTH from %s", claims)
	case !hmac.Equal(theirs, want):
		return h.from, true, tr, refuse(RefusedBadProof, "%s, does not prove key %08x", claims, h.keyID)
	}
	// Authenticated: the claims are the client's word, and it may hear
	// exactly why it is refused.
	var refusal *HandshakeError
	switch {
	case h.cluster != id.cluster:
		refusal = refuse(RefusedForeignCluster, "node %d of cluster %d", h.from, h.cluster)
	case h.to != id.self:
		refusal = refuse(RefusedWrongNode, "node %d dialled node %d here", h.from, h.to)
	case h.network != id.network:
		refusal = refuse(RefusedWrongNetwork, "node %d dialled for network %s", h.from, h.network)
	default:
		if reason := ok(h.from, remote); reason != "" {
			refusal = refuse(reason, "node %d from %s", h.from, remote)
		} else if h.stream && !streams {
			// Last: a misconfigured peer hears about its identity first.
			refusal = refuse(RefusedNoStreams, "node %d asked for a stream", h.from)
		}
	}
	r := result{server: id}
	if refusal != nil {
		r.code = resultCode(refusal.Reason)
	}
	rb := r.marshal()
	mac, _ := ring.MAC(keyID, labelResult, hb, cb, ab, rb)
	werr := writeMsg(nc, append(rb, mac...))
	if refusal != nil {
		return h.from, false, tr, refusal
	}
	if werr != nil {
		return h.from, false, tr, werr
	}
	tr.ring, tr.keyID, tr.hello, tr.chall, tr.auth = kr, keyID, hb, cb, ab
	return h.from, false, tr, nil
}

func timeoutOr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return refuse(RefusedTimeout, "no handshake in time")
	}
	return err
}
