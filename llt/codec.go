package llt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"
)

// Wire layout, version 2, big-endian:
//
//	off len field
//	0   2   magic "TH"
//	2   1   version
//	3   1   type (1 heartbeat, 2 shutdown, 3 message, 4 claim)
//	4   1   flags (bit 0: MTU probe, padded to the network's MTU; bit 1: a copy of the previous
//	        frame; bit 2: the previous frame was a padded probe; others 0)
//	5   1   session state
//	6   1   diag
//	7   1   network name length (1..32)
//	8   2   cluster id
//	10  2   source node id
//	12  2   destination node id (0xFFFF broadcast)
//	14  4   heartbeat interval, µs
//	18  4   peerinact, µs
//	22  8   incarnation
//	30  8   sequence
//	38  8   send timestamp, ns
//	46  8   echo incarnation
//	54  8   echo sequence
//	62  8   echo timestamp
//	70  4   echo hold, µs
//	74  8   probe ack: sequence of the newest MTU probe received from the destination
//	82  1   vector entry count (0..8)
//	83  2   payload length
//	85  2   pad length
//	87  ..  network name
//	..  ..  vector entries: name length, name, state, reason, flags, loss (% or 255)
//	..  ..  payload, then pad (zero bytes)
//	..  4   key id
//	..  16  HMAC-SHA256(key, everything before the tag), truncated
//
// Version 1 had neither the probe ack nor the loss byte.
const (
	magic0, magic1 = 'T', 'H'

	vecHearsYou = 1 << 0
	vecCarrier  = 1 << 1
)

// ErrorKind classifies decode failures; its String is the counter label.
type ErrorKind uint8

// Decode error kinds.
const (
	ErrKindTruncated  ErrorKind = iota + 1 // shorter than its header says
	ErrKindBadMagic                        // not a tether frame
	ErrKindBadVersion                      // a protocol version we do not speak
	ErrKindMalformed                       // a field out of range, trailing bytes
	ErrKindUnknownKey                      // signed with a key we do not have
	ErrKindBadTag                          // authentication failed: forged or corrupted
)

func (k ErrorKind) String() string {
	switch k {
	case ErrKindTruncated:
		return "truncated"
	case ErrKindBadMagic:
		return "bad-magic"
	case ErrKindBadVersion:
		return "bad-version"
	case ErrKindMalformed:
		return "malformed"
	case ErrKindUnknownKey:
		return "unknown-key"
	case ErrKindBadTag:
		return "bad-tag"
	}
	return "unknown"
}

// DecodeError is the error Decode returns. errors.Is matches it against the
// Err* sentinels by kind.
type DecodeError struct {
	Kind   ErrorKind
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return "llt: " + e.Kind.String() + " frame"
	}
	return "llt: " + e.Kind.String() + " frame: " + e.Detail
}

// Is reports whether target is a DecodeError of the same kind.
func (e *DecodeError) Is(target error) bool {
	t, ok := target.(*DecodeError)
	return ok && t.Kind == e.Kind
}

// Sentinels for errors.Is.
var (
	ErrTruncated  = &DecodeError{Kind: ErrKindTruncated}
	ErrBadMagic   = &DecodeError{Kind: ErrKindBadMagic}
	ErrBadVersion = &DecodeError{Kind: ErrKindBadVersion}
	ErrMalformed  = &DecodeError{Kind: ErrKindMalformed}
	ErrUnknownKey = &DecodeError{Kind: ErrKindUnknownKey}
	ErrBadTag     = &DecodeError{Kind: ErrKindBadTag}
)

// IsAuthError reports whether err means the frame was well formed but not
// authentic (unknown key or bad tag); the header fields Decode filled in are
// then the sender's unverified claims.
func IsAuthError(err error) bool {
	return errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrBadTag)
}

func decodeErr(k ErrorKind, format string, args ...any) error {
	return &DecodeError{Kind: k, Detail: fmt.Sprintf(format, args...)}
}

// Key sizes.
const (
	MinKeyLen = 16
	MaxKeyLen = 64
)

// Keyring holds the cluster keys: slot 0 signs outgoing frames, both slots
// verify incoming ones, so a key can be rotated without a flap. A Keyring is
// immutable and may be shared.
type Keyring struct {
	ids  [2]uint32
	keys [2][]byte
	n    int
}

// NewKeyring builds a keyring from one or two keys; the first signs.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) < 1 || len(keys) > 2 {
		return nil, fmt.Errorf("llt: need 1 or 2 keys, got %d", len(keys))
	}
	kr := &Keyring{n: len(keys)}
	for i, k := range keys {
		if len(k) < MinKeyLen || len(k) > MaxKeyLen {
			return nil, fmt.Errorf("llt: key %d is %d bytes, want %d..%d", i+1, len(k), MinKeyLen, MaxKeyLen)
		}
		kr.keys[i] = append([]byte(nil), k...)
		kr.ids[i] = KeyID(k)
	}
	if kr.n == 2 && kr.ids[0] == kr.ids[1] {
		return nil, errors.New("llt: the two keys are the same")
	}
	return kr, nil
}

