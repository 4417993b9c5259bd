package llttab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLines bounds what is parsed: an llttab is a few dozen lines, so a
// huge input is not one (and must not make the importer slow).
const maxLines = 10000

// Tab is a parsed llttab: its directives, checked for syntax, with their
// lines. Meaning (which node, which interface) is Convert's.
type Tab struct {
	File    string
	SetNode *Directive // nil when absent
	Cluster *Cluster   // nil when absent
	Links   []Link
	Addrs   []Addr
	Timers  []TimerSetting
	Ranges  []Range     // include and exclude, in file order
	Flags   []Flag      // set-bcasthb, set-arp
	Other   []Directive // directives with no tether equivalent, and unknown ones
}

// Directive is one line: its first word and the others.
type Directive struct {
	Line int
	Name string
	Args []string
}

// Text is the directive as written (without comment or extra blanks).
func (d Directive) Text() string {
	return strings.Join(append([]string{d.Name}, d.Args...), " ")
}

// Cluster is set-cluster.
type Cluster struct {
	Line int
	ID   uint16
}

// Link types (llttab(4) link's fourth field).
const (
	TypeEther = "ether"
	TypeUDP   = "udp"
	TypeUDP6  = "udp6"
	TypeRDMA  = "rdma" // LLT over RDMA: an IP link like udp
)

// Link is a link or link-lowpri line:
//
//	link TAG DEVICE NODE-RANGE TYPE SAP MTU            (ether)
//	link TAG DEVICE NODE-RANGE TYPE PORT MTU IP BCAST  (udp, udp6, rdma)
type Link struct {
	Line   int
	Lowpri bool
	Tag    string
	Device string
	Nodes  string // node range; "-": every node
	Type   string
	SAP    int        // ether: EtherType; udp: port; -1 for "-"
	MTU    int        // -1 for "-"
	IP     netip.Addr // udp: this node's address on the link
	Bcast  string     // udp: broadcast (udp6: multicast) address, "-" when none
}

// IsIP reports whether the link runs over IP (udp, udp6, rdma).
func (l Link) IsIP() bool { return l.Type != TypeEther }

// Addr is set-addr NODE TAG ADDRESS: a peer's address on a link (an IP on
// a UDP link; on an ether link, a static MAC).
type Addr struct {
	Line int
	Node string // id or name, as written
	Tag  string
	IP   netip.Addr       // valid when the address is an IP
	MAC  net.HardwareAddr // non-nil when it is a MAC
}

// TimerSetting is one name:value of set-timer, in 1/100 s.
type TimerSetting struct {
	Line  int
	Name  string
	Value int
}

// Range is an include or exclude of node ids Low..High.
type Range struct {
	Line      int
	Exclude   bool
	Low, High int
}

// Flag is set-bcasthb or set-arp with its 0 or 1.
type Flag struct {
	Line int
	Name string
	On   bool
}

// ParseLLTTab parses an llttab. Comments (from a word starting with #) and
// blank lines are ignored. It returns every syntax error found, joined.
func ParseLLTTab(data []byte, file string) (*Tab, error) {
	t := &Tab{File: file}
	p := &parser{file: file}
	lines := splitLines(data)
	if len(lines) > maxLines {
		return nil, &Error{File: file, Msg: fmt.Sprintf("%d lines: not an llttab (at most %d)", len(lines), maxLines)}
	}
	for i, raw := range lines {
		if !p.text(i+1, raw) {
			continue
		}
		words := fields(raw)
		if len(words) == 0 {
			continue
		}
		p.directive(t, Directive{Line: i + 1, Name: words[0], Args: words[1:]})
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// splitLines splits a file into lines, without a leading byte order mark.
func splitLines(data []byte) []string {
	return strings.Split(strings.TrimPrefix(string(data), "\uFEFF"), "\n")
}

// text checks that a line is printable UTF-8 text (tabs and the CR of CRLF
// files allowed): llttab and llthosts are text files, and what they hold
// is quoted in the YAML's comments.
func (p *parser) text(line int, s string) bool {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r != '\t' && r != '\r' && !unicode.IsPrint(r) }) {
		return true
	}
	p.failf(line, "the line holds a control character or is not UTF-8: not a text file")
	return false
}

// fields splits a line into words, dropping a comment: everything from a
// word that starts with '#'.
func fields(line string) []string {
	words := strings.Fields(line)
	for i, w := range words {
		if strings.HasPrefix(w, "#") {
			return words[:i]
		}
	}
	return words
}

