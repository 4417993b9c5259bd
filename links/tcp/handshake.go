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
	"time"

	"github.com/tether-ha/tether/llt"
)

// The handshake proves, both ways, that each end holds the cluster key and
// is the node it claims to be, before any frame is read:
//
//	client -> HELLO     cluster, from (client), to (server), network, client nonce, key id
//	server -> CHALLENGE cluster, from (server), to (client), network, server nonce, key id,
//	                    proof = HMAC(key, "server", HELLO, CHALLENGE without proof)
//	client -> AUTH      proof = HMAC(key, "client", HELLO, CHALLENGE)
//	server -> RESULT    ok, or the reason of a refusal
//
// Both proofs cover both nonces, so neither can be replayed; the labels
// keep a server proof from passing for a client proof. The key is the one
// the client names (so rotation works as for frames). A server refuses
// with a RESULT naming the reason before closing, so the dialling side can
// log why. Every message is a 16-bit length and a body.
const (
	hsMagic   = "THTC"
	hsVersion = 1

	msgHello     = 1
	msgChallenge = 2
	msgAuth      = 3
	msgResult    = 4

	nonceLen    = 32
	proofLen    = 32
	maxHSMsg    = 512
	helloFixed  = 4 + 1 + 1 + 2 + 2 + 2 + 4 + nonceLen + 1 // magic ver type cluster from to keyid nonce netlen
	labelServer = "tether tcp v1 server"
	labelClient = "tether tcp v1 client"
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
)

var resultCodes = []string{"", RefusedForeignCluster, RefusedWrongNode, RefusedUnknownNode, RefusedWrongAddress,
	RefusedWrongNetwork, RefusedUnknownKey, RefusedBadProof, RefusedBusy, RefusedMalformed, RefusedTimeout}

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
	ByRemote bool   // the other end refused us
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