// KeyID is the public 32-bit id of a key: frames carry it so the receiver
// picks the right slot and an operator can tell which key a node uses.
func KeyID(key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte("tether key id v1\x00"))
	h.Write(key)
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint32(h.Sum(sum[:0]))
}

// IDs returns the ids of the loaded keys, the signing key first.
func (k *Keyring) IDs() []uint32 { return append([]uint32(nil), k.ids[:k.n]...) }

// Codec encodes, signs, verifies and decodes frames. It keeps scratch hash
// state, so a Codec must not be used by two goroutines at once: give each
// goroutine its own (they can share one Keyring).
type Codec struct {
	ring  *Keyring
	macs  [2]hash.Hash
	sum   [sha256.Size]byte
	names map[string]string // interned network names: decoding them does not allocate
}

// NewCodec returns a codec for ring. names are network names to intern.
func NewCodec(ring *Keyring, names ...string) *Codec {
	c := &Codec{ring: ring, names: make(map[string]string, len(names))}
	for i := 0; i < ring.n; i++ {
		c.macs[i] = hmac.New(sha256.New, ring.keys[i])
	}
	for _, n := range names {
		c.names[n] = n
	}
	return c
}

// Keyring returns the codec's keys.
func (c *Codec) Keyring() *Keyring { return c.ring }

func (c *Codec) tag(slot int, b []byte) []byte {
	m := c.macs[slot]
	m.Reset()
	m.Write(b)
	return m.Sum(c.sum[:0])[:TagLen]
}

// Append encodes f, signs it with the send key and appends it to dst.
func (c *Codec) Append(dst []byte, f *Frame) ([]byte, error) {
	if err := checkEncodable(f); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, magic0, magic1, Version, byte(f.Type), f.Flags, byte(f.State), byte(f.Diag), byte(len(f.Network)))
	dst = binary.BigEndian.AppendUint16(dst, f.Cluster)
	dst = binary.BigEndian.AppendUint16(dst, uint16(f.Src))
	dst = binary.BigEndian.AppendUint16(dst, uint16(f.Dst))
	dst = binary.BigEndian.AppendUint32(dst, durMicros(f.Heartbeat))
	dst = binary.BigEndian.AppendUint32(dst, durMicros(f.PeerInact))
	dst = binary.BigEndian.AppendUint64(dst, f.Incarnation)
	dst = binary.BigEndian.AppendUint64(dst, f.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.Timestamp))
	dst = binary.BigEndian.AppendUint64(dst, f.Echo.Incarnation)
	dst = binary.BigEndian.AppendUint64(dst, f.Echo.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.Echo.Timestamp))
	dst = binary.BigEndian.AppendUint32(dst, durMicros(f.Echo.Hold))
	dst = binary.BigEndian.AppendUint64(dst, f.ProbeAck)
	dst = append(dst, byte(len(f.Vector)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.Payload)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(f.Pad))
	dst = append(dst, f.Network...)
	for i := range f.Vector {
		v := &f.Vector[i]
		var fl byte
		if v.HearsYou {
			fl |= vecHearsYou
		}
		if v.Carrier {
			fl |= vecCarrier
		}
		dst = append(dst, byte(len(v.Network)))
		dst = append(dst, v.Network...)
		dst = append(dst, byte(v.State), byte(v.Reason), fl, v.Loss)
	}
	dst = append(dst, f.Payload...)
	for i := 0; i < f.Pad; i++ {
		dst = append(dst, 0)
	}
	dst = binary.BigEndian.AppendUint32(dst, c.ring.ids[0])
	dst = append(dst, c.tag(0, dst[start:])...)
	return dst, nil
}

