// Package llttab turns a Veritas LLT node's /etc/llttab and /etc/llthosts
// (llttab(4), llthosts(4)) into a tether configuration (a migrate.Draft),
// so that a VCS cluster moves to tether with one command per node.
//
// It is pure: it reads only the bytes it is given. What needs the host —
// the interface behind an eth-<MAC> device or behind a UDP link's IP, the
// file a set-node directive names — comes through Options, so tests fake
// it and tetherctl passes netlink and the file system.
//
// Every directive is either converted or kept as a Note naming its file
// and line; nothing is dropped silently. What cannot be converted into a
// valid tether configuration (no set-node, an unknown node, no link, a
// malformed line, ...) is an *Error naming the file and line.
package llttab

import (
	"errors"
	"net"
	"net/netip"
	"strconv"

	"github.com/tether-ha/tether/agent/migrate"
)

// Default file names, as LLT reads them.
const (
	DefaultLLTTab   = "/etc/llttab"
	DefaultLLTHosts = "/etc/llthosts"
	DefaultKeyFile  = "/etc/tether/cluster.key"
)

// Options is what Import needs besides the two files' contents.
type Options struct {
	LLTTabFile   string // names the llttab in messages; DefaultLLTTab if ""
	LLTHostsFile string // names the llthosts in messages; DefaultLLTHosts if ""
	KeyFile      string // written as cluster.key_file; DefaultKeyFile if ""

	// InterfacesByMAC returns the local interfaces whose hardware address
	// is mac, the most likely first (a physical NIC before the VLANs and
	// bonds that share its MAC); none is not an error. Nil: eth-<MAC>
	// devices are not resolved (a placeholder interface and a Note).
	InterfacesByMAC func(mac net.HardwareAddr) ([]string, error)
	// InterfaceByIP returns the local interface holding ip ("" when none
	// does): the interface of an LLT-over-UDP link, which llttab names by
	// its address only. Nil: not resolved (a placeholder and a Note).
	InterfaceByIP func(ip netip.Addr) (string, error)
	// ReadFile reads the file a set-node directive names (LLT reads the
	// node's name from it, e.g. /etc/nodename). Nil: such a set-node is an
	// error, since the node cannot be known.
	ReadFile func(path string) ([]byte, error)
}

func (o Options) withDefaults() Options {
	if o.LLTTabFile == "" {
		o.LLTTabFile = DefaultLLTTab
	}
	if o.LLTHostsFile == "" {
		o.LLTHostsFile = DefaultLLTHosts
	}
	if o.KeyFile == "" {
		o.KeyFile = DefaultKeyFile
	}
	return o
}

// Import parses an llttab and an llthosts and converts them. All problems
// found are returned together (errors.Join of *Error, in file and line
// order).
func Import(llttab, llthosts []byte, o Options) (*migrate.Draft, error) {
	o = o.withDefaults()
	tab, err1 := ParseLLTTab(llttab, o.LLTTabFile)
	hosts, err2 := ParseLLTHosts(llthosts, o.LLTHostsFile)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return Convert(tab, hosts, o)
}

// Error is one problem of an input file.
type Error struct {
	File string
	Line int // 1-based; 0 for the whole file
	Msg  string
}

// Error formats the problem as "FILE:LINE: message".
func (e *Error) Error() string {
	return where(e.File, e.Line) + ": " + e.Msg
}

// where is "FILE:LINE", or "FILE" when line is 0.
func where(file string, line int) string {
	if line <= 0 {
		return file
	}
	return file + ":" + strconv.Itoa(line)
}

// ErrInvalidOutput wraps the error of a converted configuration that
// tether's own validation refuses: a bug of the importer, never of the
// input (every input problem is an *Error).
var ErrInvalidOutput = errors.New("llttab: the imported configuration does not pass tether's validation (an importer bug)")
