// Package migrate holds what the importers of other products'
// configurations (agent/migrate/llttab, agent/migrate/corosync) share: a
// Draft of a tether configuration and its rendering as commented YAML.
// Whatever of the source has no tether equivalent becomes a Note: a
// comment in the output and a warning for the operator, never dropped
// silently.
package migrate

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tether-ha/tether/agent/config"
)

// Draft is a tether configuration being written from another product's
// files. Render writes it in the layout of contrib/examples.
type Draft struct {
	Sources []string // the files read, named in the header

	ClusterID   uint16
	ClusterName string // "" leaves tether's default
	KeyFile     string

	NodeID   uint16
	NodeName string
	Nodes    []Node
	Networks []Network
	Timers   []Timer // in the order written
	Notes    []Note
}

// Node is a line of the node table.
type Node struct {
	ID        uint16
	Name      string
	Addresses map[string]string // network name -> IP
}

// Network is an interconnect.
type Network struct {
	Name      string
	Interface string
	Channels  []string
	MTU       int // 0: not written
	Lowpri    bool
	EtherType uint16 // 0: not written
	Port      uint16 // 0: not written
	Comment   string // written after the line, e.g. where it came from
}

// Timer is one key of timers:.
type Timer struct {
	Key     string // heartbeat, peertrouble, ...
	Value   time.Duration
	Comment string
}

// Note is something of the source that tether has no equivalent for, or
// that needs the operator's eye (a placeholder interface).
type Note struct {
	Where string // file:line, or a file, or "" for the whole source
	Text  string
}

// Notef adds a Note.
func (d *Draft) Notef(where, format string, args ...any) {
	d.Notes = append(d.Notes, Note{Where: where, Text: fmt.Sprintf(format, args...)})
}

// Warnings are the Notes as lines for stderr.
func (d *Draft) Warnings() []string {
	out := make([]string, 0, len(d.Notes))
	for _, n := range d.Notes {
		if n.Where != "" {
			out = append(out, n.Where+": "+n.Text)
		} else {
			out = append(out, n.Text)
		}
	}
	return out
}

// Render writes the Draft as a tether YAML configuration with the Notes as
// comments at the top.
func (d *Draft) Render() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# tether configuration imported from %s.\n", strings.Join(d.Sources, " and "))
	b.WriteString("# Check it with: tetherd --config FILE --check\n")
	if len(d.Notes) > 0 {
		b.WriteString("#\n# Not carried over, or to check by hand:\n")
		for _, w := range d.Warnings() {
			for _, line := range strings.Split(w, "\n") {
				b.WriteString("#   " + line + "\n")
			}
		}
	}
	b.WriteString("cluster: {id: " + fmt.Sprint(d.ClusterID))
	if d.ClusterName != "" {
		b.WriteString(", name: " + scalar(d.ClusterName))
	}
	b.WriteString(", key_file: " + scalar(d.KeyFile) + "}\n")
	fmt.Fprintf(&b, "node: {id: %d, name: %s}\n", d.NodeID, scalar(d.NodeName))
	b.WriteString("nodes:\n")
	for _, n := range d.Nodes {
		fmt.Fprintf(&b, "  - {id: %d, name: %s", n.ID, scalar(n.Name))
		if len(n.Addresses) > 0 {
			nets := make([]string, 0, len(n.Addresses))
			for k := range n.Addresses {
				nets = append(nets, k)
			}
			sort.Strings(nets)
			parts := make([]string, len(nets))
			for i, k := range nets {
				parts[i] = scalar(k) + ": " + scalar(n.Addresses[k])
			}
			b.WriteString(", addresses: {" + strings.Join(parts, ", ") + "}")
		}
		b.WriteString("}\n")
	}
	b.WriteString("networks:\n")
	for _, n := range d.Networks {
		fmt.Fprintf(&b, "  - {name: %s, interface: %s, channels: [%s]", scalar(n.Name), scalar(n.Interface), strings.Join(n.Channels, ", "))
		if n.MTU != 0 {
			fmt.Fprintf(&b, ", mtu: %d", n.MTU)
		}
		if n.Lowpri {
			b.WriteString(", lowpri: true")
		}
		if n.EtherType != 0 {
			fmt.Fprintf(&b, ", ethertype: 0x%04X", n.EtherType)
		}
		if n.Port != 0 {
			fmt.Fprintf(&b, ", port: %d", n.Port)
		}
		b.WriteString("}")
		if n.Comment != "" {
			b.WriteString("  # " + n.Comment)
		}
		b.WriteString("\n")
	}
	if len(d.Timers) > 0 {
		b.WriteString("timers:\n")
		for _, t := range d.Timers {
			fmt.Fprintf(&b, "  %s: %s", t.Key, t.Value)
			if t.Comment != "" {
				b.WriteString("  # " + t.Comment)
			}
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

// Validate checks that the rendered configuration is one tether takes
// (config.Parse): the importers' own checks must refuse whatever tether
// refuses, and this keeps a bug of theirs from reaching a node.
func (d *Draft) Validate() error {
	_, err := config.Parse(d.Render(), "<imported configuration>")
	return err
}

// scalar is s as a YAML scalar, quoted when it needs to be.
func scalar(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	v := strings.TrimSuffix(string(out), "\n")
	// In a flow mapping a plain scalar must not hold a colon or a flow
	// indicator (an IPv6 address "::2" is no key: value).
	if strings.ContainsAny(v, "\n{}[],:#") && !strings.HasPrefix(v, "\"") && !strings.HasPrefix(v, "'") {
		return fmt.Sprintf("%q", s)
	}
	return v
}
