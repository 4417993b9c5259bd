package config

import (
	"strings"
	"testing"
	"time"
)

const etcdResource = `resources:
  - {name: o, driver: builtin, primary: node0, mirror: node1, topics: [o]}`

func TestParseEtcdQuorum(t *testing.T) {
	c, err := Parse([]byte(tcpBase(etcdResource, "quorum: {etcd: {endpoints: ['http://10.0.0.9:2379', 'http://10.0.0.10:2379']}}")), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := c.Quorum.Etcd
	if e == nil || len(e.Endpoints) != 2 || e.TTL != 2*time.Second || e.DialTimeout != time.Second || e.Prefix != "/tether/tether/primary/" {
		t.Fatalf("quorum.etcd defaults: %+v", e)
	}
	c, err = Parse([]byte(tcpBase(etcdResource, `quorum:
  etcd: {endpoints: ['https://etcd1:2379'], prefix: /ha/prod/, ttl: 2s, dial_timeout: 3s,
         ca_file: /etc/tether/etcd-ca.pem, cert_file: /etc/tether/etcd.pem, key_file: /etc/tether/etcd-key.pem}`)), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if e := c.Quorum.Etcd; e.Prefix != "/ha/prod/" || e.DialTimeout != 3*time.Second || e.CAFile != "/etc/tether/etcd-ca.pem" || e.KeyFile == "" {
		t.Fatalf("quorum.etcd: %+v", e)
	}
}

func TestEtcdQuorumErrors(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"no endpoints":     {tcpBase(etcdResource, "quorum: {etcd: {ttl: 2s}}"), `quorum.etcd: missing required key "endpoints"`},
		"endpoint no port": {tcpBase(etcdResource, "quorum: {etcd: {endpoints: ['http://10.0.0.9']}}"), `"http://10.0.0.9" is not an etcd endpoint`},
		"endpoint scheme":  {tcpBase(etcdResource, "quorum: {etcd: {endpoints: ['10.0.0.9:2379']}}"), `is not an etcd endpoint: want http://host:port`},
		"ttl fraction":     {tcpBase(etcdResource, "quorum: {etcd: {endpoints: ['http://e:2379'], ttl: 2500ms}}"), `quorum.etcd.ttl: quorum.etcd: ttl 2.5s: etcd leases last whole seconds, at least 2s`},
		"ttl too short":    {tcpBase(etcdResource, "quorum: {etcd: {endpoints: ['http://e:2379'], ttl: 1s}}"), `at least 2s`},
		"ttl above grace":  {tcpBase(etcdResource, "quorum: {etcd: {endpoints: ['http://e:2379'], ttl: 3s}}"), `ttl 3s is not below resource "o"'s failover.grace 3s`},
		"tls on http":      {tcpBase(etcdResource, "quorum: {etcd: {endpoints: ['http://e:2379'], ca_file: /etc/ca.pem}}"), `are for https endpoints`},
		"cert without key": {tcpBase(etcdResource, "quorum: {etcd: {endpoints: ['https://e:2379'], cert_file: /etc/c.pem}}"), `cert_file and key_file go together`},
		"bad prefix":       {tcpBase(etcdResource, "quorum: {etcd: {endpoints: ['http://e:2379'], prefix: tether}}"), `want a key prefix that starts and ends with '/'`},
		"no resources":     {tcpBase("quorum: {etcd: {endpoints: ['http://e:2379']}}"), `this configuration has no resources`},
		"unknown key":      {tcpBase(etcdResource, "quorum: {etcd: {endpoints: ['http://e:2379'], lease: 2s}}"), `unknown key "lease"`},
	} {
		_, err := Parse([]byte(tc.doc), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
