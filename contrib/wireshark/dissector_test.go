// Package wireshark holds tether's Wireshark dissector (tether.lua) and
// the test that proves it: frames built with tether's own codec, written
// to a pcap file, dissected by tshark.
package wireshark

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/llt"
	"github.com/tether-ha/tether/testbed"
)

var testKey = []byte("tether dissector test key 0123456789")

// docField matches a field name in the header comment of tether.lua.
var docField = regexp.MustCompile(`^--   (tether(?:_tcp)?(?:\.[a-z_]+)*)\s`)

// ---- pcap -------------------------------------------------------------

// pcapWriter writes a classic pcap file (microsecond timestamps, linktype
// 1 = Ethernet) to a buffer.
type pcapWriter struct {
	buf bytes.Buffer
	t   time.Time
	n   int
}

func newPcap() *pcapWriter {
	w := &pcapWriter{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	le := binary.LittleEndian
	var h [24]byte
	le.PutUint32(h[0:], 0xa1b2c3d4) // magic
	le.PutUint16(h[4:], 2)          // version 2.4
	le.PutUint16(h[6:], 4)
	le.PutUint32(h[8:], 0)       // thiszone
	le.PutUint32(h[12:], 0)      // sigfigs
	le.PutUint32(h[16:], 262144) // snaplen
	le.PutUint32(h[20:], 1)      // LINKTYPE_ETHERNET
	w.buf.Write(h[:])
	return w
}

// add appends one packet and returns its frame number (1-based).
func (w *pcapWriter) add(pkt []byte) int {
	ts := w.t.Add(time.Duration(w.n) * time.Millisecond)
	le := binary.LittleEndian
	var h [16]byte
	le.PutUint32(h[0:], uint32(ts.Unix()))
	le.PutUint32(h[4:], uint32(ts.Nanosecond()/1000))
	le.PutUint32(h[8:], uint32(len(pkt)))
	le.PutUint32(h[12:], uint32(len(pkt)))
	w.buf.Write(h[:])
	w.buf.Write(pkt)
	w.n++
	return w.n
}

// ---- packets ----------------------------------------------------------

var (
	macA      = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x03}
	macB      = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	macBcast  = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	ipClient  = [4]byte{10, 0, 0, 2}
	ipServer  = [4]byte{10, 0, 0, 1}
	etherType = uint16(0x88B5)
)

func ether(dst, src [6]byte, etype uint16, payload []byte) []byte {
	b := make([]byte, 0, 14+len(payload))
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	b = binary.BigEndian.AppendUint16(b, etype)
	return append(b, payload...)
}

