package config

import (
	"strings"
	"testing"
	"time"
)

// tcpBase is base with a tcp network, which mirrors need.
func tcpBase(extra ...string) string {
	return `cluster: {id: 7, key_file: /etc/tether/cluster.key}
node: {id: 1, name: node1}
nodes:
  - {id: 0, name: node0, addresses: {hb0: 10.0.0.1}}
  - {id: 1, name: node1, addresses: {hb0: 10.0.0.2}}
  - {id: 2, name: node2, addresses: {hb0: 10.0.0.3}}
networks:
  - {name: hb0, interface: eth1, channels: [ether, tcp]}
replicator: {}
` + strings.Join(extra, "\n")
}

func TestParseResources(t *testing.T) {
	c, err := Parse([]byte(tcpBase(`resources:
  - {name: orders, driver: builtin, primary: node0, mirror: node1, topics: [orders, payments], acks: mirror, acks_timeout: 2s}
  - {name: audit, driver: builtin, primary: node1, mirror: node2, topics: [audit]}`)), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Resources) != 2 {
		t.Fatalf("resources: %+v", c.Resources)
	}
	o := c.Resources[0]
	if o.Name != "orders" || o.Driver != DriverBuiltin || o.Primary != "node0" || o.Mirror != "node1" ||
		strings.Join(o.Topics, ",") != "orders,payments" || o.Acks != AcksMirror || o.AcksTimeout != 2*time.Second {
		t.Errorf("orders: %+v", o)
	}
	if f := o.Failover; !f.Auto || f.Grace != 3*time.Second || f.SelfFence != time.Second || f.MaxLag != 1000 {
		t.Errorf("failover defaults: %+v", f)
	}
	a, ok := c.Resource("audit")
	if !ok || a.Acks != AcksLocal || a.AcksTimeout != DefaultAcksTimeout {
		t.Errorf("audit defaults: %+v %v", a, ok)
	}
	if _, ok := c.Resource("nope"); ok {
		t.Error("Resource found a resource that is not configured")
	}
}

