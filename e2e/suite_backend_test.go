package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/replicator/topicapi"
	"github.com/tether-ha/tether/testbed"
)

// suiteBackend is a driver's part of the failover suite: its resources,
// the back ends it runs on the copy nodes (node0, node1), how a client
// writes and what the checker reads back. The faults and the checker are
// the suite's, the same for every driver.
type suiteBackend interface {
	// resources is the resources section of node i's config (doc is the
	// rest of it, addresses included).
	resources(i int, doc map[string]any) []any
	// names are the resources' names.
	names() []string
	// boot starts what the agents need when they start (postgresql: the
	// data directories); up what needs the agents (redis, the API
	// clients).
	boot(b *testbed.Bed)
	up()
	// session opens one client's connections to both copy nodes.
	session() suiteSession
	// local: the client's n-th write is acks: local.
	local(n int) bool
	// mirroring: node m's back end follows the other copy node, caught up
	// (st is node m's status).
	mirroring(m int, st *status.Status) bool
	// present reads which of the acknowledged keys node p has.
	present(p int, acks []ack) map[string]bool
	// restore makes an old primary, back, the mirror again when the
	// driver needs an operator for it.
	restore(old int)
	// kill, restart and signal act on node p's back end with its
	// tetherd: a node crash, its reboot, a pause.
	kill(p int)
	restart(p int)
	signal(p int, sig syscall.Signal)
	// lossLimit is how many acks: local writes a failover may lose given
	// the lag it recorded, in the driver's unit.
	lossLimit(lag uint64) uint64
}

// suiteSession is one client's connections; used from one goroutine.
type suiteSession interface {
	// write sends one write to node i; it reports whether it was
	// acknowledged.
	write(ctx context.Context, i int, key string, local bool) bool
	close()
}

func newSuiteBackend(t *testing.T, drv, data string) suiteBackend {
	switch drv {
	case "builtin":
		return &builtinBackend{t: t, data: data}
	case "redis":
		testbed.RequireTool(t, "redis-server", "redis-server")
		return &redisBackend{}
	case "postgresql":
		testbed.RequirePostgres(t)
		return &pgBackend{t: t, root: filepath.Join(data, "pg")}
	case "sentinel":
		return newSentinelBackend(t, 30*time.Second) // Sentinel's default down-after-milliseconds
	case "sentinel-tuned":
		return newSentinelBackend(t, time.Second)
	}
	t.Fatalf("failover suite: unknown driver %q (builtin, redis, postgresql, sentinel, sentinel-tuned)", drv)
	return nil
}

// copyAddrs maps node0 and node1 to their hb0 address (where the back
// ends listen).
func copyAddrs(doc map[string]any) []string {
	var out []string
	for _, n := range doc["nodes"].([]any)[:2] {
		out = append(out, fmt.Sprint(n.(map[string]any)["addresses"].(map[string]any)["hb0"]))
	}
	return out
}

// builtin: tether's own replicator, two resources: orders (acks: mirror)
// and audit (acks: local), written through the topic API.
type builtinBackend struct {
	t    *testing.T
	data string
	b    *testbed.Bed
	api  []*topicapi.Client
}

func (be *builtinBackend) resources(int, map[string]any) []any {
	return []any{
		map[string]any{"name": "orders", "driver": "builtin", "primary": "node0", "mirror": "node1",
			"topics": []any{"orders"}, "acks": "mirror", "acks_timeout": "1s"},
		map[string]any{"name": "audit", "driver": "builtin", "primary": "node0", "mirror": "node1",
			"topics": []any{"audit"}, "acks": "local"},
	}
}

func (be *builtinBackend) names() []string { return []string{"orders", "audit"} }

func (be *builtinBackend) boot(b *testbed.Bed) { be.b = b }

func (be *builtinBackend) up() {
	for i := range 2 {
		be.api = append(be.api, topicapi.NewClient("127.0.0.1:9188").WithHTTPClient(testbed.HTTPClient(be.b.NodeNS(i))))
	}
}

type builtinSession struct{ api []*topicapi.Client }

func (be *builtinBackend) session() suiteSession { return builtinSession{be.api} }

func (s builtinSession) write(ctx context.Context, i int, key string, local bool) bool {
	topic := "orders"
	if local {
		topic = "audit"
	}
	_, err := s.api[i].Produce(ctx, topic, [][]byte{[]byte(key)})
	return err == nil
}