func checksum(parts ...[]byte) uint16 {
	var sum uint32
	var odd []byte
	for _, p := range parts {
		if len(odd) == 1 && len(p) > 0 { // keep 16-bit alignment across parts
			sum += uint32(odd[0])<<8 | uint32(p[0])
			p, odd = p[1:], nil
		}
		for len(p) >= 2 {
			sum += uint32(p[0])<<8 | uint32(p[1])
			p = p[2:]
		}
		if len(p) == 1 {
			odd = p
		}
	}
	if len(odd) == 1 {
		sum += uint32(odd[0]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpPSH = 0x08
	tcpACK = 0x10
)

// tcpConn builds the packets of one TCP connection, both directions, with
// correct lengths, sequence numbers and checksums.
type tcpConn struct {
	cport, sport uint16
	cseq, sseq   uint32 // next sequence number of each side
	ipID         uint16
}

func (c *tcpConn) packet(fromClient bool, flags byte, data []byte) []byte {
	srcIP, dstIP, sp, dp, seq, ack := ipClient, ipServer, c.cport, c.sport, &c.cseq, c.sseq
	srcMAC, dstMAC := macA, macB
	if !fromClient {
		srcIP, dstIP, sp, dp, seq, ack = ipServer, ipClient, c.sport, c.cport, &c.sseq, c.cseq
		srcMAC, dstMAC = macB, macA
	}
	tcp := make([]byte, 20, 20+len(data))
	be := binary.BigEndian
	be.PutUint16(tcp[0:], sp)
	be.PutUint16(tcp[2:], dp)
	be.PutUint32(tcp[4:], *seq)
	if flags&tcpACK != 0 {
		be.PutUint32(tcp[8:], ack)
	}
	tcp[12] = 5 << 4 // data offset: 20 bytes
	tcp[13] = flags
	be.PutUint16(tcp[14:], 65535) // window
	tcp = append(tcp, data...)
	pseudo := make([]byte, 0, 12)
	pseudo = append(pseudo, srcIP[:]...)
	pseudo = append(pseudo, dstIP[:]...)
	pseudo = append(pseudo, 0, 6)
	pseudo = be.AppendUint16(pseudo, uint16(len(tcp)))
	be.PutUint16(tcp[16:], checksum(pseudo, tcp))

	ip := make([]byte, 20, 20+len(tcp))
	ip[0] = 0x45
	be.PutUint16(ip[2:], uint16(20+len(tcp)))
	c.ipID++
	be.PutUint16(ip[4:], c.ipID)
	be.PutUint16(ip[6:], 0x4000) // DF
	ip[8] = 64
	ip[9] = 6
	copy(ip[12:], srcIP[:])
	copy(ip[16:], dstIP[:])
	be.PutUint16(ip[10:], checksum(ip))
	ip = append(ip, tcp...)

	*seq += uint32(len(data))
	if flags&(tcpSYN|tcpFIN) != 0 {
		*seq++
	}
	return ether(dstMAC, srcMAC, 0x0800, ip)
}

// handshake adds SYN, SYN/ACK, ACK.
func (c *tcpConn) handshake(w *pcapWriter) {
	w.add(c.packet(true, tcpSYN, nil))
	w.add(c.packet(false, tcpSYN|tcpACK, nil))
	w.add(c.packet(true, tcpACK, nil))
}

func hsMsg(body []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
}

func framed(frame []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)
}

// ---- tshark output ----------------------------------------------------

// pdmlNode is a <proto> or <field> of tshark's PDML output.
type pdmlNode struct {
	Name     string     `xml:"name,attr"`
	Show     string     `xml:"show,attr"`
	Showname string     `xml:"showname,attr"`
	Value    string     `xml:"value,attr"`
	Fields   []pdmlNode `xml:"field"`
	Protos   []pdmlNode `xml:"proto"`
}

type pdml struct {
	Packets []struct {
		Protos []pdmlNode `xml:"proto"`
	} `xml:"packet"`
}

// all returns every node named name under n (n included), depth first.
func (n *pdmlNode) all(name string) []*pdmlNode {
	var out []*pdmlNode
	var walk func(m *pdmlNode)
	walk = func(m *pdmlNode) {
		if m.Name == name {
			out = append(out, m)
		}
		for i := range m.Fields {
			walk(&m.Fields[i])
		}
		for i := range m.Protos {
			walk(&m.Protos[i])
		}
	}
	walk(n)
	return out
}

// shows returns the show values of every field named name under n.
func (n *pdmlNode) shows(name string) []string {
	var s []string
	for _, m := range n.all(name) {
		s = append(s, m.Show)
	}
	return s
}

// tsharkRun runs tshark with the dissector on file, in an empty
// configuration, and returns its standard output.
type tsharkRun struct {
	bin, script, home string
}

func (r *tsharkRun) run(t *testing.T, file string, args ...string) []byte {
	t.Helper()
	all := []string{"-n", "-X", "lua_script:" + r.script, "-r", file,
		"-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tcp.analyze_sequence_numbers:TRUE"}
	out := r.exec(t, append(all, args...)...)
	if bytes.Contains(out, []byte("Lua Error")) || bytes.Contains(out, []byte("_ws.lua.error")) {
		t.Fatalf("tshark output has a Lua error:\n%s", out)
	}
	return out
}

// exec runs tshark with exactly args.
func (r *tsharkRun) exec(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(r.bin, args...)
	env := []string{"HOME=" + r.home, "WIRESHARK_CONFIG_DIR=" + filepath.Join(r.home, "config"),
		"XDG_CONFIG_HOME=" + filepath.Join(r.home, "xdg")}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "XDG_CONFIG_HOME" || strings.HasPrefix(k, "WIRESHARK_") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("tshark %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	// As root, tshark warns that it runs as root; anything else on stderr
	// (a Lua error loading the script, a bad -o) is a failure.
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if line != "" && !strings.HasPrefix(line, "Running as user \"root\"") {
			t.Fatalf("tshark wrote to stderr: %s", stderr.String())
		}
	}
	return stdout.Bytes()
}

func (r *tsharkRun) pdml(t *testing.T, file string, args ...string) pdml {
	t.Helper()
	out := r.run(t, file, append([]string{"-T", "pdml"}, args...)...)
	var p pdml
	if err := xml.Unmarshal(out, &p); err != nil {
		t.Fatalf("parsing PDML: %v", err)
	}
	return p
}

// infos returns the Info column of every packet, by frame number - 1.
func (r *tsharkRun) infos(t *testing.T, file string, args ...string) []string {
	t.Helper()
	out := r.run(t, file, append([]string{"-T", "fields", "-e", "_ws.col.Info"}, args...)...)
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

func findTshark(t *testing.T) string {
	bin := testbed.RequireTool(t, "tshark", "tshark")
	out, err := exec.Command(bin, "-v").Output()
	if err != nil {
		t.Fatalf("tshark -v: %v", err)
	}
	if !bytes.Contains(out, []byte("with Lua")) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tshark has no Lua support: .ci/deps must install a tshark built with Lua\n%s", out)
		}
		t.Skipf("tshark has no Lua support: skipping\n%s", out)
	}
	return bin
}

