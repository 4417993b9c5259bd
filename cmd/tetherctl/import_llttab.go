package main

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/tether-ha/tether/agent/migrate/llttab"
)

const importLLTTabUsage = `Usage: tetherctl import-llttab [-o FILE] [--key-file PATH] [LLTTAB [LLTHOSTS]]

Writes the tether configuration of this VCS node from its LLT files
(default ` + llttab.DefaultLLTTab + ` and ` + llttab.DefaultLLTHosts + `): YAML on standard output, or in
FILE. Run it on each node itself: eth-<MAC> devices and the interfaces of
LLT-over-UDP links are looked up on this host, and a set-node naming a
file (/etc/nodename) is read.

Every directive is converted or reported: what tether has no equivalent
for, and what needs a look (a placeholder interface, the timers, the
EtherType), is a comment at the top of the output and a warning on
standard error. Then check it: tetherd --config FILE --check

Options:
  -o, --output FILE  write the configuration to FILE (replaced whole)
                     instead of standard output
  --key-file PATH    the cluster key file the configuration names
                     (default ` + llttab.DefaultKeyFile + `)
  -h, --help         show this help

Exit status:
  0  the configuration was written (warnings may have been printed)
  2  usage error, or the LLT files cannot be read or converted (every
     problem is printed with its file and line; nothing is written)
`

func runImportLLTTab(e *env, args []string) int {
	return importLLTTab(e, args, llttab.Options{
		InterfacesByMAC: interfacesByMAC,
		InterfaceByIP:   interfaceByIP,
		ReadFile:        func(path string) ([]byte, error) { return readImportFile(path, "a node name file") },
	})
}

// importLLTTab is import-llttab with the host's look-ups in host (tests
// fake them).
func importLLTTab(e *env, args []string, host llttab.Options) int {
	fs := newFlagSet("import-llttab")
	var out string
	fs.StringVar(&out, "o", "", "")
	fs.StringVar(&out, "output", "", "")
	keyFile := fs.String("key-file", llttab.DefaultKeyFile, "")
	words, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(e.stdout, importLLTTabUsage)
		return exitOK
	case err != nil:
		return usageErr(e.stderr, "import-llttab", err.Error())
	case len(words) > 2:
		return usageErr(e.stderr, "import-llttab", fmt.Sprintf("unexpected argument %q: give LLTTAB and LLTHOSTS at most", words[2]))
	case !filepath.IsAbs(*keyFile):
		return usageErr(e.stderr, "import-llttab", fmt.Sprintf("--key-file %q: want an absolute path, as tetherd reads it", *keyFile))
	}
	paths := []string{llttab.DefaultLLTTab, llttab.DefaultLLTHosts}
	copy(paths, words)
	var data [2][]byte
	for i, p := range paths {
		if data[i], err = readImportFile(p, "an LLT file"); err != nil {
			fmt.Fprintf(e.stderr, "tetherctl: %v\n", err)
			return exitError
		}
	}
	o := host
	o.LLTTabFile, o.LLTHostsFile, o.KeyFile = paths[0], paths[1], *keyFile
	d, err := llttab.Import(data[0], data[1], o)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(e.stderr, "tetherctl: %s\n", line)
		}
		fmt.Fprintf(e.stderr, "tetherctl: nothing was written\n")
		return exitError
	}
	return writeDraft(e, "tetherctl: ", d, out)
}

// interfacesByMAC lists this host's interfaces with hardware address mac,
// NICs before the devices stacked on them (VLANs, bonds, bridges take
// their port's MAC), then by index.
func interfacesByMAC(mac net.HardwareAddr) ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing the interfaces: %w", err)
	}
	stacked := func(l netlink.Link) int {
		switch l.Type() {
		case "vlan", "bond", "bridge", "team", "macvlan", "macvtap", "ipvlan":
			return 1
		}
		return 0
	}
	var found []netlink.Link
	for _, l := range links {
		if bytes.Equal(l.Attrs().HardwareAddr, mac) {
			found = append(found, l)
		}
	}
	slices.SortStableFunc(found, func(a, b netlink.Link) int {
		return cmp.Or(cmp.Compare(stacked(a), stacked(b)), cmp.Compare(a.Attrs().Index, b.Attrs().Index))
	})
	names := make([]string, len(found))
	for i, l := range found {
		names[i] = l.Attrs().Name
	}
	return names, nil
}

// interfaceByIP is the interface of this host holding ip, "" if none.
func interfaceByIP(ip netip.Addr) (string, error) {
	family := netlink.FAMILY_V4
	if ip.Is6() && !ip.Is4In6() {
		family = netlink.FAMILY_V6
	}
	addrs, err := netlink.AddrList(nil, family)
	if err != nil {
		return "", fmt.Errorf("listing the addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		if x, ok := netip.AddrFromSlice(a.IP); ok && x.Unmap() == ip.Unmap() {
			l, err := netlink.LinkByIndex(a.LinkIndex)
			if err != nil {
				return "", fmt.Errorf("interface %d holding %s: %w", a.LinkIndex, ip, err)
			}
			return l.Attrs().Name, nil
		}
	}
	return "", nil
}