func (builtinSession) close() {}

func (be *builtinBackend) local(n int) bool { return n%2 == 1 }

func (be *builtinBackend) mirroring(_ int, st *status.Status) bool {
	for _, mr := range st.Mirrors {
		for _, tp := range mr.Topics {
			if tp.State != "ACTIVE" || tp.LagRecords != 0 {
				return false
			}
		}
	}
	return true
}

func (be *builtinBackend) present(p int, _ []ack) map[string]bool {
	have := map[string]bool{}
	for _, topic := range []string{"orders", "audit"} {
		for off := int64(0); ; {
			f, err := be.api[p].Consume(context.Background(), topic, off, 1<<20, 0)
			if err != nil || len(f.Records) == 0 {
				break
			}
			for _, r := range f.Records {
				have[string(r.Value)] = true
			}
			off = f.Records[len(f.Records)-1].Offset + 1
		}
	}
	return have
}

// restore: a diverged or stopped old primary needs the operator's
// truncate-and-restore.
func (be *builtinBackend) restore(old int) {
	for _, res := range be.names() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			r, err := be.api[old].Mirror(context.Background(), res)
			if err == nil && (r.Role == "diverged" || r.Role == "stopped") {
				if out, err := be.b.Exec(be.b.NodeNS(old), filepath.Join(binDir, "tetherctl"), "mirror", "truncate-and-restore", res, "--timeout", "10s"); err != nil {
					be.t.Logf("truncate-and-restore %s on node%d: %v\n%s", res, old, err, out)
				}
				break
			}
			if err == nil && r.Role == "mirror" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// The builtin replicator lives in tetherd: nothing else to act on.
func (be *builtinBackend) kill(int)                   {}
func (be *builtinBackend) restart(int)                {}
func (be *builtinBackend) signal(int, syscall.Signal) {}

// lossLimit: the lag is in records, one write each.
func (be *builtinBackend) lossLimit(lag uint64) uint64 { return lag }

// redis: resource cache on a redis-server per copy node; SET acknowledged
// by the primary (asynchronous replication: acks: local).
type redisBackend struct {
	b     *testbed.Bed
	redis []*testbed.Redis
}

func (be *redisBackend) resources(_ int, doc map[string]any) []any {
	addrs := map[string]any{}
	for j, a := range copyAddrs(doc) {
		addrs[fmt.Sprintf("node%d", j)] = fmt.Sprintf("%v:%d", a, testbed.RedisPort)
	}
	return []any{map[string]any{"name": "cache", "driver": "redis", "primary": "node0", "mirror": "node1",
		"redis": map[string]any{"addresses": addrs}}}
}

func (be *redisBackend) names() []string { return []string{"cache"} }

func (be *redisBackend) boot(b *testbed.Bed) { be.b = b }

func (be *redisBackend) up() {
	for i := range 2 {
		// Started fenced (min-replicas-to-write at the fence value), as
		// a deployment should: an empty redis restarted on an old
		// primary takes no write before tether has made it follow.
		be.redis = append(be.redis, be.b.StartRedis(i, "--min-replicas-to-write", "2147483647", "--min-replicas-max-lag", "10"))
	}
}

type redisSession struct{ rc []*goredis.Client }

func (be *redisBackend) session() suiteSession {
	var s redisSession
	for i := range 2 {
		s.rc = append(s.rc, be.redis[i].Client())
	}
	return s
}

func (s redisSession) write(ctx context.Context, i int, key string, _ bool) bool {
	return s.rc[i].Set(ctx, key, 1, 0).Err() == nil
}

func (s redisSession) close() {
	for _, r := range s.rc {
		r.Close()
	}
}

func (be *redisBackend) local(int) bool { return true }

func (be *redisBackend) mirroring(m int, _ *status.Status) bool {
	c := be.redis[m].Client()
	defer c.Close()
	info, err := c.Info(context.Background(), "replication").Result()
	return err == nil && strings.Contains(info, "master_link_status:up")
}

func (be *redisBackend) present(p int, acks []ack) map[string]bool {
	have := map[string]bool{}
	c := be.redis[p].Client()
	defer c.Close()
	for _, a := range acks {
		if c.Exists(context.Background(), a.key).Val() == 1 {
			have[a.key] = true
		}
	}
	return have
}

func (be *redisBackend) restore(int) {} // rejoins by itself

func (be *redisBackend) kill(p int)                       { be.redis[p].Kill() }
func (be *redisBackend) restart(p int)                    { be.redis[p].Restart() } // empty, and fenced until tether says otherwise
func (be *redisBackend) signal(p int, sig syscall.Signal) { be.redis[p].Signal(sig) }

// lossLimit: bytes of the replication stream, where the smallest SET of
// the suite takes 30 bytes.
func (be *redisBackend) lossLimit(lag uint64) uint64 { return lag / 30 }

// postgresql: resource db on a PostgreSQL 15 per copy node (node1 a
// streaming replica of node0), a write an INSERT of the key, acknowledged
// when its commit returns (asynchronous replication: acks: local).
type pgBackend struct {
	t    *testing.T
	root string
	b    *testbed.Bed
	pg   []*testbed.Postgres
}

func (be *pgBackend) resources(i int, doc map[string]any) []any {
	return []any{pgResource(i, doc, be.root)}
}

func (be *pgBackend) names() []string { return []string{"db"} }

// boot: the driver opens the data directory when tetherd starts.
func (be *pgBackend) boot(b *testbed.Bed) {
	be.b = b
	be.pg = append(be.pg, b.StartPostgresPrimary(0, be.root))
	be.exec(0, pgSchema)
	be.pg = append(be.pg, b.StartPostgresReplica(1, be.pg[0]))
}

func (be *pgBackend) up() {}

func (be *pgBackend) exec(i int, sql string) {
	be.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := be.pg[i].Client()
	defer c.Close()
	if err := c.Exec(ctx, sql); err != nil {
		be.t.Fatalf("node%d: %s: %v", i, sql, err)
	}
}

type pgSession struct{ c []*testbed.Client }

func (be *pgBackend) session() suiteSession {
	var s pgSession
	for i := range 2 {
		s.c = append(s.c, be.pg[i].Client())
	}
	return s
}

func (s pgSession) write(ctx context.Context, i int, key string, _ bool) bool {
	return s.c[i].Exec(ctx, "INSERT INTO w VALUES ($1)", key) == nil
}

func (s pgSession) close() {
	for _, c := range s.c {
		c.Close()
	}
}

func (be *pgBackend) local(int) bool { return true }

// mirroring: node m's server is in recovery and streams from the other
// node (the agent's status says it follows that node).
func (be *pgBackend) mirroring(m int, _ *status.Status) bool {
	return pgRole(be.pg[m]) == fmt.Sprintf("replica of %s (streaming)", be.b.IP(1-m, "hb0"))
}

func (be *pgBackend) present(p int, acks []ack) map[string]bool {
	have := map[string]bool{}
	keys := make([]string, 0, len(acks))
	for _, a := range acks {
		keys = append(keys, a.key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := be.pg[p].Connect(ctx)
	if err != nil {
		be.t.Errorf("present: node%d: %v", p, err)
		return have
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, "SELECT DISTINCT k FROM w WHERE k = ANY($1)", keys)
	if err != nil {
		be.t.Errorf("present: node%d: %v", p, err)
		return have
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if rows.Scan(&k) == nil {
			have[k] = true
		}
	}
	if rows.Err() != nil {
		be.t.Errorf("present: node%d: %v", p, rows.Err())
	}
	return have
}

func (be *pgBackend) restore(int) {} // tether rewinds it (pg_rewind)

func (be *pgBackend) kill(p int) { be.pg[p].Kill() }

// restart: crash recovery, started fenced as a deployment should
// (default_transaction_read_only in postgresql.auto.conf, which the
// driver's unfence resets): a server back on an old primary takes no
// write before tether has made it follow.
func (be *pgBackend) restart(p int) { be.pg[p].RestartFenced() }

func (be *pgBackend) signal(p int, sig syscall.Signal) { be.pg[p].Signal(sig) }

// lossLimit: the lag is bytes of WAL. One INSERT of the suite (its heap
// record and its commit record, no index) takes 120 bytes of WAL for the
// shortest key the suite writes (19 characters) and 104 for a 3-character
// one, measured with pg_current_wal_insert_lsn on PostgreSQL 15 (128 on
// average over 2000, with full-page images): 100 bytes a write is a
// conservative (generous) limit.
func (be *pgBackend) lossLimit(lag uint64) uint64 { return lag / 100 }
