package corosync

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/agent/migrate"
)

// DeriveClusterID is the cluster id tether uses for a corosync cluster
// named name when none is given: FNV-1a (32 bits) of the name, folded to
// 16 bits by XOR of its halves. Every node computes the same id from the
// same name; two clusters on one network get different ids unless their
// names collide (1 in 65536). corosync's own generate_cluster_id (a
// shift-and-add of the bytes) is not used: it lets the first bytes of a
// long name fall off, so names sharing their last 16 bytes collide.
func DeriveClusterID(name string) uint16 {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	return uint16(v>>16) ^ uint16(v)
}

// cluster sets the cluster's name and id.
func (c *converter) cluster(d *migrate.Draft, nodes []*cnode) {
	it := c.value(c.totem, "cluster_name")
	name := ""
	if it != nil {
		name = it.Value
	}
	switch {
	case name != "" && validName.MatchString(name):
		d.ClusterName = name
	case it != nil:
		why := ""
		if quoted(name) {
			why = "; corosync keeps the quotes as part of the name"
		}
		c.notef(it.Line, "cluster_name %q is not a valid tether name (1 to 32 letters, digits, '.', '_' or '-'%s): the cluster keeps tether's default name %s",
			name, why, config.DefaultClusterName)
	}
	switch {
	case c.o.SetClusterID:
		d.ClusterID = c.o.ClusterID
	case name != "":
		d.ClusterID = DeriveClusterID(name)
		c.notef(it.Line, "cluster.id %d is derived from cluster_name %q (FNV-1a folded to 16 bits): every node's import gives the same id; "+
			"--cluster-id N sets another (the same on every node)", d.ClusterID, name)
	default:
		key := nodesKey(nodes)
		d.ClusterID = DeriveClusterID(key)
		c.notef(0, "no cluster_name: cluster.id %d is derived from the nodelist's ids and ring0 addresses (%s, FNV-1a folded to 16 bits), the same for every node's import "+
			"of this nodelist; --cluster-id N sets another (the same on every node)", d.ClusterID, key)
	}
}

// nodesKey is the nodelist as one string, in id order: "1=10.0.0.1,2=10.0.0.2".
func nodesKey(nodes []*cnode) string {
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b *cnode) int { return int(a.id) - int(b.id) })
	parts := make([]string, len(sorted))
	for i, n := range sorted {
		addr := ""
		if it, ok := n.rings[0]; ok {
			addr = it.Value
		}
		parts[i] = fmt.Sprintf("%d=%s", n.id, addr)
	}
	return strings.Join(parts, ",")
}
