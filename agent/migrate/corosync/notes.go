package corosync

import (
	"fmt"
	"strings"
)

// totemNotes explains the totem keys that have a tether counterpart of
// another kind: crypto (tether's key file), and a few whose absence an
// operator would want to know about.
func (c *converter) totemNotes() {
	var crypto []string
	line := 0
	for _, k := range []string{"crypto_cipher", "crypto_hash", "crypto_model", "secauth", "keyfile", "key"} {
		it := c.value(c.totem, k)
		if it == nil {
			continue
		}
		if line == 0 {
			line = it.Line
		}
		v := it.Value
		if k == "key" {
			v = "(not shown)" // a secret written into corosync.conf
		}
		crypto = append(crypto, fmt.Sprintf("%s %s (line %d)", k, v, it.Line))
	}
	text := "tether authenticates every frame (HMAC-SHA256) with its own cluster key and does not encrypt heartbeats"
	if len(crypto) > 0 {
		text = "corosync's crypto " + strings.Join(crypto, ", ") + " is not carried over: " + text
	}
	c.notef(line, "%s: create %s on one node (openssl rand -hex 32 > %s; chmod 600 %s) and copy the same file to every node",
		text, c.o.KeyFile, c.o.KeyFile, c.o.KeyFile)

	for _, k := range []struct{ key, text string }{
		{"rrp_mode", "corosync 2's redundant ring mode: tether heartbeats on every network and messages take the best one"},
		{"ip_version", "the address family corosync asks DNS for: tether takes IP addresses only, nothing to resolve"},
		{"knet_pmtud_interval", "tether checks the MTU with padded heartbeats instead (diagnostics.mtu_probe_every)"},
		{"knet_compression_model", "tether does not compress heartbeats"},
		{"knet_compression_threshold", "tether does not compress heartbeats"},
		{"knet_compression_level", "tether does not compress heartbeats"},
		{"ip_dscp", "tether sets no DSCP"},
		{"block_unlisted_ips", "tether always refuses connections from addresses that are not in its nodes table"},
		{"config_version", "tether has no configuration version: keep the nodes' configurations alike"},
		{"nodeid", "corosync 2's way of naming the local node: the nodelist's nodeid is used"},
		{"clear_node_high_bit", "only for nodeids corosync derives from addresses, which this import does not use"},
	} {
		if it := c.value(c.totem, k.key); it != nil {
			c.notef(it.Line, "%s %s: %s: not carried over", k.key, it.Value, k.text)
		}
	}
}

// quorumNote says what becomes of votequorum: tether's quorum is its own
// (DESIGN.md "Failover supervision"), so nothing is converted, but every
// key is named.
func (c *converter) quorumNote(nodes int) {
	qs := sections(c.f.Root, "quorum")
	var keys []string
	line := 0
	for _, q := range qs {
		if line == 0 {
			line = q.Line
		}
		keys = append(keys, describeItems(q, "")...)
		c.useAll(q)
	}
	two := nodes == 2
	device := false
	for _, q := range qs {
		for _, it := range q.Items {
			two = two || (it.Key == "two_node" && it.Value == "1")
			device = device || (it.Key == "device" && it.Section != nil)
		}
	}
	for _, l := range sections(c.f.Root, "nodelist") {
		for _, n := range sections(l, "node") {
			for _, it := range n.Items {
				if it.Key == "quorum_votes" {
					keys = append(keys, fmt.Sprintf("nodelist.node quorum_votes %s (line %d)", it.Value, it.Line))
					c.used[it] = true
				}
			}
		}
	}
	if len(qs) == 0 && len(keys) == 0 && !two {
		return
	}
	text := "tether's automatic failover needs a majority of voters (its quorum section and witness, DESIGN.md, failover supervision)"
	if len(qs) > 0 || len(keys) > 0 {
		text = "votequorum is not converted automatically"
		if len(keys) > 0 {
			text = "votequorum (" + strings.Join(keys, ", ") + ") is not converted automatically"
		}
		text += ": it maps to tether's quorum section and witness (DESIGN.md, failover supervision), where automatic failover needs a majority of voters"
	}
	if two {
		text += "; two nodes need a third vote: a witness tetherd (a node with witness: true and no resources; quorum: {witness: {node: ID}}) " +
			"or an etcd lease (quorum: {etcd: [URL]})"
	}
	if device {
		text += "; a witness takes the place of corosync's qdevice"
	}
	c.notef(line, "%s", text)
}

