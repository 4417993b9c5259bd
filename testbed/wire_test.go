package testbed

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// Helpers that send and capture raw frames on a bed's wires.

// deliveryTimeout bounds how long a frame that should arrive may take
// (it takes microseconds on veth).
const deliveryTimeout = 2 * time.Second

// silenceWindow is how long a frame that must not arrive is waited for
// after a control frame sent later has arrived elsewhere.
const silenceWindow = 100 * time.Millisecond

// tap is a raw socket on one interface of a namespace.
type tap struct {
	name string
	src  net.HardwareAddr
	c    *packet.Conn
}

func openTap(t *testing.T, ns, iface string, src net.HardwareAddr) *tap {
	t.Helper()
	c, err := OpenPacket(ns, iface, EtherType)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Room for a few thousand frames, so bursts are not dropped unread.
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	}); err != nil || serr != nil {
		t.Fatalf("SO_RCVBUFFORCE: %v %v", err, serr)
	}
	return &tap{name: ns + ":" + iface, src: src, c: c}
}

func nodeTap(t *testing.T, b *Bed, i int, net string) *tap {
	t.Helper()
	return openTap(t, b.NodeNS(i), b.Iface(i, net), b.MAC(i, net))
}

func newToken(t *testing.T) []byte {
	t.Helper()
	r := make([]byte, 8)
	if _, err := rand.Read(r); err != nil {
		t.Fatal(err)
	}
	return []byte("tbtest-" + hex.EncodeToString(r))
}

// send broadcasts a frame carrying token, padded to size payload bytes.
// It returns the write error: an egress drop makes it ENOBUFS.
func (tp *tap) send(t *testing.T, token []byte, size int) error {
	t.Helper()
	payload := make([]byte, max(size, len(token)))
	copy(payload, token)
	f := &ethernet.Frame{Destination: ethernet.Broadcast, Source: tp.src, EtherType: EtherType, Payload: payload}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	_, err = tp.c.WriteTo(b, &packet.Addr{HardwareAddr: ethernet.Broadcast})
	return err
}

func (tp *tap) mustSend(t *testing.T, token []byte, size int) {
	t.Helper()
	if err := tp.send(t, token, size); err != nil {
		t.Fatalf("send on %s: %v", tp.name, err)
	}
}

// recv waits until a frame carrying token arrives or d passes.
func (tp *tap) recv(t *testing.T, token []byte, d time.Duration) bool {
	t.Helper()
	buf := make([]byte, 70000)
	deadline := time.Now().Add(d)
	for {
		if err := tp.c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, _, err := tp.c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		if err != nil {
			t.Fatalf("read on %s: %v", tp.name, err)
		}
		if bytes.Contains(buf[:n], token) {
			return true
		}
	}
}

func (tp *tap) expect(t *testing.T, token []byte, why string) {
	t.Helper()
	if !tp.recv(t, token, deliveryTimeout) {
		t.Fatalf("%s: frame %s did not arrive on %s within %v", why, token, tp.name, deliveryTimeout)
	}
}

// expectNone checks that token does not arrive on tp. Call it after a
// frame sent later through the same switch was seen elsewhere, so that
// the short window only has to cover delivery skew.
func (tp *tap) expectNone(t *testing.T, token []byte, why string) {
	t.Helper()
	if tp.recv(t, token, silenceWindow) {
		t.Fatalf("%s: frame %s arrived on %s but must not", why, token, tp.name)
	}
}

// count counts frames carrying prefix that arrive within d.
func (tp *tap) count(t *testing.T, prefix []byte, d time.Duration) int {
	t.Helper()
	buf := make([]byte, 70000)
	deadline := time.Now().Add(d)
	n := 0
	for {
		if err := tp.c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		m, _, err := tp.c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return n
		}
		if err != nil {
			t.Fatalf("read on %s: %v", tp.name, err)
		}
		if bytes.Contains(buf[:m], prefix) {
			n++
		}
	}
}
