package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tether-ha/tether/agent/status"
	"github.com/tether-ha/tether/replicator/history"
	"github.com/tether-ha/tether/testbed"
)

// pgBed is three nodes on two networks: a real PostgreSQL 15 on node0
// (the primary of resource db) and node1 (its streaming replica), node2
// a witness.
type pgBed struct {
	*mirrorBed
	pg []*testbed.Postgres
}

// pgResource is resource db of node i's config: conninfo from the
// addresses the bed wrote, node i's own data directory.
func pgResource(i int, doc map[string]any, pgRoot string) map[string]any {
	nodes := doc["nodes"].([]any)
	ci := map[string]any{}
	for j := range 2 {
		a := nodes[j].(map[string]any)["addresses"].(map[string]any)["hb0"]
		ci[fmt.Sprintf("node%d", j)] = fmt.Sprintf("host=%v port=%d user=%s dbname=postgres sslmode=disable", a, testbed.PostgresPort, testbed.PostgresUser)
	}
	// The witness holds no copy and never opens it; the key is required.
	dataDir := testbed.PostgresDataDir(pgRoot, min(i, 1))
	return map[string]any{"name": "db", "driver": "postgresql", "primary": "node0", "mirror": "node1",
		"postgresql": map[string]any{"conninfo": ci, "data_dir": dataDir, "os_user": testbed.PostgresUser,
			"rewind": true, "timeout": "20s"}} // generous: -race, 2 cores
}

// pgSchema is the tables the tests write: keys, no index (the smallest
// WAL per write, see pgInsertWAL).
const pgSchema = "CREATE TABLE IF NOT EXISTS w (k text NOT NULL); CREATE TABLE IF NOT EXISTS probe (at timestamptz)"

func newPGBed(t *testing.T) *pgBed {
	testbed.RequireRoot(t)
	testbed.RequirePostgres(t)
	data := t.TempDir()
	dirs := []string{filepath.Join(data, "n0"), filepath.Join(data, "n1")}
	pgRoot := filepath.Join(data, "pg")
	b := testbed.New(t, testbed.Options{BinDir: binDir, Nodes: 3, Networks: tcpNets, EditConfig: func(i int, doc map[string]any) {
		doc["nodes"].([]any)[2].(map[string]any)["witness"] = true
		if i < 2 {
			doc["replicator"] = map[string]any{"dir": dirs[i], "api": "127.0.0.1:9188"}
		}
		doc["resources"] = []any{pgResource(i, doc, pgRoot)}
	}})
	// The servers first: the driver needs the data directories when
	// tetherd starts.
	pb := &pgBed{mirrorBed: &mirrorBed{Bed: b, t: t, dirs: dirs}}
	pb.pg = append(pb.pg, b.StartPostgresPrimary(0, pgRoot))
	pb.exec(0, pgSchema)
	pb.pg = append(pb.pg, b.StartPostgresReplica(1, pb.pg[0]))
	b.StartAll()
	b.WaitAllUp(upTimeout)
	return pb
}

// exec runs one statement on node i's server or fails the test.
func (pb *pgBed) exec(i int, sql string, args ...any) {
	pb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := pb.pg[i].Client()
	defer c.Close()
	if err := c.Exec(ctx, sql, args...); err != nil {
		pb.t.Fatalf("node%d: %s: %v", i, sql, err)
	}
}

// pgRole is node i's server as pg_is_in_recovery and pg_stat_wal_receiver
// see it: "primary", "replica of <sender> (<status>)", or "down: ...".
func pgRole(pg *testbed.Postgres) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c := pg.Client()
	defer c.Close()
	var rec bool
	var host, st *string
	err := c.QueryRow(ctx, `SELECT pg_is_in_recovery(), (SELECT sender_host FROM pg_stat_wal_receiver),
		(SELECT status FROM pg_stat_wal_receiver)`, nil, &rec, &host, &st)
	switch {
	case err != nil:
		return "down: " + err.Error()
	case !rec:
		return "primary"
	}
	deref := func(s *string) string {
		if s == nil {
			return "none"
		}
		return *s
	}
	return fmt.Sprintf("replica of %s (%s)", deref(host), deref(st))
}

