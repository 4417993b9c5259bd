package llttab

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/tether-ha/tether/agent/config"
)

// lltMaxNodeID is the largest node id LLT accepts (64 nodes); tether
// accepts up to config.MaxNodeID.
const lltMaxNodeID = 63

// Hosts is a parsed llthosts: "<node-id> <name>" per line, the same file
// on every node.
type Hosts struct {
	File  string
	Hosts []Host // in file order
}

// Host is one line of llthosts.
type Host struct {
	Line int
	ID   uint16
	Name string
}

// ByID returns the host with id, if any.
func (h *Hosts) ByID(id int) (Host, bool) {
	for _, x := range h.Hosts {
		if int(x.ID) == id {
			return x, true
		}
	}
	return Host{}, false
}

// ByName returns the host named name, if any.
func (h *Hosts) ByName(name string) (Host, bool) {
	for _, x := range h.Hosts {
		if x.Name == name {
			return x, true
		}
	}
	return Host{}, false
}

// ParseLLTHosts parses an llthosts. Comments and blank lines are ignored.
// Ids must be numbers tether accepts (0 to 1023) and names tether node
// names; neither may repeat. It returns every error found, joined.
func ParseLLTHosts(data []byte, file string) (*Hosts, error) {
	h := &Hosts{File: file}
	p := &parser{file: file}
	lines := splitLines(data)
	if len(lines) > maxLines {
		return nil, &Error{File: file, Msg: fmt.Sprintf("%d lines: not an llthosts (at most %d)", len(lines), maxLines)}
	}
	ids := map[uint16]int{}   // id -> line
	names := map[string]int{} // name -> line
	for i, raw := range lines {
		line := i + 1
		if !p.text(line, raw) {
			continue
		}
		words := fields(raw)
		if len(words) == 0 {
			continue
		}
		if len(words) != 2 {
			p.failf(line, "want \"NODE-ID NAME\", got %d words", len(words))
			continue
		}
		id, err := strconv.ParseUint(words[0], 10, 16)
		if err != nil || id > config.MaxNodeID {
			p.failf(line, "node id %q: want a number from 0 to %d (LLT's are 0 to %d)", words[0], config.MaxNodeID, lltMaxNodeID)
			continue
		}
		name := words[1]
		if err := checkName(name); err != nil {
			p.failf(line, "node name %q: %v", name, err)
			continue
		}
		if first, dup := ids[uint16(id)]; dup {
			p.failf(line, "node id %d is given twice (first at line %d)", id, first)
			continue
		}
		if first, dup := names[name]; dup {
			p.failf(line, "node name %q is given twice (first at line %d)", name, first)
			continue
		}
		ids[uint16(id)], names[name] = line, line
		h.Hosts = append(h.Hosts, Host{Line: line, ID: uint16(id), Name: name})
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	if len(h.Hosts) == 0 {
		return nil, &Error{File: file, Msg: "no node: llthosts lists every node of the cluster as \"NODE-ID NAME\""}
	}
	return h, nil
}

// checkName is tether's rule for node and network names (the config
// package's, which it does not export): 1 to config.MaxNameLen letters,
// digits, '.', '_' or '-'.
func checkName(s string) error {
	ok := len(s) >= 1 && len(s) <= config.MaxNameLen
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("tether names are 1 to %d letters, digits, '.', '_' or '-'", config.MaxNameLen)
	}
	return nil
}

// checkIfName is Linux's rule for interface names (dev_valid_name), as
// tether's config checks it: 1 to 15 bytes, not "." or "..", no '/', ':'
// or white space.
func checkIfName(s string) error {
	bad := len(s) == 0 || len(s) > 15 || s == "." || s == ".." ||
		strings.ContainsFunc(s, func(r rune) bool { return r == '/' || r == ':' || r == 0 || unicode.IsSpace(r) })
	if bad {
		return fmt.Errorf("%q is not a Linux interface name (1 to 15 characters without '/', ':' or spaces)", s)
	}
	return nil
}
