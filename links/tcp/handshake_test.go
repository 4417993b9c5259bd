package tcp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
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

var (
	srv0 = identity{cluster: 7, self: 0, network: "hb0"}
	cli1 = identity{cluster: 7, self: 1, network: "hb0"}
)

// recConn records what is written to a connection.
type recConn struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func (c *recConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	c.out.Write(b[:n])
	c.mu.Unlock()
	return n, err
}

func (c *recConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

type hsResult struct {
	peer       llt.NodeID
	authFailed bool
	serverErr  error
	clientErr  error
	clientSent []byte // every byte the client wrote
	serverSent []byte
}

// pair runs a client handshake (client dialling node dialled) against a
// server handshake over an in-memory pipe, the client coming from from.
func pair(t testing.TB, client, server identity, ckr, skr *llt.Keyring, dialled llt.NodeID, from netip.Addr) hsResult {
	t.Helper()
	a, b := net.Pipe()
	ca, cb := &recConn{Conn: a}, &recConn{Conn: b}
	defer a.Close()
	defer b.Close()
	deadline := time.Now().Add(2 * time.Second)
	done := make(chan hsResult, 1)
	go func() {
		p, failed, _, err := serverHandshake(cb, server, skr, admitNode1, false, from, deadline)
		b.Close()
		done <- hsResult{peer: p, authFailed: failed, serverErr: err}
	}()
	cerr := clientHandshake(ca, client, ckr, dialled, deadline)
	a.Close()
	r := <-done
	r.clientErr, r.clientSent, r.serverSent = cerr, ca.written(), cb.written()
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
	good := ring(t, keyA)
	cases := []struct {
		name     string
		cli, srv identity
		ckr, skr *llt.Keyring
		dialled  llt.NodeID
		from     netip.Addr
		// serverRefuses: the reason the server logs ("": it admits).
		// authFailed: it counts as a failure to authenticate.
		serverRefuses string
		authFailed    bool
		// clientRefuses: the client's reason; byRemote: in a RESULT;
		// detail: part of what the client says.
		clientRefuses string
		byRemote      bool
		detail        string
	}{
		{name: "ok", cli: cli1, srv: srv0, ckr: good, skr: good, dialled: 0, from: peerAddr},
		{name: "rotation: client signs with the new key", cli: cli1, srv: srv0, ckr: ring(t, keyB, keyA), skr: ring(t, keyA, keyB), dialled: 0, from: peerAddr},
		{name: "rotation: client signs with the old key", cli: cli1, srv: srv0, ckr: ring(t, keyA, keyB), skr: ring(t, keyB, keyA), dialled: 0, from: peerAddr},
		{name: "wrong key", cli: cli1, srv: srv0, ckr: ring(t, keyB), skr: good, dialled: 0, from: peerAddr,
			serverRefuses: RefusedUnknownKey, authFailed: true, clientRefuses: RefusedBadProof, detail: "does not prove the cluster key"},
		{name: "signs with a key the server lacks", cli: cli1, srv: srv0, ckr: ring(t, keyB, keyA), skr: good, dialled: 0, from: peerAddr,
			serverRefuses: RefusedUnknownKey, authFailed: true, clientRefuses: RefusedBadProof},
		{name: "dialled node 2, reached node 3", cli: cli1, srv: identity{cluster: 7, self: 3, network: "hb0"}, ckr: good, skr: good, dialled: 2, from: peerAddr,
			serverRefuses: RefusedWrongNode, clientRefuses: RefusedWrongNode, byRemote: true,
			detail: "dialled node 2 of cluster 7 on hb0, reached node 3 of cluster 7 on hb0: check the addresses"},
		{name: "foreign cluster with the same key", cli: identity{cluster: 8, self: 1, network: "hb0"}, srv: srv0, ckr: good, skr: good, dialled: 0, from: peerAddr,
			serverRefuses: RefusedForeignCluster, clientRefuses: RefusedForeignCluster, byRemote: true,
			detail: "dialled node 0 of cluster 8 on hb0, reached node 0 of cluster 7 on hb0"},
		{name: "crossed networks", cli: identity{cluster: 7, self: 1, network: "hb1"}, srv: srv0, ckr: good, skr: good, dialled: 0, from: peerAddr,
			serverRefuses: RefusedWrongNetwork, clientRefuses: RefusedWrongNetwork, byRemote: true,
			detail: "dialled node 0 of cluster 7 on hb1, reached node 0 of cluster 7 on hb0"},
		{name: "unknown node", cli: identity{cluster: 7, self: 9, network: "hb0"}, srv: srv0, ckr: good, skr: good, dialled: 0, from: peerAddr,
			serverRefuses: RefusedUnknownNode, clientRefuses: RefusedUnknownNode, byRemote: true, detail: "its node table has no node 9"},
		{name: "wrong source address", cli: cli1, srv: srv0, ckr: good, skr: good, dialled: 0, from: netip.MustParseAddr("10.0.0.9"),
			serverRefuses: RefusedWrongAddress, clientRefuses: RefusedWrongAddress, byRemote: true, detail: "does not expect node 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := pair(t, c.cli, c.srv, c.ckr, c.skr, c.dialled, c.from)
			if c.serverRefuses == "" {
				if r.serverErr != nil || r.clientErr != nil || r.peer != 1 || r.authFailed {
					t.Fatalf("server %v, client %v, peer %d, auth failed %v", r.serverErr, r.clientErr, r.peer, r.authFailed)
				}
				return
			}
			if got, _ := reason(r.serverErr); got != c.serverRefuses || r.authFailed != c.authFailed {
				t.Errorf("server: %v (auth failed %v), want refusal %s (auth failed %v)", r.serverErr, r.authFailed, c.serverRefuses, c.authFailed)
			}
			if got, byRemote := reason(r.clientErr); got != c.clientRefuses || byRemote != c.byRemote ||
				!strings.Contains(r.clientErr.Error(), c.detail) {
				t.Errorf("client: %v, want %s (by the peer: %v) saying %q", r.clientErr, c.clientRefuses, c.byRemote, c.detail)
			}
			if !c.byRemote && len(r.serverSent) != 2+challengeLen {
				t.Errorf("server wrote %d bytes to a client without the key, want only a CHALLENGE", len(r.serverSent))
			}
		})
	}
}

