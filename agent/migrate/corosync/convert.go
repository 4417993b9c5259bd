package corosync

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tether-ha/tether/agent/migrate"
)

// Options are what the conversion needs besides the file.
type Options struct {
	// Node names the node to write the configuration for: its corosync
	// name, its tether name or its nodeid. "" finds it: the node with a
	// ring address of this host (InterfaceOf), else the node named like
	// Hostname (corosync's own rule).
	Node string
	// ClusterID is tether's cluster id when SetClusterID; otherwise it is
	// derived from cluster_name (DeriveClusterID).
	ClusterID    uint16
	SetClusterID bool
	// KeyFile is the cluster key file the configuration names.
	KeyFile string
	// InterfaceOf returns the name of this host's interface holding addr,
	// or "" when no interface holds it. It is the only view of the host
	// the conversion has (the CLI builds it on netlink), so tests fake
	// it. nil: no address is this host's.
	InterfaceOf func(addr netip.Addr) string
	// Hostname is this host's name, "" if unknown.
	Hostname string
}

// DefaultKeyFile is the key file named when Options.KeyFile is empty.
const DefaultKeyFile = "/etc/tether/cluster.key"

// Error is a corosync.conf that cannot be converted.
type Error struct {
	File string
	Line int // 0: the file as a whole
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// ParseAndConvert parses data (the file at path name) and converts it.
func ParseAndConvert(data []byte, name string, o Options) (*migrate.Draft, error) {
	f, err := Parse(data, name)
	if err != nil {
		return nil, err
	}
	return Convert(f, o)
}

// Convert writes the tether configuration of one node of the cluster f
// describes. It reads nothing but f and o: every node that converts the
// same file gets the same cluster, nodes, networks and timers.
func Convert(f *File, o Options) (*migrate.Draft, error) {
	c := &converter{f: f, o: o, used: map[*Item]bool{}}
	if c.o.KeyFile == "" {
		c.o.KeyFile = DefaultKeyFile
	}
	if c.o.InterfaceOf == nil {
		c.o.InterfaceOf = func(netip.Addr) string { return "" }
	}
	d, err := c.convert()
	if err != nil {
		return nil, err
	}
	// What is written must be what tetherd takes: a conversion that
	// produced anything else is a bug, and must not reach a node.
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("the converted configuration does not validate (a bug, please report it with the corosync.conf): %w", err)
	}
	return d, nil
}

// converter is one conversion: the file, the items it has used (all
// others become Notes) and the Notes so far.
type converter struct {
	f     *File
	o     Options
	used  map[*Item]bool
	notes []note

	totem     []*Section // every totem { } (corosync merges them)
	transport string     // knet, udpu or udp
}

// note is a Note and the line it is about (0: the whole file), for sorting.
type note struct {
	line int
	text string
}

func (c *converter) notef(line int, format string, args ...any) {
	c.notes = append(c.notes, note{line, fmt.Sprintf(format, args...)})
}

func (c *converter) errorf(line int, format string, args ...any) error {
	return &Error{File: c.f.Name, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (c *converter) convert() (*migrate.Draft, error) {
	c.totem = sections(c.f.Root, "totem")
	if err := c.readTransport(); err != nil {
		return nil, err
	}
	nodes, err := c.readNodes()
	if err != nil {
		return nil, err
	}
	links, err := c.readLinks(nodes)
	if err != nil {
		return nil, err
	}
	self, err := c.findSelf(nodes)
	if err != nil {
		return nil, err
	}
	nets, err := c.networks(links, self)
	if err != nil {
		return nil, err
	}
	d := &migrate.Draft{
		KeyFile:  c.o.KeyFile,
		NodeID:   self.id,
		NodeName: self.name,
		Networks: nets,
	}
	for _, n := range nodes {
		mn := migrate.Node{ID: n.id, Name: n.name, Addresses: map[string]string{}}
		for _, l := range links {
			mn.Addresses[l.name] = n.addrs[l.number].String()
		}
		d.Nodes = append(d.Nodes, mn)
	}
	slices.SortFunc(d.Nodes, func(a, b migrate.Node) int { return int(a.ID) - int(b.ID) })
	d.Timers, err = c.timers(links, nodes)
	if err != nil {
		return nil, err
	}
	c.cluster(d, nodes)
	c.totemNotes()
	c.quorumNote(len(nodes))
	c.leftovers()
	slices.SortStableFunc(c.notes, func(a, b note) int { return a.line - b.line })
	for _, n := range c.notes {
		where := c.f.Name
		if n.line > 0 {
			where = fmt.Sprintf("%s:%d", c.f.Name, n.line)
		}
		d.Notes = append(d.Notes, migrate.Note{Where: printable(where), Text: printable(n.text)})
	}
	d.Sources = []string{printable(c.f.Name)}
	return d, nil
}

// printable is s fit for a YAML comment line, which is where Notes end
// up: valid UTF-8 that YAML reads, without line breaks (a value holding a
// CR or U+2028 would otherwise end the comment and inject its remainder
// into the configuration). Anything else is written as a \x or \u escape.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == '\t' || (r >= 0x20 && r <= 0x7e) || (r >= 0xa0 && r <= 0xd7ff && r != 0x2028 && r != 0x2029) ||
			(r >= 0xe000 && r <= 0xfffd && r != 0xfeff) || r >= 0x10000:
			b.WriteString(s[i : i+n])
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
		i += n
	}
	return b.String()
}

// readTransport checks totem.transport: knet (the default), udpu or udp,
// as corosync accepts.
func (c *converter) readTransport() error {
	c.transport = "knet"
	it := c.value(c.totem, "transport")
	if it == nil {
		return nil
	}
	switch it.Value {
	case "knet":
	case "udpu":
		c.notef(it.Line, "transport udpu: corosync's unicast UDP transport; tether's tcp channel carries the heartbeats over unicast IP the same way (one network per ring)")
	case "udp":
		c.notef(it.Line, "transport udp: corosync's multicast transport; tether sends no multicast: its tcp channel connects to every node's address on each network")
	default:
		return c.errorf(it.Line, "totem.transport %q: corosync knows knet, udpu and udp", it.Value)
	}
	c.transport = it.Value
	return nil
}

// sections returns the subsections of s named name, in file order.
func sections(s *Section, name string) []*Section {
	var out []*Section
	for _, it := range s.Items {
		if it.Section != nil && it.Key == name {
			out = append(out, it.Section)
		}
	}
	return out
}

// value returns the last item key of the sections ss (corosync keeps the
// last value of a key given twice), or nil. Every occurrence is used; a
// key given more than once is noted.
func (c *converter) value(ss []*Section, key string) *Item {
	var all []*Item
	for _, s := range ss {
		for _, it := range s.Items {
			if it.Section == nil && it.Key == key {
				all = append(all, it)
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	for _, it := range all {
		c.used[it] = true
	}
	last := all[len(all)-1]
	if len(all) > 1 {
		c.notef(last.Line, "%s is given %d times (also line %s): corosync uses the last, and so does this import",
			key, len(all), joinLines(all[:len(all)-1]))
	}
	return last
}

// number returns the value of key as corosync reads that key (an unsigned
// integer up to max), and whether it is given.
func (c *converter) number(ss []*Section, key string, max uint64) (uint64, *Item, error) {
	it := c.value(ss, key)
	if it == nil {
		return 0, nil, nil
	}
	n, ok := parseUint(it.Value, max)
	if !ok {
		return 0, it, c.errorf(it.Line, "%s: %q is not a whole number from 0 to %d (corosync refuses it too)", key, it.Value, max)
	}
	return n, it, nil
}