func TestParseFailoverAndWitness(t *testing.T) {
	doc := strings.Replace(tcpBase(`resources:
  - {name: o, driver: builtin, primary: node0, mirror: node1, topics: [o], failover: {auto: false, grace: 5s, selffence: 2s, max_lag: 50}}`),
		"name: node2,", "name: node2, witness: true,", 1)
	c, err := Parse([]byte(doc), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f := c.Resources[0].Failover; f.Auto || f.Grace != 5*time.Second || f.SelfFence != 2*time.Second || f.MaxLag != 50 {
		t.Errorf("failover: %+v", f)
	}
	if !c.Nodes[2].Witness || c.Nodes[0].Witness {
		t.Errorf("witness: %+v", c.Nodes)
	}
	// The witness's own configuration: the same resources, no replicator.
	w := strings.Replace(strings.Replace(doc, "node: {id: 1, name: node1}", "node: {id: 2, name: node2}", 1), "replicator: {}\n", "", 1)
	if _, err := Parse([]byte(w), "w.yaml"); err != nil {
		t.Errorf("a witness without a replicator: %v", err)
	}
}

func TestParseBackends(t *testing.T) {
	c, err := Parse([]byte(tcpBase(`resources:
  - name: cache
    driver: redis
    primary: node0
    mirror: node1
    redis: {addresses: {node0: "10.0.0.1:6379", node1: "10.0.0.2:6379"}, timeout: 2s}
  - name: db
    driver: postgresql
    primary: node1
    mirror: node0
    postgresql:
      conninfo: {node0: "host=10.0.0.1 user=postgres", node1: "host=10.0.0.2 user=postgres"}
      data_dir: /var/lib/postgresql/15/main
      fence: stop
  - name: drbd
    driver: exec
    primary: node0
    mirror: node2
    exec: {status: [/bin/true, r0], promote: [/bin/true], fence: [/bin/true], unfence: [/bin/true], follow: [/bin/true], timeout: 20s}`)), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.Resources[0].RedisConfig("node1")
	if err != nil || rc.Addrs["node1"] != "10.0.0.2:6379" || rc.Timeout != 2*time.Second || rc.Validate() != nil {
		t.Errorf("redis: %+v %v", rc, err)
	}
	pc := c.Resources[1].PostgresConfig("node1")
	if pc.DataDir != "/var/lib/postgresql/15/main" || pc.Fence != "stop" || !pc.Rewind || pc.Conninfo["node0"] != "host=10.0.0.1 user=postgres" {
		t.Errorf("postgresql: %+v", pc)
	}
	if xc := c.Resources[2].ExecConfig("node1"); xc.Resource != "drbd" || len(xc.Status) != 2 || xc.Timeout != 20*time.Second {
		t.Errorf("exec: %+v", xc)
	}
	if len(c.Resources[0].Topics) != 0 || c.Resources[0].Failover.Grace != 3*time.Second {
		t.Errorf("cache: %+v", c.Resources[0])
	}
}

func TestParseResourceErrors(t *testing.T) {
	r := func(s string) string { return tcpBase("resources:\n  - " + s) }
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown node", r("{name: o, driver: builtin, primary: node0, mirror: node9, topics: [o]}"),
			[]string{`t.yaml:11: resources[0].mirror: node "node9" is not in nodes`}},
		{"mirror is primary", r("{name: o, driver: builtin, primary: node0, mirror: node0, topics: [o]}"),
			[]string{`resources[0].mirror: the mirror must be another node than the primary (node0)`}},
		{"redis with topics and no section", r("{name: o, driver: redis, primary: node0, mirror: node1, topics: [o]}"),
			[]string{`resources[0].topics: topics belong to the builtin driver`, `resources[0]: driver redis needs a redis: section`}},
		{"unknown driver", r("{name: o, driver: mysql, primary: node0, mirror: node1}"),
			[]string{`resources[0].driver: unknown driver "mysql"`}},
		{"builtin without topics", r("{name: o, driver: builtin, primary: node0, mirror: node1}"),
			[]string{`resources[0]: missing required key "topics" (driver builtin)`}},
		{"redis address missing for this node", r("{name: o, driver: redis, primary: node0, mirror: node1, redis: {addresses: {node0: '10.0.0.1:6379', node2: '10.0.0.3:6379'}}}"),
			[]string{`resources[0].redis: redis: self "node1" has no address in addrs`}},
		{"wrong section", r("{name: o, driver: redis, primary: node0, mirror: node1, redis: {addresses: {node0: 'a:1', node1: 'b:1'}}, exec: {status: [/bin/true], promote: [/bin/true], fence: [/bin/true], unfence: [/bin/true], follow: [/bin/true]}}"),
			[]string{`resources[0].exec: a exec section on a resource of driver "redis"`}},
		{"acks on redis", r("{name: o, driver: redis, primary: node0, mirror: node1, acks: mirror, redis: {addresses: {node0: 'a:1', node1: 'b:1'}}}"),
			[]string{`resources[0]: acks and acks_timeout belong to the builtin driver`}},
		{"exec hook not absolute", r("{name: o, driver: exec, primary: node0, mirror: node1, exec: {status: [status.sh], promote: [/bin/true], fence: [/bin/true], unfence: [/bin/true], follow: [/bin/true]}}"),
			[]string{`resources[0].exec: `, `status`}},
		{"postgresql without data_dir", r("{name: o, driver: postgresql, primary: node0, mirror: node1, postgresql: {conninfo: {node0: 'host=a', node1: 'host=b'}}}"),
			[]string{`resources[0].postgresql: missing required key "data_dir"`}},
		{"grace too short", r("{name: o, driver: builtin, primary: node0, mirror: node1, topics: [o], failover: {grace: 1s, selffence: 1s}}"),
			[]string{`resources[0].failover: failover: grace (1s) must be more than selffence (1s) + margin (500ms)`}},
		{"unknown failover key", r("{name: o, driver: builtin, primary: node0, mirror: node1, topics: [o], failover: {grase: 4s}}"),
			[]string{`resources[0].failover: unknown key "grase"`}},
		{"zero max lag", r("{name: o, driver: builtin, primary: node0, mirror: node1, topics: [o], failover: {max_lag: 0}}"),
			[]string{`resources[0].failover.max_lag: 0 is out of range`}},
		{"witness holds a copy", strings.Replace(r("{name: o, driver: builtin, primary: node0, mirror: node2, topics: [o]}"), "name: node2,", "name: node2, witness: true,", 1),
			[]string{`resources[0].mirror: node "node2" is a witness: it votes, it holds no copy`}},
		{"bad acks", r("{name: o, driver: builtin, primary: node0, mirror: node1, topics: [o], acks: all}"),
			[]string{`resources[0].acks: acks must be "local" (the primary's fsync) or "mirror" (the mirror's too), not "all"`}},
		{"bad topic", r("{name: o, driver: builtin, primary: node0, mirror: node1, topics: ['a/b']}"),
			[]string{`resources[0].topics[0]: bad topic name "a/b"`}},
		{"no topics", r("{name: o, driver: builtin, primary: node0, mirror: node1, topics: []}"),
			[]string{`resources[0].topics: must name at least one topic`}},
		{"topic in two resources", tcpBase(`resources:
  - {name: a, driver: builtin, primary: node0, mirror: node1, topics: [t]}
  - {name: b, driver: builtin, primary: node1, mirror: node0, topics: [t]}`),
			[]string{`resources[1].topics[0]: topic "t" already belongs to resource "a"`}},
		{"duplicate name", tcpBase(`resources:
  - {name: a, driver: builtin, primary: node0, mirror: node1, topics: [t]}
  - {name: a, driver: builtin, primary: node1, mirror: node0, topics: [u]}`),
			[]string{`resources[1].name: duplicate resource name "a", first used at line 11`}},
		{"missing key", r("{name: o, driver: builtin, primary: node0, topics: [o]}"),
			[]string{`resources[0]: missing required key "mirror"`}},
		{"zero acks timeout", r("{name: o, driver: builtin, primary: node0, mirror: node1, topics: [o], acks_timeout: 0s}"),
			[]string{`resources[0].acks_timeout: 0s is out of range`}},
		{"no replicator", strings.Replace(r("{name: o, driver: builtin, primary: node0, mirror: node1, topics: [o]}"), "replicator: {}\n", "", 1),
			[]string{`resources: this node holds a copy of a resource: resources need the replicator section`}},
		{"no tcp network", strings.Replace(r("{name: o, driver: builtin, primary: node0, mirror: node1, topics: [o]}"), "channels: [ether, tcp]", "channels: [ether]", 1),
			[]string{`resources: mirrors ride the tcp channel`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "t.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks\n%s", err, w)
				}
			}
		})
	}
}
