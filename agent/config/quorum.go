package config

import (
	"fmt"
	"net/url"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/tether-ha/tether/replicator/quorum/etcd"
)

// Quorum is the quorum: section: an external voter besides the nodes.
// (A tetherd witness is a node: nodes[].witness.)
type Quorum struct {
	Etcd *EtcdQuorum
}

// EtcdQuorum is quorum.etcd: an etcd cluster's lease as a vote.
type EtcdQuorum struct {
	Endpoints   []string // http:// or https:// URLs of the etcd members
	Prefix      string   // keys: <prefix><resource>; default /tether/<cluster name>/primary/
	TTL         time.Duration
	DialTimeout time.Duration
	// TLS (https endpoints): the CA that signed etcd's certificate, and
	// this node's client certificate when etcd asks for one.
	CAFile, CertFile, KeyFile string
}

func (q *Quorum) fields(w *walker) []field {
	return []field{
		{"etcd", optional, func(v *yaml.Node, p string) {
			q.Etcd = &EtcdQuorum{TTL: etcd.DefaultTTL, DialTimeout: time.Second}
			e := q.Etcd
			w.mapping(v, p, []field{
				{"endpoints", required, w.strList(&e.Endpoints, checkEtcdEndpoint)},
				{"prefix", optional, w.str(&e.Prefix, checkEtcdPrefix)},
				{"ttl", optional, w.duration(&e.TTL)},
				{"dial_timeout", optional, w.duration(&e.DialTimeout)},
				{"ca_file", optional, w.str(&e.CAFile, checkAbsPath)},
				{"cert_file", optional, w.str(&e.CertFile, checkAbsPath)},
				{"key_file", optional, w.str(&e.KeyFile, checkAbsPath)},
			})
		}},
		{"witness", optional, func(_ *yaml.Node, p string) {
			w.failf(p, "a tetherd witness is a node: give it witness: true in nodes (nodes: [{id: 2, name: w, witness: true}]) and remove quorum.witness")
		}},
	}
}

func checkEtcdEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("%q is not an etcd endpoint: want http://host:port or https://host:port", s)
	}
	return nil
}

func checkEtcdPrefix(s string) error {
	if len(s) < 2 || s[0] != '/' || s[len(s)-1] != '/' {
		return fmt.Errorf("prefix %q: want a key prefix that starts and ends with '/', e.g. /tether/prod/primary/", s)
	}
	return nil
}

// validateQuorum checks quorum.etcd against the rest.
func validateQuorum(c *Config, w *walker) {
	e := c.Quorum.Etcd
	if e == nil {
		return
	}
	p := "quorum.etcd"
	if tp := p + ".ttl"; w.ok(tp) {
		if err := etcd.CheckTTL(e.TTL); err != nil {
			w.failf(tp, "%v", err)
		}
		for i, r := range c.Resources {
			if r.Failover.Auto && e.TTL >= r.Failover.Grace {
				w.failf(tp, "ttl %v is not below resource %q's failover.grace %v: a dead primary's key would outlive grace and slow every failover", e.TTL, c.Resources[i].Name, r.Failover.Grace)
			}
		}
	}
	https := false
	for _, ep := range e.Endpoints {
		if u, err := url.Parse(ep); err == nil && u.Scheme == "https" {
			https = true
		}
	}
	if (e.CertFile == "") != (e.KeyFile == "") && w.ok(p) {
		w.failf(p, "cert_file and key_file go together")
	}
	if !https && (e.CAFile != "" || e.CertFile != "") && w.ok(p) {
		w.failf(p, "ca_file, cert_file and key_file are for https endpoints; the endpoints are http")
	}
	if e.Prefix == "" {
		e.Prefix = "/tether/" + c.Cluster.Name + "/primary/"
	}
	if len(c.Resources) == 0 && w.ok(p) {
		w.failf(p, "quorum.etcd votes on resources' failover: this configuration has no resources")
	}
}

// Voters is how many vote on failover: every node (witnesses included)
// and the external voter.
func (c *Config) Voters() int {
	if c.Quorum.Etcd != nil {
		return len(c.Nodes) + 1
	}
	return len(c.Nodes)
}