// parser collects errors of one file.
type parser struct {
	file string
	errs []error
}

func (p *parser) failf(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) err() error { return errors.Join(p.errs...) }

func (p *parser) directive(t *Tab, d Directive) {
	switch d.Name {
	case "set-node":
		if !p.nargs(d, 1, "set-node NAME|ID|FILE") {
			return
		}
		if t.SetNode != nil {
			p.failf(d.Line, "set-node is given twice (first at line %d)", t.SetNode.Line)
			return
		}
		t.SetNode = &d
	case "set-cluster":
		if !p.nargs(d, 1, "set-cluster ID") {
			return
		}
		if t.Cluster != nil {
			p.failf(d.Line, "set-cluster is given twice (first at line %d)", t.Cluster.Line)
			return
		}
		id, err := strconv.ParseUint(d.Args[0], 10, 16)
		if err != nil {
			p.failf(d.Line, "set-cluster %s: the cluster id must be a number from 0 to 65535", d.Args[0])
			return
		}
		t.Cluster = &Cluster{Line: d.Line, ID: uint16(id)}
	case "link", "link-lowpri":
		if l, ok := p.link(d); ok {
			t.Links = append(t.Links, l)
		}
	case "set-addr":
		if a, ok := p.addr(d); ok {
			t.Addrs = append(t.Addrs, a)
		}
	case "set-timer":
		p.timers(t, d)
	case "include", "exclude":
		p.ranges(t, d)
	case "set-bcasthb", "set-arp":
		if !p.nargs(d, 1, d.Name+" 0|1") {
			return
		}
		if v := d.Args[0]; v != "0" && v != "1" {
			p.failf(d.Line, "%s %s: want 0 or 1", d.Name, v)
			return
		}
		t.Flags = append(t.Flags, Flag{Line: d.Line, Name: d.Name, On: d.Args[0] == "1"})
	default:
		t.Other = append(t.Other, d)
	}
}

// nargs checks that d has n arguments; usage is its syntax for the error.
func (p *parser) nargs(d Directive, n int, usage string) bool {
	if len(d.Args) != n {
		p.failf(d.Line, "%s takes %d argument(s), got %d: the syntax is %q", d.Name, n, len(d.Args), usage)
		return false
	}
	return true
}

func (p *parser) link(d Directive) (Link, bool) {
	const etherSyntax = "TAG DEVICE NODE-RANGE ether SAP MTU"
	const ipSyntax = "TAG DEVICE NODE-RANGE udp|udp6 PORT MTU IP BCAST"
	a := d.Args
	if len(a) < 6 {
		p.failf(d.Line, "%s needs at least 6 fields (%s %s, or %s %s), got %d", d.Name, d.Name, etherSyntax, d.Name, ipSyntax, len(a))
		return Link{}, false
	}
	l := Link{Line: d.Line, Lowpri: d.Name == "link-lowpri", Tag: a[0], Device: a[1], Nodes: a[2], Type: a[3], Bcast: "-"}
	ok := true
	if err := checkName(l.Tag); err != nil {
		p.failf(d.Line, "link tag %q: %v (the tag becomes the tether network's name)", l.Tag, err)
		ok = false
	}
	if l.Nodes != "-" {
		if _, _, err := parseRange(l.Nodes); err != nil {
			p.failf(d.Line, "node range %q: %v", l.Nodes, err)
			ok = false
		}
	}
	switch l.Type {
	case TypeEther:
		if len(a) != 6 {
			p.failf(d.Line, "an ether link has 6 fields (%s %s), got %d", d.Name, etherSyntax, len(a))
			return l, false
		}
		sap, err := parseSAP(a[4])
		if err != nil {
			p.failf(d.Line, "SAP %q: %v", a[4], err)
			ok = false
		}
		l.SAP = sap
	case TypeUDP, TypeUDP6, TypeRDMA:
		if len(a) < 7 || len(a) > 8 {
			p.failf(d.Line, "a %s link has 7 or 8 fields (%s %s), got %d", l.Type, d.Name, ipSyntax, len(a))
			return l, false
		}
		port, err := parseDash(a[4], 1, 65535)
		if err != nil {
			p.failf(d.Line, "UDP port %q: %v", a[4], err)
			ok = false
		}
		l.SAP = port
		ip, err := netip.ParseAddr(a[6])
		switch {
		case err != nil:
			p.failf(d.Line, "%q is not an IP address: a %s link's 7th field is this node's address on it", a[6], l.Type)
			ok = false
		case ip.Zone() != "" || !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast():
			p.failf(d.Line, "%s: want this node's unicast address, without a zone", a[6])
			ok = false
		case l.Type == TypeUDP && !ip.Is4():
			p.failf(d.Line, "%s is not an IPv4 address, as a udp link needs (udp6 is LLT over IPv6)", a[6])
			ok = false
		case l.Type == TypeUDP6 && !ip.Is6():
			p.failf(d.Line, "%s is not an IPv6 address, as a udp6 link needs", a[6])
			ok = false
		}
		l.IP = ip
		if len(a) == 8 {
			l.Bcast = a[7]
			if _, err := netip.ParseAddr(l.Bcast); err != nil && l.Bcast != "-" {
				p.failf(d.Line, "%q is not an address: the 8th field is the broadcast (udp6: multicast) address, or -", l.Bcast)
				ok = false
			}
		}
	default:
		p.failf(d.Line, "unknown link type %q: LLT's types are ether, udp, udp6 and rdma", l.Type)
		return l, false
	}
	mtu, err := parseDash(a[5], 1, 1<<20)
	if err != nil {
		p.failf(d.Line, "MTU %q: %v", a[5], err)
		ok = false
	}
	l.MTU = mtu
	return l, ok
}