// probe plays a client without the key: it sends HELLO h, reads the
// CHALLENGE, answers with a random AUTH and reads to the end. It returns
// every byte the server wrote, and the server's verdict.
func probe(t *testing.T, h hello, skr *llt.Keyring, from netip.Addr) (wrote []byte, serverErr error, authFailed bool) {
	t.Helper()
	a, b := net.Pipe()
	rb := &recConn{Conn: b}
	defer a.Close()
	type verdict struct {
		err    error
		failed bool
	}
	done := make(chan verdict, 1)
	go func() {
		_, failed, _, err := serverHandshake(rb, srv0, skr, admitNode1, false, from, time.Now().Add(2*time.Second))
		b.Close()
		done <- verdict{err, failed}
	}()
	_ = a.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := rand.Read(h.nonce[:]); err != nil {
		t.Fatal(err)
	}
	if err := writeMsg(a, h.marshal()); err != nil {
		t.Fatal(err)
	}
	if _, err := readMsg(a); err != nil {
		t.Fatalf("no CHALLENGE: %v", err)
	}
	auth := make([]byte, proofLen)
	_, _ = rand.Read(auth)
	// On a pipe a write completes only once read: the server waits for
	// the AUTH whatever the HELLO said, so when it answers is no clue.
	if err := writeMsg(a, shortMsg(msgAuth, auth...)); err != nil {
		t.Fatalf("the server did not read the AUTH: %v", err)
	}
	if rest, err := io.ReadAll(a); err != nil || len(rest) != 0 {
		t.Fatalf("after the AUTH: %d bytes, %v; want EOF", len(rest), err)
	}
	v := <-done
	return rb.written(), v.err, v.failed
}

