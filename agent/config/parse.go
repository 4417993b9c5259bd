package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// maxFileSize bounds what Load reads: a configuration is a few KiB.
const maxFileSize = 1 << 20

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is larger than %d bytes: not a tether configuration", maxFileSize)}
	}
	return Parse(data, path)
}

// Parse decodes and validates a configuration. file names the source in
// error messages and in Config.File ("" when it has none). Defaults are
// applied, Nodes are sorted by ID, and every rule of DESIGN.md's
// "Configuration" section is checked; all problems found are returned
// together, one "FILE:LINE: key.path: message" per line.
func Parse(data []byte, file string) (*Config, error) {
	name := file
	if name == "" {
		name = "<config>"
	}
	root, err := decodeDocument(data, name)
	if err != nil {
		return nil, err
	}
	c := defaults()
	c.File = file
	w := newWalker(name)
	w.lines[""] = root.Line
	if isNull(deref(root)) {
		return nil, &Error{File: name, Line: root.Line, Msg: "the configuration is empty"}
	}
	w.mapping(root, "", c.fields(w))
	validate(c, w)
	if err := w.err(); err != nil {
		return nil, err
	}
	slices.SortFunc(c.Nodes, func(a, b Node) int { return int(a.ID) - int(b.ID) })
	return c, nil
}

// defaults returns a Config holding every default value.
func defaults() *Config {
	return &Config{
		Cluster: Cluster{Name: DefaultClusterName},
		Timers: Timers{
			Heartbeat:     DefaultHeartbeat,
			PeerTrouble:   DefaultPeerTrouble,
			PeerInact:     DefaultPeerInact,
			HeartbeatLo:   DefaultHeartbeatLo,
			PeerTroubleLo: DefaultPeerTroubleLo,
			PeerInactLo:   DefaultPeerInactLo,
		},
		TCP: TCP{SendBufLimit: DefaultSendBufLimit, HandshakeTimeout: DefaultHandshakeTimeout,
			ConnectTimeout: DefaultConnectTimeout, BackoffMax: DefaultBackoffMax},
		Status:  Status{Socket: DefaultStatusSocket},
		Metrics: Metrics{Listen: DefaultMetricsListen},
		Diagnostics: Diagnostics{LossThreshold: DefaultLossThreshold, LossWindow: DefaultLossWindow,
			FlapCount: DefaultFlapCount, FlapWindow: DefaultFlapWindow, FlapHold: DefaultFlapHold,
			FlapHoldMax: DefaultFlapHoldMax, MTUProbeEvery: DefaultMTUProbeEvery, BroadcastEvery: DefaultBroadcastEvery},
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeDocument parses data into the root node of its single document.
func decodeDocument(data []byte, name string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Msg: "the file is empty: it must hold a tether configuration"}
		}
		return nil, syntaxError(err, name)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &Error{File: name, Line: next.Line, Msg: "a second YAML document (---) is not allowed: the file holds one configuration"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err, name)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Error{File: name, Msg: "the file is empty: it must hold a tether configuration"}
	}
	return doc.Content[0], nil
}

// syntaxError turns a yaml syntax error into an *Error with the line.
func syntaxError(err error, name string) error {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			return &Error{File: name, Line: line, Msg: "YAML syntax error: " + m[2]}
		}
	}
	return &Error{File: name, Msg: "YAML syntax error: " + strings.TrimPrefix(msg, "yaml: ")}
}

// The schema. Adding a key is one line in the matching field list.

func (c *Config) fields(w *walker) []field {
	return []field{
		{"cluster", required, func(v *yaml.Node, p string) { w.mapping(v, p, c.Cluster.fields(w)) }},
		{"node", required, func(v *yaml.Node, p string) { w.mapping(v, p, c.Node.fields(w)) }},
		{"nodes", required, func(v *yaml.Node, p string) {
			w.list(v, p, func(_ int, v *yaml.Node, p string) {
				n := Node{Addresses: map[string]netip.Addr{}}
				w.mapping(v, p, n.fields(w))
				c.Nodes = append(c.Nodes, n) // always, so that c.Nodes[i] is at path nodes[i]
			})
		}},
		{"networks", required, func(v *yaml.Node, p string) {
			w.list(v, p, func(_ int, v *yaml.Node, p string) {
				n := Network{Channels: []string{ChannelEther}, EtherType: DefaultEtherType, Port: DefaultTCPPort}
				w.mapping(v, p, n.fields(w))
				c.Networks = append(c.Networks, n)
			})
		}},
		{"timers", optional, func(v *yaml.Node, p string) { w.mapping(v, p, c.Timers.fields(w)) }},
		{"public", optional, func(v *yaml.Node, p string) {
			if isNull(deref(v)) {
				return
			}
			c.Public = &Public{}
			w.mapping(v, p, c.Public.fields(w))
		}},
		{"tcp", optional, func(v *yaml.Node, p string) { w.mapping(v, p, c.TCP.fields(w)) }},
		{"metrics", optional, func(v *yaml.Node, p string) { w.mapping(v, p, c.Metrics.fields(w)) }},
		{"replicator", optional, func(v *yaml.Node, p string) {
			if isNull(deref(v)) {
				return
			}
			c.Replicator = &Replicator{Dir: DefaultReplicatorDir, API: DefaultReplicatorAPI, RetentionAge: DefaultRetentionAge}
			w.mapping(v, p, c.Replicator.fields(w))
		}},
		{"diagnostics", optional, func(v *yaml.Node, p string) { w.mapping(v, p, c.Diagnostics.fields(w)) }},
		{"resources", optional, c.resourcesField(w)},
		{"quorum", optional, func(v *yaml.Node, p string) { w.mapping(v, p, c.Quorum.fields(w)) }},
		{"status", optional, func(v *yaml.Node, p string) { w.mapping(v, p, c.Status.fields(w)) }},
	}
}