// parseSAP is an ether link's SAP: "-" (-1) or a hexadecimal EtherType,
// with or without 0x, as llttab(4) writes it (0xCAFE).
func parseSAP(s string) (int, error) {
	if s == "-" {
		return -1, nil
	}
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	v, err := strconv.ParseUint(h, 16, 16)
	if err != nil || h == "" {
		return 0, errors.New("want - or a hexadecimal EtherType such as 0xCAFE")
	}
	return int(v), nil
}

// parseDash is "-" (-1) or a decimal number from lo to hi.
func parseDash(s string, lo, hi int) (int, error) {
	if s == "-" {
		return -1, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("want - or a number from %d to %d", lo, hi)
	}
	return v, nil
}

func (p *parser) addr(d Directive) (Addr, bool) {
	if !p.nargs(d, 3, "set-addr NODE-ID TAG ADDRESS") {
		return Addr{}, false
	}
	a := Addr{Line: d.Line, Node: d.Args[0], Tag: d.Args[1]}
	s := d.Args[2]
	if ip, err := netip.ParseAddr(s); err == nil {
		if ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() {
			p.failf(d.Line, "set-addr %s: want the node's unicast address, without a zone", s)
			return a, false
		}
		a.IP = ip
		return a, true
	}
	if mac, err := net.ParseMAC(s); err == nil {
		a.MAC = mac
		return a, true
	}
	p.failf(d.Line, "set-addr %s: not an IP address (UDP links) nor a MAC address (ether links)", s)
	return a, false
}

func (p *parser) timers(t *Tab, d Directive) {
	if len(d.Args) == 0 {
		p.failf(d.Line, "set-timer needs a NAME:VALUE (e.g. set-timer peerinact:1600, in 1/100 s)")
		return
	}
	for _, arg := range d.Args {
		name, val, found := strings.Cut(arg, ":")
		v, err := strconv.Atoi(val)
		if !found || name == "" || err != nil || v < 0 {
			p.failf(d.Line, "set-timer %s: want NAME:VALUE with VALUE a whole number of 1/100 s (e.g. peerinact:1600)", arg)
			continue
		}
		t.Timers = append(t.Timers, TimerSetting{Line: d.Line, Name: name, Value: v})
	}
}

func (p *parser) ranges(t *Tab, d Directive) {
	if len(d.Args) == 0 {
		p.failf(d.Line, "%s needs a node range (e.g. %s 2-31)", d.Name, d.Name)
		return
	}
	for _, arg := range d.Args {
		lo, hi, err := parseRange(arg)
		if err != nil {
			p.failf(d.Line, "%s %s: %v", d.Name, arg, err)
			continue
		}
		t.Ranges = append(t.Ranges, Range{Line: d.Line, Exclude: d.Name == "exclude", Low: lo, High: hi})
	}
}

// parseRange is "N" or "LOW-HIGH" of node ids.
func parseRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || lo < 0 || hi < lo {
		return 0, 0, errors.New("want a node id or a range LOW-HIGH of ids (e.g. 2-31)")
	}
	return lo, hi, nil
}