// ---- the test ---------------------------------------------------------

type check struct {
	t   *testing.T
	pkt int // frame number, for messages
	n   *pdmlNode
}

// eq asserts the show values of every field named name, in order.
func (c check) eq(name string, want ...string) {
	c.t.Helper()
	got := c.n.shows(name)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		c.t.Errorf("frame %d: %s = %q, want %q", c.pkt, name, got, want)
	}
}

// label asserts that the first field named name has a label containing want.
func (c check) label(name, want string) {
	c.t.Helper()
	f := c.n.all(name)
	if len(f) == 0 {
		c.t.Errorf("frame %d: no %s", c.pkt, name)
		return
	}
	if !strings.Contains(f[0].Showname, want) {
		c.t.Errorf("frame %d: %s label %q, want it to contain %q", c.pkt, name, f[0].Showname, want)
	}
}

// labels asserts the labels of every field named name, in order, each
// containing the corresponding want.
func (c check) labels(name string, want ...string) {
	c.t.Helper()
	f := c.n.all(name)
	if len(f) != len(want) {
		c.t.Errorf("frame %d: %d %s, want %d", c.pkt, len(f), name, len(want))
		return
	}
	for i := range f {
		if !strings.Contains(f[i].Showname, want[i]) {
			c.t.Errorf("frame %d: %s #%d label %q, want it to contain %q", c.pkt, name, i+1, f[i].Showname, want[i])
		}
	}
}

// expert asserts that an expert info named name is there and that its
// message contains msg.
func (c check) expert(name, msg string) {
	c.t.Helper()
	for _, e := range c.n.all("_ws.expert") {
		if len(e.all(name)) == 0 {
			continue
		}
		for _, m := range e.all("_ws.expert.message") {
			if strings.Contains(m.Show, msg) {
				return
			}
		}
	}
	c.t.Errorf("frame %d: no expert info %s with %q; experts: %q", c.pkt, name, msg, c.n.shows("_ws.expert.message"))
}

// noExpert asserts that the node carries no expert info at all.
func (c check) noExpert() {
	c.t.Helper()
	if m := c.n.shows("_ws.expert.message"); len(m) > 0 {
		c.t.Errorf("frame %d: unexpected expert infos %q", c.pkt, m)
	}
}