// Whatever a client without the key claims, right or wrong, it gets the
// same answer: a CHALLENGE of the same size, then EOF. No RESULT, no
// identity, nothing that confirms a guess.
func TestUnauthenticatedClientLearnsNothing(t *testing.T) {
	skr := ring(t, keyA)
	idA, idB := llt.KeyID(keyA), llt.KeyID(keyB)
	right := hello{cluster: 7, from: 1, to: 0, keyID: idA, network: "hb0"}
	with := func(f func(h *hello)) hello { h := right; f(&h); return h }
	cases := []struct {
		name   string
		h      hello
		from   netip.Addr
		reason string // what the server logs
	}{
		{"every claim right, wrong key", right, peerAddr, RefusedBadProof},
		{"foreign cluster", with(func(h *hello) { h.cluster = 8 }), peerAddr, RefusedBadProof},
		{"wrong node id", with(func(h *hello) { h.to = 5 }), peerAddr, RefusedBadProof},
		{"unknown node", with(func(h *hello) { h.from = 9 }), peerAddr, RefusedBadProof},
		{"unknown key id", with(func(h *hello) { h.keyID = idB }), peerAddr, RefusedUnknownKey},
		{"wrong network", with(func(h *hello) { h.network = "hb1" }), peerAddr, RefusedBadProof},
		{"wrong address", right, netip.MustParseAddr("10.0.0.9"), RefusedBadProof},
		{"foreign cluster, unknown key id", with(func(h *hello) { h.cluster, h.keyID = 8, idB }), peerAddr, RefusedUnknownKey},
	}
	// The fixed part of the answer: length, magic, version, type.
	head := []byte{0, challengeLen, 'T', 'H', 'T', 'C', hsVersion, msgChallenge}
	var answers [][]byte
	for _, c := range cases {
		wrote, err, failed := probe(t, c.h, skr, c.from)
		if len(wrote) != 2+challengeLen || !bytes.Equal(wrote[:len(head)], head) {
			t.Errorf("%s: server wrote % x, want a CHALLENGE of %d bytes and nothing else", c.name, wrote, challengeLen)
		}
		if got, _ := reason(err); got != c.reason || !failed {
			t.Errorf("%s: server says %v (auth failed %v), want %s", c.name, err, failed, c.reason)
		}
		answers = append(answers, wrote)
	}
	// The rest is nonce and proof: fresh each time, real or decoy alike.
	for i := range answers {
		for j := range i {
			if bytes.Equal(answers[i][len(head):], answers[j][len(head):]) {
				t.Errorf("%s and %s got the same nonce and proof", cases[i].name, cases[j].name)
			}
		}
	}
}

// mitm relays a handshake between a client and a server, letting alter
// change each server message (the nth, from 0) before the client sees it.
func mitm(t *testing.T, client, server identity, kr *llt.Keyring, dialled llt.NodeID, alter func(n int, b []byte)) (clientErr error) {
	t.Helper()
	ca, ma := net.Pipe()
	mb, sb := net.Pipe()
	defer ca.Close()
	defer ma.Close()
	defer mb.Close()
	defer sb.Close()
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _, _, _ = serverHandshake(sb, server, kr, admitNode1, false, peerAddr, deadline)
		sb.Close()
	}()
	go func() {
		defer wg.Done()
		defer ma.Close()
		for n := 0; ; n++ {
			// Client to server, then server to client.
			b, err := readMsg(ma)
			if err != nil || writeMsg(mb, b) != nil {
				return
			}
			if b, err = readMsg(mb); err != nil {
				return
			}
			alter(n, b)
			if writeMsg(ma, b) != nil {
				return
			}
		}
	}()
	err := clientHandshake(ca, client, kr, dialled, deadline)
	ca.Close()
	mb.Close()
	wg.Wait()
	return err
}

// A RESULT altered in transit is never believed, neither an admission nor
// a refusal: not one byte of it can be changed.
func TestTamperedResultIsRejected(t *testing.T) {
	kr := ring(t, keyA)
	node3 := identity{cluster: 7, self: 3, network: "hb0"}
	for _, c := range []struct {
		name    string
		server  identity
		dialled llt.NodeID
	}{
		{"admission", srv0, 0},
		{"refusal", node3, 2},
	} {
		if err := mitm(t, cli1, c.server, kr, c.dialled, func(int, []byte) {}); (err == nil) != (c.name == "admission") {
			t.Fatalf("%s untouched: %v", c.name, err)
		}
		for i := range resultFixed + len("hb0") {
			err := mitm(t, cli1, c.server, kr, c.dialled, func(n int, b []byte) {
				if n == 1 { // the RESULT
					b[i] ^= 0x01
				}
			})
			if got, byRemote := reason(err); err == nil || byRemote {
				t.Errorf("%s with byte %d flipped: %v (%s), want it rejected", c.name, i, err, got)
			}
		}
	}
}

