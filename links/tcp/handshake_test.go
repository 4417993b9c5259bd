package tcp

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tether-ha/tether/llt"
)

var (
	keyA = []byte("0123456789abcdef0123456789abcdef")
	keyB = []byte("fedcba9876543210fedcba9876543210")
)

func ring(t testing.TB, keys ...[]byte) *llt.Keyring {
	t.Helper()
	kr, err := llt.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

var peerAddr = netip.MustParseAddr("10.0.0.2")

// admitNode1 admits node 1 from 10.0.0.2 only.
func admitNode1(from llt.NodeID, addr netip.Addr) string {
	switch {
	case from != 1:
		return RefusedUnknownNode
	case addr != peerAddr:
		return RefusedWrongAddress
	}
	return ""
}

type hsResult struct {
	peer      llt.NodeID
	serverErr error
	clientErr error
}

// pair runs a client handshake (node 1 dialling node 0) against a server
// handshake over an in-memory pipe.
func pair(t *testing.T, client, server identity, ckr, skr *llt.Keyring, dialled llt.NodeID, from netip.Addr) hsResult {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	deadline := time.Now().Add(2 * time.Second)
	done := make(chan hsResult, 1)
	go func() {
		p, err := serverHandshake(b, server, skr, admitNode1, from, deadline)
		b.Close()
		done <- hsResult{peer: p, serverErr: err}
	}()
	cerr := clientHandshake(a, client, ckr, dialled, deadline)
	a.Close()
	r := <-done
	r.clientErr = cerr
	return r
}

func reason(err error) (string, bool) {
	var he *HandshakeError
	if errors.As(err, &he) {
		return he.Reason, he.ByRemote
	}
	return "", false
}

func TestHandshake(t *testing.T) {
	srv := identity{cluster: 7, self: 0, network: "hb0"}
	cli := identity{cluster: 7, self: 1, network: "hb0"}
	good := ring(t, keyA)
	cases := []struct {
		name          string
		cli           identity
		ckr, skr      *llt.Keyring
		dialled       llt.NodeID
		from          netip.Addr
		serverRefuses string // reason the server refuses with ("" : accepts)
		clientRefuses string // reason the client stops with, when it is the one that refuses
	}{
		{name: "ok", cli: cli, ckr: good, skr: good, dialled: 0, from: peerAddr},
		{name: "rotation: client signs with the new key the server also holds", cli: cli, ckr: ring(t, keyB, keyA), skr: ring(t, keyA, keyB), dialled: 0, from: peerAddr},
		{name: "wrong key", cli: cli, ckr: ring(t, keyB, keyA), skr: good, dialled: 0, from: peerAddr, serverRefuses: RefusedUnknownKey},
		{name: "same key id, other key", cli: cli, ckr: good, skr: good, dialled: 0, from: peerAddr}, // sanity: same as ok
		{name: "foreign cluster", cli: identity{cluster: 8, self: 1, network: "hb0"}, ckr: good, skr: good, dialled: 0, from: peerAddr, serverRefuses: RefusedForeignCluster},
		{name: "dialled the wrong node", cli: cli, ckr: good, skr: good, dialled: 5, from: peerAddr, serverRefuses: RefusedWrongNode},
		{name: "unknown node", cli: identity{cluster: 7, self: 9, network: "hb0"}, ckr: good, skr: good, dialled: 0, from: peerAddr, serverRefuses: RefusedUnknownNode},
		{name: "wrong source address", cli: cli, ckr: good, skr: good, dialled: 0, from: netip.MustParseAddr("10.0.0.9"), serverRefuses: RefusedWrongAddress},
		{name: "crossed networks", cli: identity{cluster: 7, self: 1, network: "hb1"}, ckr: good, skr: good, dialled: 0, from: peerAddr, serverRefuses: RefusedWrongNetwork},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := pair(t, c.cli, srv, c.ckr, c.skr, c.dialled, c.from)
			if c.serverRefuses == "" && c.clientRefuses == "" {
				if r.serverErr != nil || r.clientErr != nil || r.peer != 1 {
					t.Fatalf("server %v, client %v, peer %d", r.serverErr, r.clientErr, r.peer)
				}
				return
			}
			if c.serverRefuses != "" {
				if got, _ := reason(r.serverErr); got != c.serverRefuses {
					t.Fatalf("server: %v, want refusal %s", r.serverErr, c.serverRefuses)
				}
				// The client learns why.
				if got, byRemote := reason(r.clientErr); got != c.serverRefuses || !byRemote {
					t.Fatalf("client: %v, want refused by the peer: %s", r.clientErr, c.serverRefuses)
				}
			}
		})
	}
}

// The server holds the key the client names, but a different secret under
// it is impossible; what a wrong key looks like to a client is a server
// proof that does not verify. Simulate a server with another key that
// claims the client's key id by forging the challenge.
func TestClientRejectsServerWithoutTheKey(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		hb, err := readMsg(b)
		if err != nil {
			return
		}
		h, _, _ := parseHello(hb, msgHello, false)
		c := hello{typ: msgChallenge, cluster: 7, from: 0, to: 1, keyID: h.keyID, network: "hb0"}
		cb := append(c.marshal(), make([]byte, proofLen)...) // a proof it cannot compute
		writeMsg(b, cb)
		readMsg(b)
	}()
	err := clientHandshake(a, identity{cluster: 7, self: 1, network: "hb0"}, ring(t, keyA), 0, time.Now().Add(time.Second))
	if got, byRemote := reason(err); got != RefusedBadProof || byRemote {
		t.Fatalf("client: %v, want its own bad-proof refusal", err)
	}
}

func TestServerHandshakeTimesOut(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	start := time.Now()
	_, err := serverHandshake(b, identity{cluster: 7, self: 0, network: "hb0"}, ring(t, keyA), admitNode1, peerAddr, time.Now().Add(100*time.Millisecond))
	if got, _ := reason(err); got != RefusedTimeout {
		t.Fatalf("silent client: %v, want timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
}

func FuzzServerHandshake(f *testing.F) {
	h := hello{typ: msgHello, cluster: 7, from: 1, to: 0, keyID: llt.KeyID(keyA), network: "hb0"}
	f.Add(h.marshal(), shortMsg(msgAuth, make([]byte, proofLen)...))
	f.Add([]byte("THTC\x01\x01"), []byte{})
	f.Add([]byte{}, []byte{})
	kr := ring(f, keyA)
	f.Fuzz(func(t *testing.T, first, second []byte) {
		if len(first) > maxHSMsg || len(second) > maxHSMsg {
			return
		}
		a, b := net.Pipe()
		defer a.Close()
		go func() {
			// Play the client's part, reading whatever the server says.
			writeMsg(a, first)
			readMsg(a)
			writeMsg(a, second)
			readMsg(a)
			a.Close()
		}()
		peer, err := serverHandshake(b, identity{cluster: 7, self: 0, network: "hb0"}, kr, admitNode1, peerAddr, time.Now().Add(time.Second))
		b.Close()
		if err == nil {
			// Only a client that knows the key can get here; random bytes
			// never can.
			t.Fatalf("handshake accepted node %d from fuzz input", peer)
		}
	})
}

func FuzzParseHello(f *testing.F) {
	h := hello{typ: msgChallenge, cluster: 7, from: 1, to: 0, keyID: 1, network: "hb0"}
	f.Add(append(h.marshal(), make([]byte, proofLen)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, proof, err := parseHello(b, msgChallenge, true)
		if err != nil {
			return
		}
		again := append(got.marshal(), proof...)
		if string(again) != string(b) {
			t.Fatalf("re-marshal differs")
		}
	})
}