func TestDissector(t *testing.T) {
	bin := findTshark(t)
	script, err := filepath.Abs("tether.lua")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ts := &tsharkRun{bin: bin, script: script, home: filepath.Join(dir, "home")}
	if err := os.MkdirAll(filepath.Join(ts.home, "config"), 0o755); err != nil {
		t.Fatal(err)
	}

	ring, err := llt.NewKeyring(testKey)
	if err != nil {
		t.Fatal(err)
	}
	codec := llt.NewCodec(ring)
	keyID := fmt.Sprintf("0x%08x", llt.KeyID(testKey))
	encode := func(f llt.Frame) []byte {
		t.Helper()
		b, err := codec.Append(nil, &f)
		if err != nil {
			t.Fatal(err)
		}
		var g llt.Frame
		if err := codec.Decode(b, &g); err != nil {
			t.Fatalf("the codec does not decode its own frame: %v", err)
		}
		return b
	}

	hb := llt.Frame{
		Type: llt.FrameHeartbeat, State: llt.SessionUp, Diag: llt.DiagNone,
		Cluster: 7, Src: 3, Dst: 1, Network: "hb0",
		Heartbeat: 250 * time.Millisecond, PeerInact: 4 * time.Second,
		Incarnation: 0x1122334455667788, Seq: 42, Timestamp: 1_500_000_000,
		Echo: llt.Echo{Incarnation: 0x99aabbccddeeff01, Seq: 17, Timestamp: 1_400_000_000, Hold: 1500 * time.Microsecond},
		Vector: []llt.VectorEntry{
			{Network: "hb0", State: llt.LinkUp, HearsYou: true, Carrier: true, Loss: 7},
			{Network: "hb1", State: llt.LinkDown, Reason: llt.ReasonCarrierLost, Loss: llt.LossUnknown},
		},
	}
	claim := llt.Frame{
		Type: llt.FrameClaim, State: llt.SessionDown, Cluster: 7, Src: 3, Dst: llt.Broadcast,
		Network: "hb0", Heartbeat: 250 * time.Millisecond, PeerInact: 4 * time.Second,
		Incarnation: 0x0102030405060708, Seq: 1, Timestamp: 1000,
	}
	msg := llt.Frame{
		Type: llt.FrameMessage, State: llt.SessionUp, Cluster: 7, Src: 3, Dst: 2,
		Network: "hb0", Heartbeat: 250 * time.Millisecond, PeerInact: 4 * time.Second,
		Incarnation: 0x1122334455667788, Seq: 43, Timestamp: 1_600_000_000,
		Payload: append([]byte{2}, "link-table-body"...),
	}
	probe := llt.Frame{
		Type: llt.FrameHeartbeat, Flags: llt.FlagProbe | llt.FlagCopy, State: llt.SessionUp, Cluster: 7, Src: 1, Dst: 3,
		Network: "hb1", Heartbeat: 250 * time.Millisecond, PeerInact: 4 * time.Second,
		Incarnation: 0x0a0b0c0d0e0f1011, Seq: 100, Timestamp: 2_000_000_000,
		ProbeAck: 99, Pad: 900,
		Vector: []llt.VectorEntry{{Network: "hb1", State: llt.LinkTrouble, Reason: llt.ReasonPeerSilent, HearsYou: true, Carrier: true, Loss: 0}},
	}
	otherVersion := encode(hb)
	otherVersion[2] = 3
	truncated := encode(hb)[:60]
	// A reason this dissector has no name for (tether grew): patch the
	// reason byte of the second vector entry (the tag no longer matches,
	// the dissector does not verify it).
	unknownReason := encode(hb)
	reasonOff := 87 + len("hb0") + (1 + len("hb0") + 4) + 1 + len("hb1") + 1
	if unknownReason[reasonOff] != byte(llt.ReasonCarrierLost) {
		t.Fatalf("reason byte at %d is %d, want %d", reasonOff, unknownReason[reasonOff], llt.ReasonCarrierLost)
	}
	unknownReason[reasonOff] = 99

	w := newPcap()
	pHB := w.add(ether(macB, macA, etherType, encode(hb)))
	pClaim := w.add(ether(macBcast, macA, etherType, encode(claim)))
	pMsg := w.add(ether(macB, macA, etherType, encode(msg)))
	pProbe := w.add(ether(macA, macB, etherType, encode(probe)))
	pOther := w.add(ether(macB, macA, etherType, otherVersion))
	pTrunc := w.add(ether(macB, macA, etherType, truncated))
	pReason := w.add(ether(macB, macA, etherType, unknownReason))
	// Another EtherType: not tether unless the preference says so.
	pOtherEtype := w.add(ether(macB, macA, 0x88B6, encode(hb)))

	// The tcp channel: a 2-message handshake, then frames, one split
	// across two segments and followed by another in the same segment.
	nonce := bytes.Repeat([]byte{0xAB}, 32)
	hello := []byte("THTC\x02\x01")
	hello = binary.BigEndian.AppendUint16(hello, 7)
	hello = binary.BigEndian.AppendUint16(hello, 2)
	hello = binary.BigEndian.AppendUint16(hello, 1)
	hello = binary.BigEndian.AppendUint32(hello, llt.KeyID(testKey))
	hello = append(hello, nonce...)
	hello = append(hello, 3)
	hello = append(hello, "pub"...)
	challenge := append([]byte("THTC\x02\x02"), bytes.Repeat([]byte{0xCD}, 64)...)

	tcpA := llt.Frame{
		Type: llt.FrameHeartbeat, State: llt.SessionInit, Cluster: 7, Src: 2, Dst: 1, Network: "pub",
		Heartbeat: time.Second, PeerInact: 16 * time.Second, Incarnation: 0x2222, Seq: 1, Timestamp: 10,
	}
	tcpB := llt.Frame{
		Type: llt.FrameHeartbeat, State: llt.SessionUp, Cluster: 7, Src: 1, Dst: 2, Network: "pub",
		Heartbeat: time.Second, PeerInact: 16 * time.Second, Incarnation: 0x1111, Seq: 1, Timestamp: 20,
		Echo: llt.Echo{Incarnation: 0x2222, Seq: 1, Timestamp: 10, Hold: 50 * time.Microsecond},
	}
	tcpC := tcpA
	tcpC.State, tcpC.Seq, tcpC.Timestamp = llt.SessionUp, 2, 30
	tcpC.Vector = []llt.VectorEntry{{Network: "pub", State: llt.LinkUp, HearsYou: true, Carrier: true, Loss: 0}}
	tcpD := tcpA
	tcpD.Type, tcpD.State, tcpD.Seq, tcpD.Timestamp = llt.FrameMessage, llt.SessionUp, 3, 40
	tcpD.Payload = []byte{0, 1, 2, 3, 4, 5, 6, 7}

	conn := &tcpConn{cport: 41000, sport: 7947, cseq: 1000, sseq: 5000}
	conn.handshake(w)
	pHello := w.add(conn.packet(true, tcpPSH|tcpACK, hsMsg(hello)))
	pChallenge := w.add(conn.packet(false, tcpPSH|tcpACK, hsMsg(challenge)))
	pTCPA := w.add(conn.packet(true, tcpPSH|tcpACK, framed(encode(tcpA))))
	pTCPB := w.add(conn.packet(false, tcpPSH|tcpACK, framed(encode(tcpB))))
	c := framed(encode(tcpC))
	const split = 40
	pTCPCFirst := w.add(conn.packet(true, tcpPSH|tcpACK, c[:split]))
	pTCPCD := w.add(conn.packet(true, tcpPSH|tcpACK, append(append([]byte(nil), c[split:]...), framed(encode(tcpD))...)))

	// Another port: not tether unless the preference says so.
	conn2 := &tcpConn{cport: 41001, sport: 7950, cseq: 9000, sseq: 9500}
	conn2.handshake(w)
	pOtherPort := w.add(conn2.packet(true, tcpPSH|tcpACK, framed(encode(tcpA))))

	file := filepath.Join(dir, "tether.pcap")
	if err := os.WriteFile(file, w.buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("TETHER_PCAP_OUT"); keep != "" {
		// A sample capture to look at: TETHER_PCAP_OUT=/tmp/tether.pcap go test ...
		if err := os.WriteFile(keep, w.buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	p := ts.pdml(t, file)
	infos := ts.infos(t, file)
	if len(p.Packets) != w.n || len(infos) != w.n {
		t.Fatalf("tshark returned %d packets (%d Info lines), want %d", len(p.Packets), len(infos), w.n)
	}
	protos := func(pkt int, name string) []*pdmlNode {
		var out []*pdmlNode
		for i := range p.Packets[pkt-1].Protos {
			if p.Packets[pkt-1].Protos[i].Name == name {
				out = append(out, &p.Packets[pkt-1].Protos[i])
			}
		}
		return out
	}
	// one returns the only tether proto of pkt.
	one := func(t *testing.T, pkt int) check {
		t.Helper()
		ps := protos(pkt, "tether")
		if len(ps) != 1 {
			t.Fatalf("frame %d: %d tether protocols, want 1", pkt, len(ps))
		}
		return check{t: t, pkt: pkt, n: ps[0]}
	}
	info := func(t *testing.T, pkt int, want string) {
		t.Helper()
		if infos[pkt-1] != want {
			t.Errorf("frame %d: Info %q, want %q", pkt, infos[pkt-1], want)
		}
	}

	t.Run("heartbeat", func(t *testing.T) {
		c := one(t, pHB)
		info(t, pHB, "hb0 node3 -> node1 heartbeat UP seq=42")
		c.eq("tether.magic", "TH")
		c.eq("tether.version", "2")
		c.eq("tether.type", "1")
		c.label("tether.type", "Type: heartbeat (1)")
		c.eq("tether.flags", "0x00")
		c.eq("tether.flags.probe", "0")
		c.eq("tether.state", "3")
		c.label("tether.state", "Session state: UP (3)")
		c.eq("tether.diag", "0")
		c.label("tether.diag", "Diag: none (0)")
		c.eq("tether.netlen", "3")
		c.eq("tether.cluster", "7")
		c.eq("tether.src", "3")
		c.eq("tether.dst", "1")
		c.eq("tether.dst.broadcast")
		c.eq("tether.heartbeat", "250000")
		c.label("tether.heartbeat", "250000 µs (250.000 ms)")
		c.eq("tether.peerinact", "4000000")
		c.label("tether.peerinact", "4000000 µs (4000.000 ms)")
		c.eq("tether.incarnation", "0x1122334455667788")
		c.eq("tether.seq", "42")
		c.eq("tether.timestamp", "1500000000")
		c.label("tether.timestamp", "1.500000000 s")
		c.eq("tether.echo.incarnation", "0x99aabbccddeeff01")
		c.eq("tether.echo.seq", "17")
		c.eq("tether.echo.timestamp", "1400000000")
		c.eq("tether.echo.hold", "1500")
		c.label("tether.echo.hold", "1500 µs (1.500 ms)")
		c.eq("tether.probe_ack", "0")
		c.eq("tether.vector_count", "2")
		c.eq("tether.payload_len", "0")
		c.eq("tether.pad_len", "0")
		c.eq("tether.network", "hb0")
		c.labels("tether.vector",
			"Link vector entry 1: hb0 UP [hears-you carrier], loss 7 %",
			"Link vector entry 2: hb1 DOWN carrier-lost, loss unknown (255)")
		c.eq("tether.vector.network", "hb0", "hb1")
		c.eq("tether.vector.state", "3", "1")
		c.labels("tether.vector.state", "Link state: UP (3)", "Link state: DOWN (1)")
		c.eq("tether.vector.reason", "0", "1")
		c.labels("tether.vector.reason", "Reason: none (0)", "Reason: carrier-lost (1)")
		c.eq("tether.vector.flags", "0x03", "0x00")
		c.eq("tether.vector.flags.hears_you", "1", "0")
		c.eq("tether.vector.flags.carrier", "1", "0")
		c.eq("tether.vector.loss", "7", "255")
		c.labels("tether.vector.loss", "Loss: 7 %", "Loss: unknown (255)")
		c.eq("tether.payload")
		c.eq("tether.pad")
		c.eq("tether.keyid", keyID)
		if tag := c.n.all("tether.tag"); len(tag) != 1 || len(tag[0].Value) != 32 || !strings.Contains(tag[0].Showname, "not verified") {
			t.Errorf("tag %+v, want 16 bytes, not verified", tag)
		}
		c.noExpert()
	})

	t.Run("broadcast claim", func(t *testing.T) {
		c := one(t, pClaim)
		info(t, pClaim, "hb0 node3 -> * claim DOWN seq=1")
		c.eq("tether.type", "4")
		c.label("tether.type", "claim")
		c.eq("tether.state", "1")
		c.eq("tether.src", "3")
		c.eq("tether.dst", "65535")
		c.label("tether.dst", "Destination node: broadcast (65535)")
		c.eq("tether.dst.broadcast", "1")
		c.eq("tether.incarnation", "0x0102030405060708")
		c.eq("tether.seq", "1")
		c.eq("tether.echo.incarnation", "0x0000000000000000")
		c.label("tether.echo.incarnation", "nothing heard")
		c.eq("tether.vector_count", "0")
		c.eq("tether.vector")
		c.eq("tether.keyid", keyID)
		c.noExpert()
	})

	t.Run("message", func(t *testing.T) {
		c := one(t, pMsg)
		info(t, pMsg, "hb0 node3 -> node2 message UP seq=43")
		c.eq("tether.type", "3")
		c.eq("tether.dst", "2")
		c.eq("tether.payload_len", fmt.Sprint(len(msg.Payload)))
		c.eq("tether.topic", "2")
		c.label("tether.topic", "Topic: link table (2)")
		if got := c.n.all("tether.payload.data"); len(got) != 1 || got[0].Value != fmt.Sprintf("%x", "link-table-body") {
			t.Errorf("payload data %+v, want %x", got, "link-table-body")
		}
		c.eq("tether.keyid", keyID)
		c.noExpert()
	})

	t.Run("probe", func(t *testing.T) {
		c := one(t, pProbe)
		info(t, pProbe, "hb1 node1 -> node3 heartbeat UP seq=100 copy probe")
		c.eq("tether.flags", "0x03")
		c.eq("tether.flags.probe", "1")
		c.eq("tether.flags.copy", "1")
		c.eq("tether.flags.reserved", "0x00")
		c.eq("tether.network", "hb1")
		c.eq("tether.src", "1")
		c.eq("tether.dst", "3")
		c.eq("tether.probe_ack", "99")
		c.eq("tether.pad_len", "900")
		c.label("tether.pad", "Pad (900 zero bytes)")
		c.eq("tether.vector.state", "2")
		c.label("tether.vector.state", "TROUBLE")
		c.eq("tether.vector.reason", "2")
		c.label("tether.vector.reason", "peer-silent")
		c.eq("tether.vector.loss", "0")
		c.eq("tether.keyid", keyID)
		c.noExpert()
	})

	t.Run("other version", func(t *testing.T) {
		c := one(t, pOther)
		info(t, pOther, "tether version 3 (unsupported)")
		c.eq("tether.magic", "TH")
		c.eq("tether.version", "3")
		c.expert("tether.unsupported_version", "unsupported version 3")
		c.eq("tether.src") // not dissected
		if len(c.n.all("tether.undecoded")) != 1 {
			t.Errorf("no tether.undecoded")
		}
	})

	t.Run("truncated", func(t *testing.T) {
		c := one(t, pTrunc)
		info(t, pTrunc, "? node3 -> node1 heartbeat UP seq=42 [truncated]")
		c.eq("tether.src", "3")
		c.eq("tether.seq", "42")
		c.eq("tether.probe_ack") // past byte 60
		c.expert("tether.truncated", "60 bytes, minimum 108")
	})

	t.Run("unknown reason", func(t *testing.T) {
		c := one(t, pReason)
		info(t, pReason, "hb0 node3 -> node1 heartbeat UP seq=42")
		c.eq("tether.vector.reason", "0", "99")
		if r := c.n.all("tether.vector.reason"); len(r) != 2 || r[1].Showname != "Reason: unknown (99)" {
			t.Errorf("unknown reason shown as %+v, want \"Reason: unknown (99)\"", r)
		}
		c.expert("tether.unknown_value", "reason 99")
	})

	t.Run("other ethertype not tether", func(t *testing.T) {
		if n := len(protos(pOtherEtype, "tether")); n != 0 {
			t.Errorf("frame %d (EtherType 0x88B6) dissected as tether by default", pOtherEtype)
		}
		if n := len(protos(pOtherPort, "tether")) + len(protos(pOtherPort, "tether_tcp")); n != 0 {
			t.Errorf("frame %d (port 7950) dissected as tether by default", pOtherPort)
		}
	})

	hsCheck := func(t *testing.T, pkt int) check {
		t.Helper()
		ps := protos(pkt, "tether_tcp")
		if len(ps) != 1 {
			t.Fatalf("frame %d: %d tether_tcp protocols, want 1", pkt, len(ps))
		}
		if n := len(protos(pkt, "tether")); n != 0 {
			t.Errorf("frame %d: handshake has %d tether frames", pkt, n)
		}
		return check{t: t, pkt: pkt, n: ps[0]}
	}

	t.Run("tcp handshake", func(t *testing.T) {
		h := hsCheck(t, pHello)
		info(t, pHello, "tether tcp handshake hello pub node2 -> node1")
		if !strings.HasPrefix(h.n.Showname, "tether tcp handshake: hello") {
			t.Errorf("hello shown as %q", h.n.Showname)
		}
		h.eq("tether_tcp.hs.len", fmt.Sprint(len(hello)))
		h.eq("tether_tcp.hs.magic", "THTC")
		h.eq("tether_tcp.hs.version", "2")
		h.eq("tether_tcp.hs.type", "1")
		h.eq("tether_tcp.hs.cluster", "7")
		h.eq("tether_tcp.hs.from", "2")
		h.eq("tether_tcp.hs.to", "1")
		h.eq("tether_tcp.hs.keyid", keyID)
		h.eq("tether_tcp.hs.network", "pub")
		h.noExpert()

		h = hsCheck(t, pChallenge)
		info(t, pChallenge, "tether tcp handshake challenge")
		h.eq("tether_tcp.hs.type", "2")
		h.label("tether_tcp.hs.type", "Type: challenge (2)")
		if n := h.n.all("tether_tcp.hs.proof"); len(n) != 1 || n[0].Value != strings.Repeat("cd", 32) {
			t.Errorf("challenge proof %+v", n)
		}
		h.noExpert()
	})

	t.Run("tcp frames", func(t *testing.T) {
		a := one(t, pTCPA)
		info(t, pTCPA, "pub node2 -> node1 heartbeat INIT seq=1")
		a.eq("tether.state", "2")
		a.eq("tether.incarnation", "0x0000000000002222")
		a.noExpert()
		if fl := protos(pTCPA, "tether_tcp"); len(fl) != 1 || len(fl[0].all("tether_tcp.frame_len")) != 1 ||
			fl[0].all("tether_tcp.frame_len")[0].Show != fmt.Sprint(len(encode(tcpA))) {
			t.Errorf("frame %d: tether_tcp.frame_len missing or wrong", pTCPA)
		}

		b := one(t, pTCPB)
		info(t, pTCPB, "pub node1 -> node2 heartbeat UP seq=1")
		b.eq("tether.echo.incarnation", "0x0000000000002222")
		b.eq("tether.echo.seq", "1")
		b.eq("tether.echo.hold", "50")
		b.noExpert()

		if n := len(protos(pTCPCFirst, "tether")); n != 0 {
			t.Errorf("frame %d (first part of a split frame): %d tether frames, want 0", pTCPCFirst, n)
		}
		fs := protos(pTCPCD, "tether")
		if len(fs) != 2 {
			t.Fatalf("frame %d: %d tether frames, want 2 (the reassembled one and the next)", pTCPCD, len(fs))
		}
		info(t, pTCPCD, "pub node2 -> node1 heartbeat UP seq=2 | pub node2 -> node1 message UP seq=3")
		cc := check{t: t, pkt: pTCPCD, n: fs[0]}
		cc.eq("tether.seq", "2")
		cc.eq("tether.vector.network", "pub")
		cc.eq("tether.vector.state", "3")
		cc.eq("tether.keyid", keyID)
		cc.noExpert()
		d := check{t: t, pkt: pTCPCD, n: fs[1]}
		d.eq("tether.seq", "3")
		d.eq("tether.topic", "0")
		d.label("tether.topic", "Topic: echo request (0)")
		d.noExpert()
	})

	t.Run("damaged frames", func(t *testing.T) {
		// Every truncation and every single-byte corruption of a frame,
		// and a tcp stream caught mid-frame: the dissector must mark
		// them (expert info), never fail with a Lua error (run checks).
		damaged := hb
		damaged.Flags, damaged.Pad, damaged.Payload = llt.FlagProbe, 16, []byte("xyz")
		full := encode(damaged)
		w := newPcap()
		for n := 1; n < len(full); n++ {
			w.add(ether(macB, macA, etherType, full[:n]))
		}
		nTrunc := w.n
		for i := range full {
			b := append([]byte(nil), full...)
			b[i] ^= 0xff
			w.add(ether(macB, macA, etherType, b))
		}
		nFlip := w.n
		mid := &tcpConn{cport: 41002, sport: 7947, cseq: 100, sseq: 200}
		w.add(mid.packet(true, tcpPSH|tcpACK, framed(encode(tcpA))[50:]))
		file := filepath.Join(dir, "damaged.pcap")
		if err := os.WriteFile(file, w.buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		p := ts.pdml(t, file)
		if len(p.Packets) != w.n {
			t.Fatalf("tshark returned %d packets, want %d", len(p.Packets), w.n)
		}
		for i := range p.Packets {
			var tp, ttcp []*pdmlNode
			for j := range p.Packets[i].Protos {
				switch p.Packets[i].Protos[j].Name {
				case "tether":
					tp = append(tp, &p.Packets[i].Protos[j])
				case "tether_tcp":
					ttcp = append(ttcp, &p.Packets[i].Protos[j])
				}
			}
			c := check{t: t, pkt: i + 1}
			switch {
			case i < nTrunc:
				if len(tp) != 1 {
					t.Fatalf("frame %d (%d bytes): %d tether protocols", i+1, i+1, len(tp))
				}
				c.n = tp[0]
				c.expert("tether.truncated", "")
			case i < nFlip:
				if len(tp) != 1 {
					t.Fatalf("frame %d (byte %d flipped): %d tether protocols", i+1, i-nTrunc, len(tp))
				}
			default:
				if len(ttcp) != 1 {
					t.Fatalf("frame %d (mid-stream): %d tether_tcp protocols", i+1, len(ttcp))
				}
				c.n = ttcp[0]
				c.expert("tether_tcp.not_pdu", "mid-stream")
			}
		}
	})

	t.Run("field names documented", func(t *testing.T) {
		// The header of tether.lua lists the field names (a contract);
		// the list must be exactly what the script registers.
		src, err := os.ReadFile(script)
		if err != nil {
			t.Fatal(err)
		}
		documented := map[string]bool{}
		in := false
		for _, line := range strings.Split(string(src), "\n") {
			if strings.HasPrefix(line, "-- Field names:") {
				in = true
				continue
			}
			if in && !strings.HasPrefix(line, "--") {
				break
			}
			if m := docField.FindStringSubmatch(line); in && m != nil {
				documented[m[1]] = true
			}
		}
		registered := map[string]bool{}
		out := ts.exec(t, "-G", "fields", "-X", "lua_script:"+script)
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Split(line, "\t")
			if len(f) >= 3 && (f[0] == "P" || f[0] == "F") && (f[2] == "tether" || f[2] == "tether_tcp" ||
				strings.HasPrefix(f[2], "tether.") || strings.HasPrefix(f[2], "tether_tcp.")) {
				registered[f[2]] = true
			}
		}
		if len(registered) < 50 {
			t.Fatalf("tshark -G fields lists only %d tether fields", len(registered))
		}
		for f := range registered {
			if !documented[f] {
				t.Errorf("field %s is registered but not documented at the top of tether.lua", f)
			}
		}
		for f := range documented {
			if !registered[f] {
				t.Errorf("field %s is documented at the top of tether.lua but not registered", f)
			}
		}
	})

	t.Run("preferences", func(t *testing.T) {
		infos := ts.infos(t, file, "-o", "tether.ethertype:0x88b6", "-o", "tether.tcp_port:7950")
		if len(infos) != w.n {
			t.Fatalf("%d Info lines, want %d", len(infos), w.n)
		}
		if got, want := infos[pOtherEtype-1], "hb0 node3 -> node1 heartbeat UP seq=42"; got != want {
			t.Errorf("EtherType 0x88B6 with tether.ethertype:0x88b6: Info %q, want %q", got, want)
		}
		if got, want := infos[pOtherPort-1], "pub node2 -> node1 heartbeat INIT seq=1"; got != want {
			t.Errorf("port 7950 with tether.tcp_port:7950: Info %q, want %q", got, want)
		}
		if got := infos[pHB-1]; strings.Contains(got, "heartbeat") {
			t.Errorf("EtherType 0x88B5 still tether after moving to 0x88B6: Info %q", got)
		}
	})
}
