package llttab

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/migrate"
)

// Convert turns a parsed llttab and llthosts into a tether configuration
// for the node set-node names. Every input problem is an *Error (all of
// them returned together, joined, in file and line order); a result that
// tether's own validation (config.Parse) refuses is ErrInvalidOutput.
func Convert(tab *Tab, hosts *Hosts, o Options) (*migrate.Draft, error) {
	o = o.withDefaults()
	c := &converter{o: o, tab: tab, hosts: hosts, d: &migrate.Draft{
		Sources: []string{tab.File, hosts.File},
		KeyFile: o.KeyFile,
	}}
	c.cluster()
	if self, ok := c.resolveSelf(); ok {
		c.nodes(self)
	}
	c.networks()
	c.timers()
	c.flags()
	c.others()
	c.generalNotes()
	if len(c.errs) > 0 {
		slices.SortStableFunc(c.errs, func(a, b *Error) int {
			return cmp.Or(cmp.Compare(c.rank(a.File), c.rank(b.File)), cmp.Compare(a.Line, b.Line))
		})
		errs := make([]error, len(c.errs))
		for i, e := range c.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(c.notes, func(a, b note) int {
		return cmp.Or(cmp.Compare(c.rank(a.file), c.rank(b.file)), cmp.Compare(a.line, b.line))
	})
	for _, n := range c.notes {
		w := ""
		if n.file != "" {
			w = where(n.file, n.line)
		}
		c.d.Notef(w, "%s", n.text)
	}
	slices.SortFunc(c.d.Nodes, func(a, b migrate.Node) int { return cmp.Compare(a.ID, b.ID) })
	// The importer's own checks should have refused whatever tether
	// refuses; this makes sure no bug of theirs reaches the operator.
	if err := c.d.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidOutput, err)
	}
	return c.d, nil
}

// converter holds one conversion's state.
type converter struct {
	o     Options
	tab   *Tab
	hosts *Hosts
	d     *migrate.Draft
	self  Host
	kept  map[uint16]bool // llthosts ids that become tether nodes
	notes []note
	errs  []*Error
}

// note is a Note before sorting: the llttab's first, then the llthosts',
// then those about the whole conversion (file "").
type note struct {
	file string
	line int
	text string
}

func (c *converter) rank(file string) int {
	switch file {
	case c.tab.File:
		return 0
	case c.hosts.File:
		return 1
	}
	return 2
}

