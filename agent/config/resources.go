package config

import (
	"fmt"
	"slices"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/tether-ha/tether/replicator/failover"
	"github.com/tether-ha/tether/replicator/topics"
)

// Resource drivers and acknowledgement modes.
const (
	DriverBuiltin = "builtin"
	AcksLocal     = "local"
	AcksMirror    = "mirror"

	DefaultAcksTimeout = 5 * time.Second
	MaxResources       = 64
)

// Resource is something with one writable primary that tether mirrors (and,
// later, fails over): for the builtin driver, a set of topics of the
// replicator, mirrored from the primary node to the mirror node.
type Resource struct {
	Name    string
	Driver  string   // DriverBuiltin
	Primary string   // node name: where the topics are first writable
	Mirror  string   // node name: the read-only copy
	Topics  []string // created on both nodes at start
	// Acks is AcksLocal (a produce returns after the primary's fsync) or
	// AcksMirror (after the mirror has the batch durably too).
	Acks string
	// AcksTimeout bounds how long an acks: mirror produce waits for the
	// mirror; then it fails (the records stay on the primary, unacknowledged).
	AcksTimeout time.Duration
	// Failover is the automatic failover of the resource (on by default;
	// it needs three voters: a two-node cluster needs a witness or quorum.etcd).
	Failover failover.Config
	// The back end of a redis, postgresql or exec resource (the section
	// named after its driver; nil otherwise).
	Redis    *RedisBackend
	Postgres *PostgresBackend
	Exec     *ExecBackend
}

// Members reports whether node is the resource's primary or mirror.
func (r Resource) Members(node string) bool { return r.Primary == node || r.Mirror == node }

// Resource returns the resource named name, or false.
func (c *Config) Resource(name string) (Resource, bool) {
	i := slices.IndexFunc(c.Resources, func(r Resource) bool { return r.Name == name })
	if i < 0 {
		return Resource{}, false
	}
	return c.Resources[i], true
}

func (r *Resource) fields(w *walker) []field {
	return []field{
		{"name", required, w.str(&r.Name, checkName)},
		{"driver", required, w.str(&r.Driver, checkDriver)},
		{"primary", required, w.str(&r.Primary, checkName)},
		{"mirror", required, w.str(&r.Mirror, checkName)},
		{"topics", optional, w.strList(&r.Topics, checkTopic)},
		{"acks", optional, w.str(&r.Acks, checkAcks)},
		{"acks_timeout", optional, w.duration(&r.AcksTimeout)},
		{"failover", optional, func(v *yaml.Node, p string) { w.mapping(v, p, failoverFields(w, &r.Failover)) }},
	}
}

func (c *Config) resourcesField(w *walker) decodeFunc {
	return func(v *yaml.Node, p string) {
		w.list(v, p, func(_ int, v *yaml.Node, p string) {
			r := Resource{Acks: AcksLocal, AcksTimeout: DefaultAcksTimeout, Failover: failover.Config{Auto: true}.WithDefaults()}
			w.mapping(v, p, append(r.fields(w), r.backendFields(w)...))
			if fp := p + ".failover"; w.ok(fp) {
				if err := r.Failover.Validate(); err != nil {
					w.failf(fp, "%v", err)
				}
			}
			c.Resources = append(c.Resources, r)
		})
	}
}

// failoverFields is a resource's failover: section.
func failoverFields(w *walker, f *failover.Config) []field {
	return []field{
		{"auto", optional, w.boolean(&f.Auto)},
		{"grace", optional, w.duration(&f.Grace)},
		{"selffence", optional, w.duration(&f.SelfFence)},
		{"max_lag", optional, func(v *yaml.Node, p string) {
			var n int64
			number(w, &n, 1, 1<<62, nil)(v, p)
			if w.ok(p) {
				f.MaxLag = uint64(n)
			}
		}},
	}
}

func checkDriver(s string) error {
	switch s {
	case DriverBuiltin, DriverRedis, DriverPostgreSQL, DriverExec:
		return nil
	}
	return fmt.Errorf("unknown driver %q: want %s, %s, %s or %s", s, DriverBuiltin, DriverRedis, DriverPostgreSQL, DriverExec)
}

func checkAcks(s string) error {
	if s != AcksLocal && s != AcksMirror {
		return fmt.Errorf("acks must be %q (the primary's fsync) or %q (the mirror's too), not %q", AcksLocal, AcksMirror, s)
	}
	return nil
}

func checkTopic(s string) error {
	if !topics.ValidName(s) {
		return fmt.Errorf("bad topic name %q: 1..%d of a-z A-Z 0-9 . _ -", s, topics.MaxNameLen)
	}
	return nil
}

// validateResources checks the resources against the nodes, the networks
// and each other.
func validateResources(c *Config, w *walker) {
	if len(c.Resources) == 0 {
		return
	}
	if len(c.Resources) > MaxResources {
		w.failf(index("resources", MaxResources), "too many resources: at most %d", MaxResources)
	}
	self := c.Node.Name
	member := slices.ContainsFunc(c.Resources, func(r Resource) bool { return r.Members(self) })
	if c.Replicator == nil && member && w.ok("resources") {
		w.failf("resources", "this node holds a copy of a resource: resources need the replicator section (its dir holds their topics and epochs): add replicator: {}")
	}
	builtin := slices.ContainsFunc(c.Resources, func(r Resource) bool { return r.Driver == DriverBuiltin })
	if builtin && w.ok("networks") && !slices.ContainsFunc(c.Networks, func(n Network) bool { return n.HasChannel(ChannelTCP) }) {
		w.failf("resources", "mirrors ride the tcp channel: at least one network must carry it (channels: [ether, tcp])")
	}
	names := map[string]string{}
	topicOwner := map[string]string{}
	nodeKnown := func(name string) bool {
		return slices.ContainsFunc(c.Nodes, func(n Node) bool { return n.Name == name })
	}
	for i, r := range c.Resources {
		p := index("resources", i)
		if np := p + ".name"; w.ok(np) {
			if first, dup := names[r.Name]; dup {
				w.failf(np, "duplicate resource name %q, first used at line %d", r.Name, w.lineOf(first))
			} else {
				names[r.Name] = np
			}
		}
		for _, k := range []struct{ key, node string }{{"primary", r.Primary}, {"mirror", r.Mirror}} {
			if kp := p + "." + k.key; w.ok(kp) && w.ok("nodes") && !nodeKnown(k.node) {
				w.failf(kp, "node %q is not in nodes", k.node)
			}
		}
		for _, k := range []struct{ key, node string }{{"primary", r.Primary}, {"mirror", r.Mirror}} {
			if kp := p + "." + k.key; w.ok(kp) && slices.ContainsFunc(c.Nodes, func(n Node) bool { return n.Name == k.node && n.Witness }) {
				w.failf(kp, "node %q is a witness: it votes, it holds no copy", k.node)
			}
		}
		if mp := p + ".mirror"; w.ok(mp) && w.ok(p+".primary") && r.Mirror == r.Primary {
			w.failf(mp, "the mirror must be another node than the primary (%s)", r.Primary)
		}
		validateBackend(c, w, &c.Resources[i], p)
		if tp := p + ".topics"; w.ok(tp) && r.Driver == DriverBuiltin {
			if len(r.Topics) == 0 {
				w.failf(tp, "must name at least one topic")
			}
			for j, t := range r.Topics {
				if other, dup := topicOwner[t]; dup {
					w.failf(index(tp, j), "topic %q already belongs to resource %q: a topic has one primary", t, other)
				} else {
					topicOwner[t] = r.Name
				}
			}
		}
	}
}