// streamingFrom is pgRole's text for a replica streaming from node j.
func (pb *pgBed) streamingFrom(j int) string {
	return fmt.Sprintf("replica of %s (streaming)", pb.IP(j, "hb0"))
}

// writable waits until an INSERT on node i's server commits; it returns
// when.
func (pb *pgBed) writable(i int, timeout time.Duration) time.Time {
	pb.t.Helper()
	c := pb.pg[i].Client()
	defer c.Close()
	var err error
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = c.Exec(ctx, "INSERT INTO probe VALUES (now())")
		cancel()
		if err == nil {
			return time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	pb.t.Fatalf("node%d's postgres not writable after %v: %v", i, timeout, err)
	return time.Time{}
}

// write INSERTs w-<n> on node i's server; acknowledged: committed.
func (pb *pgBed) write(i int) *writer {
	c := pb.pg[i].Client()
	return startWriter(func(ctx context.Context, k string) error { return c.Exec(ctx, "INSERT INTO w VALUES ($1)", k) }, c.Close)
}

// have counts which of keys node i's server has.
func (pb *pgBed) have(i int, keys []string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := pb.pg[i].Client()
	defer c.Close()
	var n int
	err := c.QueryRow(ctx, "SELECT count(DISTINCT k) FROM w WHERE k = ANY($1)", []any{keys}, &n)
	return n, err
}

// lsn is a server's pg_current_wal_lsn (primary) or replay position.
func (pb *pgBed) lsn(i int) string {
	pb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := pb.pg[i].Client()
	defer c.Close()
	var s string
	if err := c.QueryRow(ctx, `SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text`, nil, &s); err != nil {
		pb.t.Fatalf("node%d: WAL position: %v", i, err)
	}
	return s
}

// A real PostgreSQL pair with a witness: tether fences the primary until
// quorum; kill -9 of the primary node (its tetherd and every postgres
// process) promotes the replica (pg_promote) after grace; the old node,
// back with a crash-recovered server whose WAL went past the promotion
// point (a diverged history), is fenced, rewound with pg_rewind and made
// a streaming replica of the new primary.
func TestFailoverPostgres(t *testing.T) {
	pb := newPGBed(t)
	pb.writable(0, upTimeout)
	pb.waitFor("node1's postgres to stream from node0's", 30*time.Second, func() bool {
		return pgRole(pb.pg[1]) == pb.streamingFrom(0)
	})
	w := pb.write(0)
	pb.waitFor("writes", 20*time.Second, func() bool { return w.count() > 200 })
	// The mirror's supervisor samples the lag every 250ms: let it see the
	// pair at work before the fault, as it would in production.
	pb.waitFor("node1 to sample the lag", 20*time.Second, func() bool {
		f := pb.failoverStatus2(1, "db")
		return strings.Contains(f.Backend, "replica of node0 (WAL receiver streaming)") && !strings.Contains(f.Backend, "error")
	})
	time.Sleep(time.Second)
	pb.Kill(0)
	pb.pg[0].Kill()
	killed := time.Now()
	acked := w.halt()
	defer func() {
		if t.Failed() {
			for i := range 2 {
				if st, err := pb.Status(i); err == nil {
					t.Logf("node%d's failover status: %+v", i, st.Failover)
				}
			}
		}
	}()
	took := pb.writable(1, 30*time.Second).Sub(killed)
	t.Logf("kill -9 of the primary node -> replica writable: %v (%d writes acknowledged before)", took, len(acked))
	if took < 3*time.Second {
		t.Errorf("node1's postgres writable %v after the kill: before grace (3s)", took)
	}
	// The record is written once the promotion is done, which may be a
	// moment after the back end took its first write.
	var r *history.Record
	deadline := time.Now().Add(10 * time.Second)
	for r == nil || r.EpochAfter != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no promotion to epoch 2 in node1's history: %+v", pb.history(1))
		}
		time.Sleep(50 * time.Millisecond)
		r = findRecord(pb.history(1), "promoted", "primary-dead")
	}
	t.Logf("promotion: lag given up %d bytes", r.LagGivenUp)
	// Asynchronous replication (acks: local): what was committed more
	// than a moment before the kill is on the new primary.
	if len(acked) <= 100 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}
	old := acked[:len(acked)-100]
	if n, err := pb.have(1, old); err != nil || n != len(old) {
		t.Errorf("of %d keys acknowledged well before the kill, the new primary has %d (%v)", len(old), n, err)
	}
	pb.exec(1, "INSERT INTO w VALUES ('after-failover')")
	// Where node1's timeline 2 forked off timeline 1.
	var fork string
	{
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c := pb.pg[1].Client()
		err := c.QueryRow(ctx, "SELECT split_part(pg_read_file('pg_wal/00000002.history'), E'\\t', 2)", nil, &fork)
		c.Close()
		cancel()
		if err != nil {
			t.Fatalf("node1's timeline history: %v", err)
		}
	}

	// The old primary node comes back: postgres first (crash recovery,
	// a primary on timeline 1 again: its end-of-recovery checkpoint
	// record is past the fork), then tetherd, which fences it, rewinds
	// it and makes it follow node1.
	pb.pg[0].Restart()
	at := pb.lsn(0)
	t.Logf("node0 restarted at %s; node1's timeline 2 forked at %s", at, fork)
	if cmpLSN(at, fork) <= 0 {
		t.Errorf("node0's WAL (%s) did not go past the fork (%s): nothing for pg_rewind to do", at, fork)
	}
	pb.Start(0)
	pb.waitFor("node0's postgres to be rewound into a replica streaming from node1's", 90*time.Second, func() bool {
		return pgRole(pb.pg[0]) == pb.streamingFrom(1)
	})
	{
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c := pb.pg[0].Client()
		err := c.Exec(ctx, "INSERT INTO w VALUES ('late')")
		c.Close()
		cancel()
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "25006" { // read_only_sql_transaction
			t.Fatalf("INSERT on the old primary's postgres: %v, want a read-only error", err)
		}
	}
	pb.waitFor("node0's postgres to have node1's rows", 20*time.Second, func() bool {
		n, err := pb.have(0, append([]string{"after-failover"}, old...))
		return err == nil && n == len(old)+1
	})
	pb.waitFor("node0's tetherctl failover status to show it the mirror at epoch 2", 20*time.Second, func() bool {
		out, _, _ := pb.ctl2(0, "--socket", pb.Socket(0), "failover", "status", "--json")
		var fs []status.Failover
		if json.Unmarshal([]byte(out), &fs) != nil {
			return false
		}
		for _, f := range fs {
			if f.Resource == "db" {
				return f.Role == "mirror" && f.Epoch == 2 && f.Primary == "node1"
			}
		}
		return false
	})
	out, err := pb.ctl(0, "--socket", pb.Socket(0), "failover", "status")
	t.Logf("node0: tetherctl failover status (exit: %v):\n%s", err, out)
}

// cmpLSN compares two X/Y WAL positions.
func cmpLSN(a, b string) int {
	pa, pb := parseLSN(a), parseLSN(b)
	switch {
	case pa < pb:
		return -1
	case pa > pb:
		return 1
	}
	return 0
}

func parseLSN(s string) uint64 {
	var hi, lo uint64
	if _, err := fmt.Sscanf(strings.TrimSpace(s), "%X/%X", &hi, &lo); err != nil {
		return 0
	}
	return hi<<32 | lo
}
