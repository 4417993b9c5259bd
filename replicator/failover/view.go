package failover

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A View is what a node tells every other node about ten times a second:
// how it sees each peer, the last view sequence it heard from each (the
// echo that proves a later answer is fresh), and each resource's epoch and
// primary as it knows them. The supervisor counts votes from views:
// support for a primary's lease (Support) and confirmations that a primary
// is gone (Confirm).
type View struct {
	Seq       uint64
	Peers     []PeerView
	Resources []ResourceView
}

// PeerView is how the sender sees one peer.
type PeerView struct {
	ID    uint16
	State string        // Node*
	For   time.Duration // in State for (milliseconds on the wire)
	Echo  uint64        // the last Seq the sender heard from this peer (0: none)
}

// ResourceView is a resource's epoch and primary as the sender knows them
// (its own state, or the highest it heard: a witness relays epochs).
type ResourceView struct {
	Name    string
	Epoch   uint32
	Primary uint16 // node id
	// Resigned: the sender, primary at Epoch, gave the resource up: its
	// back end has not answered for DownFor (it is fenced and stays so).
	Resigned bool
	DownFor  time.Duration
	// Promoting: the sender, the mirror, is failing over at Epoch: it
	// backs no lease of the primary meanwhile.
	Promoting bool
}

// Fact is the resource's epoch and primary without the sender's flags:
// what a node may relay (a flag speaks only for its sender, now).
func (r ResourceView) Fact() ResourceView {
	return ResourceView{Name: r.Name, Epoch: r.Epoch, Primary: r.Primary}
}

// Views are version 1 unless a resource carries a flag (version 2: a
// flags byte per resource, and DownFor when resigned), so that nodes of
// the previous release understand every view of a healthy cluster.
const (
	viewVersion  = 1
	viewFlagged  = 2
	flagResigned = 1 << 0
	flagPromote  = 1 << 1
	maxViewPeers = 1024
	maxViewRes   = 1024
	maxNameLen   = 255
)

var stateCodes = []string{"", NodeConnWait, NodeOpen, NodeJeopardy, NodeDown, NodePartitioned}

func stateCode(s string) byte {
	for i, n := range stateCodes {
		if n == s {
			return byte(i)
		}
	}
	return 0
}

// AppendView encodes v after b.
func AppendView(b []byte, v *View) ([]byte, error) {
	if len(v.Peers) > maxViewPeers || len(v.Resources) > maxViewRes {
		return b, fmt.Errorf("failover view: %d peers, %d resources: too many", len(v.Peers), len(v.Resources))
	}
	flagged := false
	for _, r := range v.Resources {
		flagged = flagged || r.Resigned || r.Promoting
	}
	if flagged {
		b = append(b, viewFlagged)
	} else {
		b = append(b, viewVersion)
	}
	b = binary.AppendUvarint(b, v.Seq)
	b = binary.AppendUvarint(b, uint64(len(v.Peers)))
	for _, p := range v.Peers {
		b = binary.BigEndian.AppendUint16(b, p.ID)
		b = append(b, stateCode(p.State))
		b = binary.AppendUvarint(b, uint64(max(p.For, 0).Milliseconds()))
		b = binary.AppendUvarint(b, p.Echo)
	}
	b = binary.AppendUvarint(b, uint64(len(v.Resources)))
	for _, r := range v.Resources {
		if len(r.Name) == 0 || len(r.Name) > maxNameLen {
			return b, fmt.Errorf("failover view: resource name %q: length must be 1..%d", r.Name, maxNameLen)
		}
		b = append(b, byte(len(r.Name)))
		b = append(b, r.Name...)
		b = binary.AppendUvarint(b, uint64(r.Epoch))
		b = binary.BigEndian.AppendUint16(b, r.Primary)
		if !flagged {
			continue
		}
		var f byte
		if r.Resigned {
			f |= flagResigned
		}
		if r.Promoting {
			f |= flagPromote
		}
		b = append(b, f)
		if r.Resigned {
			b = binary.AppendUvarint(b, uint64(max(r.DownFor, 0).Milliseconds()))
		}
	}
	return b, nil
}

var errShort = errors.New("failover view: truncated")

// DecodeView decodes a whole view; anything malformed is an error.
func DecodeView(b []byte) (View, error) {
	var v View
	d := decoder{b: b}
	ver := d.byte()
	if d.err == nil && ver != viewVersion && ver != viewFlagged {
		return v, fmt.Errorf("failover view: version %d, want %d or %d", ver, viewVersion, viewFlagged)
	}
	v.Seq = d.uvarint()
	n := d.count(maxViewPeers)
	for i := 0; i < n && d.err == nil; i++ {
		p := PeerView{ID: d.uint16()}
		c := d.byte()
		if int(c) >= len(stateCodes) || c == 0 {
			d.fail(fmt.Errorf("failover view: peer %d: bad state %d", p.ID, c))
			break
		}
		p.State = stateCodes[c]
		p.For = d.duration(fmt.Sprintf("peer %d", p.ID))
		p.Echo = d.uvarint()
		v.Peers = append(v.Peers, p)
	}
	n = d.count(maxViewRes)
	for i := 0; i < n && d.err == nil; i++ {
		l := int(d.byte())
		name := d.bytes(l)
		if d.err == nil && l == 0 {
			d.fail(errors.New("failover view: empty resource name"))
		}
		e := d.uvarint()
		if e > 1<<32-1 {
			d.fail(fmt.Errorf("failover view: resource %q: epoch %d", name, e))
		}
		r := ResourceView{Name: string(name), Epoch: uint32(e), Primary: d.uint16()}
		if ver == viewFlagged {
			f := d.byte()
			if f&^(flagResigned|flagPromote) != 0 {
				d.fail(fmt.Errorf("failover view: resource %q: unknown flags %#x", name, f))
			}
			r.Resigned, r.Promoting = f&flagResigned != 0, f&flagPromote != 0
			if r.Resigned {
				r.DownFor = d.duration(fmt.Sprintf("resource %q", name))
			}
		}
		v.Resources = append(v.Resources, r)
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("failover view: %d bytes after the end", len(d.b)))
	}
	if d.err != nil {
		return View{}, d.err
	}
	return v, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uint16() uint16 {
	if d.err != nil || len(d.b) < 2 {
		d.fail(errShort)
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// duration reads milliseconds (at most a year).
func (d *decoder) duration(what string) time.Duration {
	ms := d.uvarint()
	if d.err == nil && ms > uint64(365*24*time.Hour/time.Millisecond) {
		d.fail(fmt.Errorf("failover view: %s: duration %d ms", what, ms))
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.fail(errShort)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) count(limit int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(limit) {
		d.fail(fmt.Errorf("failover view: %d entries, at most %d", n, limit))
		return 0
	}
	return int(n)
}
