package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vishvananda/netlink"

	"github.com/tether-ha/tether/agent/migrate/corosync"
)

const importCorosyncUsage = `Usage: tetherctl import-corosync [options] [COROSYNC.CONF]

Writes the tether configuration (YAML) of this node of a corosync
(Pacemaker) cluster from its corosync.conf (default
` + defaultCorosyncConf + `), so the cluster can move to tether:

  nodes       the nodelist: nodeid (1 to 1023), name, ringX_addr
  networks    one per corosync link that every node has (ring0, ring1, ...),
              carried by the tcp channel, on the interface of this host
              that holds this node's address on the link
  timers      heartbeat and peerinact are knet's ping interval and timeout
              (derived from the token as corosync derives them)
  cluster     name from cluster_name, id derived from it (the same on every
              node) unless --cluster-id is given

Whatever has no tether equivalent (crypto, votequorum, logging, the totem
protocol's tuning, ...) is a comment at the top of the output and a warning
on standard error ("tetherctl: warning: FILE:LINE: ..."). Run it on every
node: each gets its own node and interfaces. Check the result with
'tetherd --config FILE --check'.

Options:
  -o FILE          write the configuration to FILE (replaced atomically)
                   instead of standard output
  --node NAME|ID   the node to write the configuration for (default: the
                   node with a ring address on this host, else the node named
                   like this host, as corosync finds it)
  --cluster-id N   tether's cluster id, 0 to 65535, the same on every node
                   (default: derived from cluster_name)
  --key-file PATH  the cluster key file the configuration names (default
                   ` + corosync.DefaultKeyFile + `); create it with
                   'openssl rand -hex 32 > PATH; chmod 600 PATH' and copy it
                   to every node
  -h, --help       show this help

Exit status:
  0  the configuration was written (read the warnings)
  2  usage error, or the file cannot be read or converted
`

const defaultCorosyncConf = "/etc/corosync/corosync.conf"

type importCorosyncOptions struct {
	in, out   string
	node      string
	clusterID int // -1: derive
	keyFile   string
}

func parseImportCorosync(args []string) (importCorosyncOptions, error) {
	o := importCorosyncOptions{in: defaultCorosyncConf, clusterID: -1, keyFile: corosync.DefaultKeyFile}
	fs := newFlagSet("import-corosync")
	fs.StringVar(&o.out, "o", "", "")
	fs.StringVar(&o.node, "node", "", "")
	id := fs.String("cluster-id", "", "")
	fs.StringVar(&o.keyFile, "key-file", o.keyFile, "")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case len(words) > 1:
		return o, fmt.Errorf("unexpected argument %q: give one corosync.conf", words[1])
	case set["o"] && o.out == "":
		return o, errors.New("-o needs a file name")
	case set["node"] && o.node == "":
		return o, errors.New("--node needs a node name or id")
	case !filepath.IsAbs(o.keyFile):
		return o, fmt.Errorf("--key-file %q: want an absolute path (tetherd reads it from anywhere)", o.keyFile)
	}
	if len(words) == 1 {
		o.in = words[0]
	}
	if set["cluster-id"] {
		n, err := strconv.ParseUint(*id, 10, 16)
		if err != nil {
			return o, fmt.Errorf("--cluster-id %q: want a number from 0 to 65535", *id)
		}
		o.clusterID = int(n)
	}
	return o, nil
}

func runImportCorosync(e *env, args []string) int {
	o, err := parseImportCorosync(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, importCorosyncUsage)
		return exitOK
	}
	if err != nil {
		return usageErr(e.stderr, "import-corosync", err.Error())
	}
	data, err := readImportFile(o.in, "a corosync.conf")
	if err != nil {
		fmt.Fprintf(e.stderr, "tetherctl: import-corosync: %v\n", err)
		return exitError
	}
	lookup, err := hostInterfaces()
	if err != nil {
		// Without the host's addresses the interfaces are placeholders,
		// and the node must be named.
		fmt.Fprintf(e.stderr, "tetherctl: warning: cannot list this host's addresses (%v): the interfaces are placeholders\n", err)
	}
	hostname, _ := os.Hostname()
	opts := corosync.Options{Node: o.node, KeyFile: o.keyFile, InterfaceOf: lookup, Hostname: hostname}
	if o.clusterID >= 0 {
		opts.ClusterID, opts.SetClusterID = uint16(o.clusterID), true
	}
	d, err := corosync.ParseAndConvert(data, o.in, opts)
	if err != nil {
		fmt.Fprintf(e.stderr, "tetherctl: import-corosync: %v\n", err)
		return exitError
	}
	return writeDraft(e, "tetherctl: import-corosync: ", d, o.out)
}

// hostInterfaces maps this host's addresses (netlink.AddrList, every
// family) to the names of their links. On an error it returns a lookup
// that finds nothing, and the error.
func hostInterfaces() (func(netip.Addr) string, error) {
	none := func(netip.Addr) string { return "" }
	links, err := netlink.LinkList()
	if err != nil {
		return none, err
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return none, err
	}
	byAddr := map[netip.Addr]string{}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || names[a.LinkIndex] == "" {
			continue
		}
		if _, seen := byAddr[ip.Unmap()]; !seen { // the first link holding it
			byAddr[ip.Unmap()] = names[a.LinkIndex]
		}
	}
	return func(a netip.Addr) string { return byAddr[a.Unmap()] }, nil
}