func (c *Cluster) fields(w *walker) []field {
	return []field{
		{"id", required, number(w, &c.ID, 0, math.MaxUint16, nil)},
		{"name", optional, w.str(&c.Name, checkName)},
		{"key_file", required, w.str(&c.KeyFile, checkAbsPath)},
	}
}

func (n *NodeRef) fields(w *walker) []field {
	return []field{
		{"id", required, number(w, &n.ID, 0, MaxNodeID, nil)},
		{"name", required, w.str(&n.Name, checkName)},
	}
}

func (n *Node) fields(w *walker) []field {
	return []field{
		{"id", required, number(w, &n.ID, 0, MaxNodeID, nil)},
		{"name", required, w.str(&n.Name, checkName)},
		{"witness", optional, w.boolean(&n.Witness)},
		{"addresses", optional, func(v *yaml.Node, p string) {
			w.dict(v, p, func(network string, v *yaml.Node, p string) {
				var s string
				w.str(&s, checkNodeAddr)(v, p)
				if a, err := netip.ParseAddr(s); err == nil && w.ok(p) {
					n.Addresses[network] = a
				}
			})
		}},
	}
}

func (n *Network) fields(w *walker) []field {
	return []field{
		{"name", required, w.str(&n.Name, checkName)},
		{"interface", required, w.str(&n.Interface, checkIfName)},
		{"channels", optional, w.strList(&n.Channels, checkChannel)},
		{"mtu", optional, number(w, &n.MTU, 68, 65535, nil)},
		{"lowpri", optional, w.boolean(&n.Lowpri)},
		{"ethertype", optional, number(w, &n.EtherType, 0x0600, 0xFFFF, checkEtherType)},
		{"port", optional, number(w, &n.Port, 1, 65535, nil)},
	}
}

func (t *Timers) fields(w *walker) []field {
	return []field{
		{"heartbeat", optional, w.duration(&t.Heartbeat)},
		{"peertrouble", optional, w.duration(&t.PeerTrouble)},
		{"peerinact", optional, w.duration(&t.PeerInact)},
		{"heartbeatlo", optional, w.duration(&t.HeartbeatLo)},
		{"peertroublelo", optional, w.duration(&t.PeerTroubleLo)},
		{"peerinactlo", optional, w.duration(&t.PeerInactLo)},
	}
}

func (t *TCP) fields(w *walker) []field {
	return []field{
		{"sendbuf_limit", optional, number(w, &t.SendBufLimit, 4096, 1<<30, nil)},
		{"handshake_timeout", optional, w.duration(&t.HandshakeTimeout)},
		{"connect_timeout", optional, w.duration(&t.ConnectTimeout)},
		{"backoff_max", optional, w.duration(&t.BackoffMax)},
	}
}

func (d *Diagnostics) fields(w *walker) []field {
	return []field{
		{"loss_threshold", optional, number(w, &d.LossThreshold, 1, 100, nil)},
		{"loss_window", optional, w.duration(&d.LossWindow)},
		{"flap_count", optional, number(w, &d.FlapCount, 2, 16, nil)},
		{"flap_window", optional, w.duration(&d.FlapWindow)},
		{"flap_hold", optional, w.duration(&d.FlapHold)},
		{"flap_hold_max", optional, w.duration(&d.FlapHoldMax)},
		{"mtu_probe_every", optional, number(w, &d.MTUProbeEvery, -1, 1000, nil)},
		{"broadcast_every", optional, w.duration(&d.BroadcastEvery)},
	}
}

func (pc *Public) fields(w *walker) []field {
	return []field{
		{"bind", required, w.str(&pc.Bind, checkAddrPort)},
		{"join", optional, w.strList(&pc.Join, checkAddrPort)},
	}
}

func (r *Replicator) fields(w *walker) []field {
	return []field{
		{"dir", optional, w.str(&r.Dir, checkAbsPath)},
		{"api", optional, w.str(&r.API, checkAddrPort)},
		{"retention_bytes", optional, number(w, &r.RetentionBytes, 0, 1<<50, nil)},
		{"retention_age", optional, func(v *yaml.Node, p string) {
			var s string
			w.str(&s, checkRetentionAge)(v, p)
			if w.ok(p) {
				r.RetentionAge, _ = parseRetentionAge(s)
			}
		}},
	}
}

func (m *Metrics) fields(w *walker) []field {
	return []field{
		{"listen", optional, func(v *yaml.Node, p string) {
			w.str(&m.Listen, checkListen)(v, p)
			if m.Listen == MetricsOff {
				m.Listen = ""
			}
		}},
	}
}

func (s *Status) fields(w *walker) []field {
	return []field{
		{"socket", optional, w.str(&s.Socket, checkSocket)},
	}
}