// describeItems lists the keys of s (and of its subsections) as
// "path key value (line N)".
func describeItems(s *Section, prefix string) []string {
	var out []string
	for _, it := range s.Items {
		if it.Section != nil {
			out = append(out, describeItems(it.Section, prefix+it.Key+".")...)
			continue
		}
		out = append(out, fmt.Sprintf("%s%s %s (line %d)", prefix, it.Key, it.Value, it.Line))
	}
	return out
}

// leftovers notes every item the conversion did not use: nothing of the
// file is dropped silently. A section none of whose items was used is one
// Note; in a section partly used, the unused keys are listed together.
func (c *converter) leftovers() {
	var keys []*Item
	for _, it := range c.f.Root.Items {
		switch {
		case it.Section == nil:
			if !c.used[it] {
				keys = append(keys, it)
			}
		case len(it.Section.Items) == 0:
		case !c.anyUsed(it.Section):
			c.notef(it.Line, "%s { } (lines %d-%d): %s: not carried over", it.Key, it.Section.Line, it.Section.End, explain(it.Key))
		default:
			c.partly(it.Section)
		}
	}
	if len(keys) > 0 {
		c.notef(keys[0].Line, "top-level %s: %s: not carried over", listItems(keys), explain(""))
	}
}

// partly notes the unused items of a section some items of which were used.
func (c *converter) partly(s *Section) {
	var unused []*Item
	for _, it := range s.Items {
		switch {
		case it.Section == nil:
			if !c.used[it] {
				unused = append(unused, it)
			}
		case len(it.Section.Items) == 0:
		case !c.anyUsed(it.Section):
			unused = append(unused, it)
		default:
			c.partly(it.Section)
		}
	}
	if len(unused) > 0 {
		c.notef(unused[0].Line, "%s: %s: %s: not carried over", s.Path, listItems(unused), explain(s.Path))
	}
}

func (c *converter) anyUsed(s *Section) bool {
	for _, it := range s.Items {
		if c.used[it] || (it.Section != nil && c.anyUsed(it.Section)) {
			return true
		}
	}
	return false
}

// listItems is "consensus 7200 (line 9), logger_subsys { } (line 30)".
func listItems(items []*Item) string {
	parts := make([]string, len(items))
	for i, it := range items {
		if it.Section != nil {
			parts[i] = fmt.Sprintf("%s { } (line %d)", it.Key, it.Line)
		} else {
			parts[i] = fmt.Sprintf("%s %s (line %d)", it.Key, it.Value, it.Line)
		}
	}
	return strings.Join(parts, ", ")
}

// explain says why a part of corosync.conf has no tether equivalent.
func explain(path string) string {
	top, _, _ := strings.Cut(path, ".")
	switch {
	case path == "totem":
		return "settings of corosync's totem protocol (token ring, membership, retransmits); tether has no token ring"
	case top == "totem":
		return "no tether equivalent"
	case top == "logging":
		return "tetherd logs to standard error (the journal under systemd): see its --log-level and --log-format"
	case top == "system":
		return "corosync's process settings (scheduling, IPC, state directory): tetherd's are in its systemd unit"
	case top == "resources":
		return "corosync's resource watchdog: tether has no equivalent"
	case top == "uidgid":
		return "who may use corosync's IPC: tether's status socket is for root and group tether"
	case top == "nozzle":
		return "corosync's libnozzle tunnel device: tether has no equivalent"
	case top == "nodelist":
		return "no tether equivalent"
	}
	return "unknown to tether"
}