func checkEncodable(f *Frame) error {
	switch {
	case f.Type == 0 || f.Type > maxFrameType:
		return fmt.Errorf("llt: cannot encode frame type %d", f.Type)
	case f.Flags&^knownFlags != 0:
		return fmt.Errorf("llt: cannot encode flags %#02x", f.Flags)
	case f.State < SessionDown || f.State > SessionUp:
		return fmt.Errorf("llt: cannot encode session state %d", f.State)
	case !validName(f.Network):
		return fmt.Errorf("llt: cannot encode network name %q", f.Network)
	case len(f.Vector) > MaxVector:
		return fmt.Errorf("llt: link vector has %d entries, max %d", len(f.Vector), MaxVector)
	case len(f.Payload) > MaxPayload:
		return fmt.Errorf("llt: payload of %d bytes, max %d", len(f.Payload), MaxPayload)
	case f.Pad < 0 || f.Pad > MaxPad:
		return fmt.Errorf("llt: pad of %d bytes, max %d", f.Pad, MaxPad)
	case f.Incarnation == 0:
		return errors.New("llt: cannot encode incarnation 0")
	case f.Timestamp < 0 || f.Echo.Timestamp < 0:
		return errors.New("llt: cannot encode a negative timestamp")
	}
	for i := range f.Vector {
		v := &f.Vector[i]
		if !validName(v.Network) || v.State < LinkDown || v.State > LinkUp || !v.Reason.Valid() || !validLoss(v.Loss) {
			return fmt.Errorf("llt: cannot encode link vector entry %d (%q %d %d)", i, v.Network, v.State, v.Reason)
		}
	}
	return nil
}

// Decode parses b into f and authenticates it. On an authentication error
// (see IsAuthError) f holds the frame's unverified fields, for diagnosis
// only; on any other error f is unspecified. f.Payload aliases b.
func (c *Codec) Decode(b []byte, f *Frame) error {
	if len(b) < 2 {
		return decodeErr(ErrKindTruncated, "%d bytes", len(b))
	}
	if b[0] != magic0 || b[1] != magic1 {
		return decodeErr(ErrKindBadMagic, "magic %#02x%02x", b[0], b[1])
	}
	if len(b) < 3 {
		return decodeErr(ErrKindTruncated, "%d bytes", len(b))
	}
	if b[2] != Version {
		return decodeErr(ErrKindBadVersion, "version %d", b[2])
	}
	if len(b) < MinFrameLen {
		return decodeErr(ErrKindTruncated, "%d bytes, minimum %d", len(b), MinFrameLen)
	}
	be := binary.BigEndian
	f.Type = FrameType(b[3])
	f.Flags = b[4]
	f.State = SessionState(b[5])
	f.Diag = Diag(b[6])
	nameLen := int(b[7])
	f.Cluster = be.Uint16(b[8:])
	f.Src = NodeID(be.Uint16(b[10:]))
	f.Dst = NodeID(be.Uint16(b[12:]))
	f.Heartbeat = time.Duration(be.Uint32(b[14:])) * time.Microsecond
	f.PeerInact = time.Duration(be.Uint32(b[18:])) * time.Microsecond
	f.Incarnation = be.Uint64(b[22:])
	f.Seq = be.Uint64(b[30:])
	f.Timestamp = int64(be.Uint64(b[38:]))
	f.Echo.Incarnation = be.Uint64(b[46:])
	f.Echo.Seq = be.Uint64(b[54:])
	f.Echo.Timestamp = int64(be.Uint64(b[62:]))
	f.Echo.Hold = time.Duration(be.Uint32(b[70:])) * time.Microsecond
	f.ProbeAck = be.Uint64(b[74:])
	nvec := int(b[82])
	payLen := int(be.Uint16(b[83:]))
	f.Pad = int(be.Uint16(b[85:]))

	switch {
	case f.Type == 0 || f.Type > maxFrameType:
		return decodeErr(ErrKindMalformed, "frame type %d", f.Type)
	case f.Flags&^knownFlags != 0:
		return decodeErr(ErrKindMalformed, "reserved flags %#02x", f.Flags)
	case f.State < SessionDown || f.State > SessionUp:
		return decodeErr(ErrKindMalformed, "session state %d", f.State)
	case nameLen == 0 || nameLen > MaxNameLen:
		return decodeErr(ErrKindMalformed, "network name length %d", nameLen)
	case nvec > MaxVector:
		return decodeErr(ErrKindMalformed, "%d link vector entries", nvec)
	case f.Incarnation == 0:
		return decodeErr(ErrKindMalformed, "incarnation 0")
	case f.Timestamp < 0 || f.Echo.Timestamp < 0:
		return decodeErr(ErrKindMalformed, "negative timestamp")
	case payLen > MaxPayload || f.Pad > MaxPad:
		// Decode accepts exactly what Append can produce.
		return decodeErr(ErrKindMalformed, "payload %d / pad %d bytes, max %d / %d", payLen, f.Pad, MaxPayload, MaxPad)
	}

	body := b[:len(b)-trailerLen] // everything the tag covers but the key id
	off := headerLen
	if off+nameLen > len(body) {
		return decodeErr(ErrKindTruncated, "network name")
	}
	name, ok := c.name(b[off : off+nameLen])
	if !ok {
		return decodeErr(ErrKindMalformed, "network name %q", b[off:off+nameLen])
	}
	f.Network = name
	off += nameLen
	f.Vector = f.Vector[:0]
	for i := 0; i < nvec; i++ {
		if off >= len(body) {
			return decodeErr(ErrKindTruncated, "link vector entry %d", i)
		}
		n := int(body[off])
		if off+1+n+vectorFixedLen-1 > len(body) {
			return decodeErr(ErrKindTruncated, "link vector entry %d", i)
		}
		vname, ok := c.name(body[off+1 : off+1+n])
		if !ok || n == 0 {
			return decodeErr(ErrKindMalformed, "link vector entry %d: network name %q", i, body[off+1:off+1+n])
		}
		st, rs, fl, loss := LinkState(body[off+1+n]), Reason(body[off+2+n]), body[off+3+n], body[off+4+n]
		if st < LinkDown || st > LinkUp {
			return decodeErr(ErrKindMalformed, "link vector entry %d: state %d", i, st)
		}
		if fl&^(vecHearsYou|vecCarrier) != 0 {
			return decodeErr(ErrKindMalformed, "link vector entry %d: reserved flags %#02x", i, fl)
		}
		if !rs.Valid() {
			return decodeErr(ErrKindMalformed, "link vector entry %d: reason %d", i, rs)
		}
		if !validLoss(loss) {
			return decodeErr(ErrKindMalformed, "link vector entry %d: loss %d", i, loss)
		}
		f.Vector = append(f.Vector, VectorEntry{Network: vname, State: st, Reason: rs,
			HearsYou: fl&vecHearsYou != 0, Carrier: fl&vecCarrier != 0, Loss: loss})
		off += n + vectorFixedLen
	}
	if off+payLen+f.Pad > len(body) {
		return decodeErr(ErrKindTruncated, "payload %d + pad %d bytes", payLen, f.Pad)
	}
	if off+payLen+f.Pad < len(body) {
		return decodeErr(ErrKindMalformed, "%d trailing bytes", len(body)-off-payLen-f.Pad)
	}
	f.Payload = body[off : off+payLen : off+payLen]
	for _, p := range body[off+payLen:] {
		if p != 0 {
			return decodeErr(ErrKindMalformed, "non-zero padding")
		}
	}

	f.KeyID = be.Uint32(b[len(b)-trailerLen:])
	slot := -1
	for i := 0; i < c.ring.n; i++ {
		if c.ring.ids[i] == f.KeyID {
			slot = i
			break
		}
	}
	if slot < 0 {
		return decodeErr(ErrKindUnknownKey, "key id %08x", f.KeyID)
	}
	if !hmac.Equal(c.tag(slot, b[:len(b)-TagLen]), b[len(b)-TagLen:]) {
		return ErrBadTag // no detail: the header (f.Src, ...) is in f, and forged floods must stay cheap
	}
	return nil
}