func refuse(reason, format string, args ...any) *HandshakeError {
	return &HandshakeError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// hello is HELLO and the first part of CHALLENGE.
type hello struct {
	typ     byte
	cluster uint16
	from    llt.NodeID
	to      llt.NodeID
	keyID   uint32
	nonce   [nonceLen]byte
	network string
}

func (h *hello) marshal() []byte {
	b := make([]byte, 0, helloFixed+len(h.network)+proofLen)
	b = append(b, hsMagic...)
	b = append(b, hsVersion, h.typ)
	b = binary.BigEndian.AppendUint16(b, h.cluster)
	b = binary.BigEndian.AppendUint16(b, uint16(h.from))
	b = binary.BigEndian.AppendUint16(b, uint16(h.to))
	b = binary.BigEndian.AppendUint32(b, h.keyID)
	b = append(b, h.nonce[:]...)
	b = append(b, byte(len(h.network)))
	return append(b, h.network...)
}

// parseHello parses a HELLO (withProof false) or a CHALLENGE (true) and
// returns the proof of a CHALLENGE.
func parseHello(b []byte, typ byte, withProof bool) (h hello, proof []byte, err error) {
	if len(b) < helloFixed || string(b[:4]) != hsMagic {
		return h, nil, refuse(RefusedMalformed, "not a tether handshake")
	}
	if b[4] != hsVersion {
		return h, nil, refuse(RefusedMalformed, "handshake version %d", b[4])
	}
	if b[5] != typ {
		return h, nil, refuse(RefusedMalformed, "message type %d, want %d", b[5], typ)
	}
	h.typ = typ
	h.cluster = binary.BigEndian.Uint16(b[6:])
	h.from = llt.NodeID(binary.BigEndian.Uint16(b[8:]))
	h.to = llt.NodeID(binary.BigEndian.Uint16(b[10:]))
	h.keyID = binary.BigEndian.Uint32(b[12:])
	copy(h.nonce[:], b[16:16+nonceLen])
	n := int(b[helloFixed-1])
	want := helloFixed + n
	if withProof {
		want += proofLen
	}
	if len(b) != want {
		return h, nil, refuse(RefusedMalformed, "%d bytes, want %d", len(b), want)
	}
	h.network = string(b[helloFixed : helloFixed+n])
	if !llt.ValidName(h.network) {
		return h, nil, refuse(RefusedMalformed, "bad network name")
	}
	if withProof {
		proof = b[helloFixed+n:]
	}
	return h, proof, nil
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
	if len(b) != 6+n || string(b[:4]) != hsMagic || b[4] != hsVersion || b[5] != typ {
		return nil, refuse(RefusedMalformed, "bad handshake message (type %d)", typ)
	}
	return b[6:], nil
}

// identity is what one end knows of itself on a network.
type identity struct {
	cluster uint16
	self    llt.NodeID
	network string
}

// ClientHandshake authenticates a connection nc that node self of cluster
// dialled to peer on network, as tetherd does; tools and tests use it to
// talk to an agent as a cluster node.
func ClientHandshake(nc net.Conn, cluster uint16, self llt.NodeID, network string, kr *llt.Keyring, peer llt.NodeID, deadline time.Time) error {
	return clientHandshake(nc, identity{cluster: cluster, self: self, network: network}, kr, peer, deadline)
}

// clientHandshake runs the dialling side against peer.
func clientHandshake(nc net.Conn, id identity, kr *llt.Keyring, peer llt.NodeID, deadline time.Time) error {
	if err := nc.SetDeadline(deadline); err != nil {
		return err
	}
	defer nc.SetDeadline(time.Time{})
	h := hello{typ: msgHello, cluster: id.cluster, from: id.self, to: peer, keyID: kr.SendKeyID(), network: id.network}
	if _, err := rand.Read(h.nonce[:]); err != nil {
		return err
	}
	hb := h.marshal()
	if err := writeMsg(nc, hb); err != nil {
		return err
	}
	cb, err := readMsg(nc)
	if err != nil {
		return err
	}
	if len(cb) == 7 && cb[5] == msgResult { // refused at HELLO
		return remoteRefusal(cb)
	}
	c, proof, err := parseHello(cb, msgChallenge, true)
	if err != nil {
		return err
	}
	switch {
	case c.cluster != id.cluster:
		return refuse(RefusedForeignCluster, "answered by cluster %d", c.cluster)
	case c.from != peer || c.to != id.self:
		return refuse(RefusedWrongNode, "dialled node %d, answered by node %d (for node %d): check the addresses in the node table", peer, c.from, c.to)
	case c.network != id.network:
		return refuse(RefusedWrongNetwork, "dialled on %s, answered on %s: crossed addresses", id.network, c.network)
	case c.keyID != h.keyID:
		return refuse(RefusedMalformed, "challenge with key %08x, want %08x", c.keyID, h.keyID)
	}
	want, _ := kr.MAC(h.keyID, labelServer, hb, cb[:len(cb)-proofLen])
	if !hmac.Equal(proof, want) {
		return refuse(RefusedBadProof, "the peer does not prove the cluster key: wrong key on one side")
	}
	mine, _ := kr.MAC(h.keyID, labelClient, hb, cb)
	if err := writeMsg(nc, shortMsg(msgAuth, mine...)); err != nil {
		return err
	}
	rb, err := readMsg(nc)
	if err != nil {
		return err
	}
	return remoteRefusal(rb)
}

func remoteRefusal(rb []byte) error {
	code, err := parseShort(rb, msgResult, 1)
	if err != nil {
		return err
	}
	if code[0] == 0 {
		return nil
	}
	reason := "unknown"
	if int(code[0]) < len(resultCodes) {
		reason = resultCodes[code[0]]
	}
	return &HandshakeError{Reason: reason, ByRemote: true}
}

// admit decides whether a node may connect from an address; it returns a
// Refused* reason, or "" to admit.
type admit func(from llt.NodeID, addr netip.Addr) string

// serverHandshake runs the accepting side and returns the authenticated
// peer. On refusal it tells the client why before returning the error.
func serverHandshake(nc net.Conn, id identity, kr *llt.Keyring, ok admit, remote netip.Addr, deadline time.Time) (llt.NodeID, error) {
	if err := nc.SetDeadline(deadline); err != nil {
		return 0, err
	}
	defer nc.SetDeadline(time.Time{})
	fail := func(e *HandshakeError) (llt.NodeID, error) {
		_ = writeMsg(nc, shortMsg(msgResult, resultCode(e.Reason)))
		return 0, e
	}
	hb, err := readMsg(nc)
	if err != nil {
		return 0, timeoutOr(err)
	}
	h, _, err := parseHello(hb, msgHello, false)
	if err != nil {
		var he *HandshakeError
		errors.As(err, &he)
		return fail(he)
	}
	switch {
	case h.cluster != id.cluster:
		return fail(refuse(RefusedForeignCluster, "node %d of cluster %d", h.from, h.cluster))
	case h.to != id.self:
		return fail(refuse(RefusedWrongNode, "node %d dialled node %d here", h.from, h.to))
	case h.network != id.network:
		return fail(refuse(RefusedWrongNetwork, "node %d dialled for network %s", h.from, h.network))
	case !kr.Has(h.keyID):
		return fail(refuse(RefusedUnknownKey, "node %d signs with key %08x", h.from, h.keyID))
	}
	if reason := ok(h.from, remote); reason != "" {
		return fail(refuse(reason, "node %d from %s", h.from, remote))
	}
	c := hello{typ: msgChallenge, cluster: id.cluster, from: id.self, to: h.from, keyID: h.keyID, network: id.network}
	if _, err := rand.Read(c.nonce[:]); err != nil {
		return 0, err
	}
	cb := c.marshal()
	proof, _ := kr.MAC(h.keyID, labelServer, hb, cb)
	cb = append(cb, proof...)
	if err := writeMsg(nc, cb); err != nil {
		return 0, err
	}
	ab, err := readMsg(nc)
	if err != nil {
		return 0, timeoutOr(err)
	}
	theirs, err := parseShort(ab, msgAuth, proofLen)
	if err != nil {
		return fail(refuse(RefusedMalformed, "bad AUTH from node %d", h.from))
	}
	want, _ := kr.MAC(h.keyID, labelClient, hb, cb)
	if !hmac.Equal(theirs, want) {
		return fail(refuse(RefusedBadProof, "node %d does not prove the cluster key", h.from))
	}
	if err := writeMsg(nc, shortMsg(msgResult, 0)); err != nil {
		return 0, err
	}
	return h.from, nil
}

func timeoutOr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return refuse(RefusedTimeout, "no handshake in time")
	}
	return err
}