// A server that cannot prove the key and says nothing more is refused by
// the client, which reports it as its own verdict: the peer holds another
// key (or is no tether).
func TestClientRejectsServerWithoutTheKey(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		defer b.Close()
		if _, err := readMsg(b); err != nil {
			return
		}
		c := make([]byte, nonceLen+proofLen) // a proof it cannot compute
		_, _ = rand.Read(c)
		if writeMsg(b, shortMsg(msgChallenge, c...)) != nil {
			return
		}
		_, _ = readMsg(b)
	}()
	err := clientHandshake(a, cli1, ring(t, keyA), 0, time.Now().Add(time.Second))
	var he *HandshakeError
	if !errors.As(err, &he) || !he.keyMismatch() {
		t.Fatalf("client: %v, want its own bad-proof refusal", err)
	}
}

func TestServerHandshakeTimesOut(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	start := time.Now()
	_, _, _, err := serverHandshake(b, srv0, ring(t, keyA), admitNode1, false, peerAddr, time.Now().Add(100*time.Millisecond))
	if got, _ := reason(err); got != RefusedTimeout {
		t.Fatalf("silent client: %v, want timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
}

// scriptConn is a connection whose reads come from a script and whose
// writes go nowhere (or to out): one end of a handshake against arbitrary
// bytes, without goroutines. Reads end in EOF, so nothing waits.
type scriptConn struct {
	in  *bytes.Reader
	out *bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error) { return c.in.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) {
	if c.out != nil {
		c.out.Write(b)
	}
	return len(b), nil
}

var (
	scriptLocal  = &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4000}
	scriptRemote = &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 4000}
)

func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return scriptLocal }
func (c *scriptConn) RemoteAddr() net.Addr             { return scriptRemote }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// seedTranscripts adds what each side of real handshakes wrote: an
// admission, an authenticated refusal, a wrong key.
func seedTranscripts(f *testing.F, server bool) {
	for _, r := range []hsResult{
		pair(f, cli1, srv0, ring(f, keyA), ring(f, keyA), 0, peerAddr),
		pair(f, cli1, identity{cluster: 7, self: 3, network: "hb0"}, ring(f, keyA), ring(f, keyA), 2, peerAddr),
		pair(f, cli1, srv0, ring(f, keyB), ring(f, keyA), 0, peerAddr),
	} {
		if server {
			f.Add(r.serverSent)
		} else {
			f.Add(r.clientSent)
		}
	}
}

// The client against arbitrary server bytes: no panic, no hang, and never
// success nor a refusal it would believe (that takes the key).
func FuzzClientHandshake(f *testing.F) {
	seedTranscripts(f, true)
	f.Add([]byte{})
	f.Add([]byte("\x00\x07THTC\x01\x04\x02")) // a v1 server's refusal
	f.Add([]byte("\x00\x46THTC\x02\x02"))
	kr := ring(f, keyA)
	f.Fuzz(func(t *testing.T, in []byte) {
		err := clientHandshake(&scriptConn{in: bytes.NewReader(in)}, cli1, kr, 0, time.Now().Add(time.Second))
		if err == nil {
			t.Fatal("handshake succeeded against fuzz input")
		}
		if _, byRemote := reason(err); byRemote {
			t.Fatalf("client believed a refusal from fuzz input: %v", err)
		}
	})
}

// The server against arbitrary client bytes: no panic, no hang, never an
// admission, and never a byte beyond one CHALLENGE (a RESULT takes the key).
func FuzzServerHandshake(f *testing.F) {
	seedTranscripts(f, false)
	h := hello{cluster: 7, from: 1, to: 0, keyID: llt.KeyID(keyA), network: "hb0"}
	f.Add(h.marshal())
	f.Add([]byte("\x00\x06THTC\x02\x01"))
	f.Add([]byte{})
	kr := ring(f, keyA)
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		peer, _, _, err := serverHandshake(&scriptConn{in: bytes.NewReader(in), out: &out}, srv0, kr, admitNode1, false, peerAddr, time.Now().Add(time.Second))
		if err == nil {
			t.Fatalf("handshake admitted node %d from fuzz input", peer)
		}
		if n := out.Len(); n != 0 && n != 2+challengeLen {
			t.Fatalf("server wrote %d bytes to an unauthenticated client", n)
		}
	})
}

func FuzzParseHello(f *testing.F) {
	h := hello{cluster: 7, from: 1, to: 0, keyID: 1, network: "hb0"}
	f.Add(h.marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseHello(b)
		if err != nil {
			return
		}
		if again := got.marshal(); !bytes.Equal(again, b) {
			t.Fatalf("re-marshal differs")
		}
	})
}