func (c *converter) failf(file string, line int, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (c *converter) notef(file string, line int, format string, args ...any) {
	c.notes = append(c.notes, note{file: file, line: line, text: fmt.Sprintf(format, args...)})
}

// tabNote and tabFail are notef and failf on the llttab.
func (c *converter) tabNote(line int, format string, args ...any) {
	c.notef(c.tab.File, line, format, args...)
}

func (c *converter) tabFail(line int, format string, args ...any) {
	c.failf(c.tab.File, line, format, args...)
}

func (c *converter) cluster() {
	if c.tab.Cluster == nil {
		c.tabNote(0, "no set-cluster: LLT's default cluster id 0 is used as cluster.id")
		return
	}
	c.d.ClusterID = c.tab.Cluster.ID
}

// resolveSelf resolves set-node: a name or an id of llthosts, or a file holding
// one (LLT reads it, e.g. /etc/nodename; so does the importer, through
// Options.ReadFile).
func (c *converter) resolveSelf() (Host, bool) {
	sn := c.tab.SetNode
	if sn == nil {
		c.tabFail(0, "no set-node: the llttab must name this node (set-node NAME, or its id in llthosts)")
		return Host{}, false
	}
	v, from := sn.Args[0], ""
	if strings.HasPrefix(v, "/") {
		name, ok := c.readNodeFile(sn.Line, v)
		if !ok {
			return Host{}, false
		}
		v, from = name, sn.Args[0]
	}
	var h Host
	var found bool
	if id, err := strconv.ParseUint(v, 10, 16); err == nil {
		if h, found = c.hosts.ByID(int(id)); !found {
			c.tabFail(sn.Line, "set-node %s: node id %d is not in %s (this node must be listed there)", sn.Args[0], id, c.hosts.File)
		}
	} else if h, found = c.hosts.ByName(v); !found {
		c.tabFail(sn.Line, "set-node %s: unknown node name %q: %s names %s", sn.Args[0], v, c.hosts.File, c.hostNames())
	}
	if found && from != "" {
		c.tabNote(sn.Line, "set-node %s: this node is %s (id %d), as read from %s", from, h.Name, h.ID, from)
	}
	return h, found
}

func (c *converter) readNodeFile(line int, path string) (string, bool) {
	if c.o.ReadFile == nil {
		c.tabFail(line, "set-node %s: the node's name is in that file, which this import cannot read: give the name or id instead", path)
		return "", false
	}
	data, err := c.o.ReadFile(path)
	if err != nil {
		c.tabFail(line, "set-node %s: reading this node's name from it: %v", path, err)
		return "", false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if w := fields(l); len(w) > 0 {
			if strings.HasPrefix(w[0], "/") {
				break
			}
			return w[0], true
		}
	}
	c.tabFail(line, "set-node %s: the file holds no node name", path)
	return "", false
}

func (c *converter) hostNames() string {
	names := make([]string, len(c.hosts.Hosts))
	for i, h := range c.hosts.Hosts {
		names[i] = h.Name
	}
	return strings.Join(names, ", ")
}

// nodes are llthosts' nodes that include and exclude leave in. LLT applies
// them in order to the node ids (every id is in at first); tether has no
// node slots, so only the llthosts nodes matter.
func (c *converter) nodes(self Host) {
	c.self = self
	c.d.NodeID, c.d.NodeName = self.ID, self.Name
	c.kept = map[uint16]bool{}
	for _, h := range c.hosts.Hosts {
		if h.ID > lltMaxNodeID {
			c.notef(c.hosts.File, h.Line, "node id %d is above LLT's limit of %d: kept, tether's ids go to %d", h.ID, lltMaxNodeID, config.MaxNodeID)
		}
		if r := c.excludedBy(h.ID); r != nil {
			if h.ID == self.ID {
				c.tabFail(r.Line, "exclude %d-%d leaves out this node (%s, id %d)", r.Low, r.High, h.Name, h.ID)
				continue
			}
			c.tabNote(r.Line, "exclude %d-%d: node %s (id %d, %s:%d) is left out of nodes", r.Low, r.High, h.Name, h.ID, c.hosts.File, h.Line)
			continue
		}
		c.kept[h.ID] = true
		c.d.Nodes = append(c.d.Nodes, migrate.Node{ID: h.ID, Name: h.Name, Addresses: map[string]string{}})
	}
}

// excludedBy returns the exclude that leaves id out, nil if it is in.
func (c *converter) excludedBy(id uint16) *Range {
	var by *Range
	for i, r := range c.tab.Ranges {
		if int(id) < r.Low || int(id) > r.High {
			continue
		}
		if r.Exclude {
			by = &c.tab.Ranges[i]
		} else {
			by = nil
		}
	}
	return by
}

// host finds a node of llthosts by id or name, as set-addr gives it.
func (c *converter) host(s string) (Host, bool) {
	if id, err := strconv.ParseUint(s, 10, 16); err == nil {
		return c.hosts.ByID(int(id))
	}
	return c.hosts.ByName(s)
}

// node returns the Draft's node with id, nil when it was left out.
func (c *converter) node(id uint16) *migrate.Node {
	for i := range c.d.Nodes {
		if c.d.Nodes[i].ID == id {
			return &c.d.Nodes[i]
		}
	}
	return nil
}

func (c *converter) flags() {
	for _, f := range c.tab.Flags {
		v := 0
		if f.On {
			v = 1
		}
		switch f.Name {
		case "set-bcasthb":
			c.tabNote(f.Line, "set-bcasthb %d: not carried over: tether sends heartbeats to each peer and, on ether networks, broadcasts one every %v to check the cabling (diagnostics.broadcast_every); tcp networks never broadcast",
				v, config.DefaultBroadcastEvery)
		case "set-arp":
			c.tabNote(f.Line, "set-arp %d: not carried over: tether learns peers' MAC addresses from their heartbeats and takes IP addresses from nodes[].addresses; it resolves no address", v)
		}
	}
}

// others are the directives tether has no equivalent for.
func (c *converter) others() {
	for _, d := range c.tab.Other {
		c.tabNote(d.Line, "%s: %s: not carried over", d.Text(), otherHint(d.Name))
	}
}

func otherHint(name string) string {
	switch {
	case name == "set-verbose":
		return "LLT's verbosity; tetherd logs every link event (--log-level)"
	case name == "set-flow":
		return "LLT's flow control; tether has none (tcp.sendbuf_limit bounds a tcp connection's queue)"
	case strings.HasPrefix(name, "set-dbg"):
		return "LLT's debugging"
	case name == "set-swmax":
		return "LLT's send window; tether has none"
	case name == "set-linkburst":
		return "LLT's burst limit; tether has none"
	case name == "start":
		return "the end marker of old llttab files"
	}
	return "unknown directive, no tether equivalent"
}

// generalNotes are about the whole conversion.
func (c *converter) generalNotes() {
	k := c.o.KeyFile
	c.notef("", 0, "cluster.key_file: tether authenticates every frame with the key in %s, which LLT did not have: create it once (openssl rand -hex 32 > %s; chmod 600 %s) and copy it to every node", k, k, k)
	if len(c.d.Networks) > 0 {
		names := make([]string, len(c.d.Networks))
		for i, n := range c.d.Networks {
			names[i] = n.Name
		}
		c.notef("", 0, "the networks are named after the link tags (%s): tether pairs networks across nodes by name, where LLT paired links by their order: import every node and check that each network has the same name everywhere", strings.Join(names, ", "))
	}
}