// name returns b as a string, interned when it is a known network name.
func (c *Codec) name(b []byte) (string, bool) {
	if s, ok := c.names[string(b)]; ok {
		return s, true
	}
	s := string(b)
	return s, validName(s)
}

// validName reports whether s is a valid network name: 1..32 bytes of
// [A-Za-z0-9._-]. Names end up in logs and terminals, so nothing else.
func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

// validLoss reports whether b is a loss byte: a percentage or LossUnknown.
func validLoss(b uint8) bool { return b <= 100 || b == LossUnknown }

// ValidName reports whether s can be a network name on the wire.
func ValidName(s string) bool { return validName(s) }

func durMicros(d time.Duration) uint32 {
	us := d / time.Microsecond
	if us < 0 {
		return 0
	}
	if us > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(us)
}

// SendKeyID returns the id of the signing key.
func (k *Keyring) SendKeyID() uint32 { return k.ids[0] }

// Has reports whether the keyring holds the key with id.
func (k *Keyring) Has(id uint32) bool {
	for i := 0; i < k.n; i++ {
		if k.ids[i] == id {
			return true
		}
	}
	return false
}

// MAC returns HMAC-SHA256 under the key with id over label and parts, for
// protocols beside the frames (the TCP handshake). The label separates
// domains: it is prefixed with a length so no two (label, parts) inputs
// collide, and frames (which start with "TH") can never match it.
func (k *Keyring) MAC(id uint32, label string, parts ...[]byte) ([]byte, bool) {
	for i := 0; i < k.n; i++ {
		if k.ids[i] != id {
			continue
		}
		m := hmac.New(sha256.New, k.keys[i])
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(label)))
		m.Write([]byte{0xff})
		m.Write(n[:])
		m.Write([]byte(label))
		for _, p := range parts {
			binary.BigEndian.PutUint32(n[:], uint32(len(p)))
			m.Write(n[:])
			m.Write(p)
		}
		return m.Sum(nil), true
	}
	return nil, false
}
