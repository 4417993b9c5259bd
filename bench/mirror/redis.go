package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tether-ha/tether/bench/internal/stats"
	"github.com/tether-ha/tether/testbed"
)

// Redis on the bed.
const (
	redisPort     = "6379"
	redisNet      = "hb0"
	redisStop     = 10 * time.Second // SIGTERM → SIGKILL
	redisPoll     = 20 * time.Millisecond
	redisTimeout  = 5 * time.Minute // fill, full sync
	benchClients  = 16              // redis-benchmark -c
	benchPipeline = 32              // redis-benchmark -P
	// setStreamBytes is one redis-benchmark SET in the replication
	// stream: *3 $3 SET $16 key:<12 digits> $1024 <value>, CRLF after each.
	setStreamBytes = 4 + 4 + 5 + 5 + 18 + 7 + recordSize + 2
)

// redisTools are what the part runs, with the Debian package of each.
var redisTools = [][2]string{{"redis-server", "redis-server"}, {"redis-cli", "redis-tools"}, {"redis-benchmark", "redis-tools"}}

// RedisResult is Redis replication on the same bed with the same values.
type RedisResult struct {
	Skipped   string   `json:"skipped,omitempty"`
	Version   string   `json:"version,omitempty"`
	Command   []string `json:"primary_command,omitempty"` // redis-server's arguments (the replica's differ in address and dir)
	Values    int64    `json:"values"`
	ValueSize int      `json:"value_size"`
	// Fill is redis-cli --pipe of every SET on the primary.
	Fill     *RedisFill  `json:"fill,omitempty"`
	FullSync *RedisSync  `json:"full_sync,omitempty"`
	Stream   *RedisDrive `json:"streaming,omitempty"`
}

// RedisFill is the primary's fill.
type RedisFill struct {
	Seconds     float64 `json:"seconds"`
	ValuesPerS  float64 `json:"values_per_s"`
	MBPerS      float64 `json:"value_mb_per_s"`
	UsedMemory  int64   `json:"used_memory_bytes"`
	DatasetSize int64   `json:"used_memory_dataset_bytes"`
}

// RedisSync is REPLICAOF on the replica until it is up with every key.
type RedisSync struct {
	Seconds  float64 `json:"seconds"`
	MBPerS   float64 `json:"value_mb_per_s"` // values × value size ÷ seconds
	RDBBytes int64   `json:"rdb_bytes"`      // the replica's copy of the snapshot
	Keys     int64   `json:"keys"`
	Use
}

// RedisDrive is redis-benchmark writing at full speed, replicated.
type RedisDrive struct {
	Clients  int     `json:"clients"`
	Pipeline int     `json:"pipeline"`
	Seconds  float64 `json:"seconds"`
	// Stream bytes per second (master_repl_offset on the primary,
	// slave_repl_offset on the replica), 10^6.
	PrimaryMBPerS float64 `json:"primary_stream_mb_per_s"`
	ReplicaMBPerS float64 `json:"replica_stream_mb_per_s"`
	// ReplicaValuesPerS: the replica's stream ÷ setStreamBytes; its
	// ValueMBPerS the same × value size (as the mirror's records).
	ReplicaValuesPerS float64 `json:"replica_values_per_s"`
	ValueMBPerS       float64 `json:"replica_value_mb_per_s"`
	OpsPerS           float64 `json:"primary_commands_per_s"`
	// Lag: master_repl_offset − slave_repl_offset, the primary read
	// first; in bytes and in SETs (÷ setStreamBytes).
	LagBytes  Spread          `json:"lag_bytes"`
	LagValues Spread          `json:"lag_values"`
	CatchUpMs float64         `json:"catch_up_ms"` // benchmark stopped → offsets equal
	Timeline  []RedisInterval `json:"timeline"`
	Use
}

// RedisInterval is about one second of streaming.
type RedisInterval struct {
	AtS           float64 `json:"at_s"`
	ReplicaMBPerS float64 `json:"replica_stream_mb_per_s"`
	LagBytes      int64   `json:"lag_bytes"`
}

// redisServer is one redis-server in a node's namespace, and one
// redis-cli in the same namespace that this program feeds commands (one
// process and one connection for all of them: a reply in well under a
// millisecond, where a redis-cli per command takes several).
type redisServer struct {
	m      *mirrorBed
	node   int
	ns, ip string
	dir    string
	srv    *child
	args   []string // redis-server's
	once   sync.Once

	mu   sync.Mutex // one command at a time on the cli
	cli  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	cerr error // the cli broke
}

// replyEnd is echoed after every command to find the end of its reply.
const replyEnd = "__tether_bench_end__"

// runRedis runs the redis part: fill the primary with o.fillRecords()
// values, full sync of a replica, then streaming under redis-benchmark.
func runRedis(t testbed.T, m *mirrorBed, o options) (*RedisResult, error) {
	r := &RedisResult{Values: o.fillRecords(), ValueSize: recordSize}
	for _, tool := range redisTools {
		if _, err := exec.LookPath(tool[0]); err != nil {
			msg := fmt.Sprintf("%s not found on PATH (Debian package %s; ./.ci/deps --bench installs it)", tool[0], tool[1])
			if os.Getenv("CI") == "true" {
				return r, fmt.Errorf("%s", msg)
			}
			t.Logf("redis: %s: SKIPPED", msg)
			r.Skipped = msg
			return r, nil
		}
	}
	if out, err := exec.Command("redis-server", "--version").Output(); err == nil {
		r.Version = strings.TrimSpace(string(out))
	}
	data, err := os.MkdirTemp("", "tbredis")
	if err != nil {
		return r, err
	}
	t.Cleanup(func() { os.RemoveAll(data) }) // after the servers' cleanups
	var srv [2]*redisServer
	for i := range srv {
		if srv[i], err = startRedis(t, m, i, filepath.Join(data, fmt.Sprintf("n%d", i))); err != nil {
			return r, err
		}
		defer srv[i].stop()
	}
	r.Command = srv[0].args
	t.Logf("redis: %s; primary %s:%s (node0), replica %s:%s (node1)", r.Version, srv[0].ip, redisPort, srv[1].ip, redisPort)

	t.Logf("redis: fill the primary with %d values of %d B (redis-cli --pipe)", r.Values, recordSize)
	if r.Fill, err = srv[0].fill(r.Values); err != nil {
		return r, err
	}
	t.Logf("redis: fill %.1f s, %.1f MB/s of values", r.Fill.Seconds, r.Fill.MBPerS)
	if r.FullSync, err = fullSync(m, srv[0], srv[1], r.Values); err != nil {
		return r, err
	}
	t.Logf("redis: full sync of %d keys in %.2f s: %.1f MB/s of values (RDB %d B)", r.FullSync.Keys, r.FullSync.Seconds, r.FullSync.MBPerS, r.FullSync.RDBBytes)
	t.Logf("redis: streaming, redis-benchmark -c %d -P %d SET of %d B values for %v", benchClients, benchPipeline, recordSize, o.sustain)
	if r.Stream, err = stream(m, srv[0], srv[1], r.Values, o.sustain); err != nil {
		return r, err
	}
	s := r.Stream
	t.Logf("redis: streaming: replica %.1f MB/s of stream (%.0f SETs/s, %.1f MB/s of values), lag p50 %.0f max %.0f B, caught up %.0f ms after the benchmark stopped",
		s.ReplicaMBPerS, s.ReplicaValuesPerS, s.ValueMBPerS, s.LagBytes.P50, s.LagBytes.Max, s.CatchUpMs)
	return r, nil
}

// startRedis starts redis-server in node i's namespace on its redisNet
// address with dir as its directory, no persistence (save "" and no
// AOF: both sides keep the data in memory, as replication needs), a full
// sync started at once (repl-diskless-sync-delay 0: by default the
// primary waits 5 s for more replicas before it streams the snapshot),
// and registers its stop.
func startRedis(t testbed.T, m *mirrorBed, i int, dir string) (*redisServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &redisServer{m: m, node: i, ns: m.NodeNS(i), ip: m.IP(i, redisNet).String(), dir: dir}
	s.args = []string{"redis-server", "--bind", s.ip, "--port", redisPort, "--protected-mode", "no",
		"--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"), "--daemonize", "no"}
	var err error
	if s.srv, err = startChild(s.ns, nil, s.args...); err != nil {
		return nil, err
	}
	t.Cleanup(s.stop)
	err = poll(fmt.Sprintf("redis-server on node%d", i), upTimeout, redisPoll, s.srv, func() error {
		out, err := s.m.Exec(s.ns, "redis-cli", "-h", s.ip, "-p", redisPort, "PING")
		if err == nil && strings.TrimSpace(out) != "PONG" {
			err = fmt.Errorf("PING: %q", out)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, s.logTail())
	}
	return s, s.startCLI()
}

// startCLI starts the redis-cli this program talks to s through.
func (s *redisServer) startCLI() error {
	s.cli = exec.Command("ip", "netns", "exec", s.ns, "redis-cli", "-h", s.ip, "-p", redisPort)
	s.cli.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	var err error
	if s.in, err = s.cli.StdinPipe(); err != nil {
		return err
	}
	out, err := s.cli.StdoutPipe()
	if err != nil {
		return err
	}
	s.out = bufio.NewReaderSize(out, 1<<16)
	if err := s.cli.Start(); err != nil {
		return fmt.Errorf("redis-cli for node%d: %w", s.node, err)
	}
	return nil
}

// do runs one command (its words, no quoting needed) and returns the
// reply as redis-cli prints it without a terminal.
func (s *redisServer) do(args ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cerr != nil {
		return "", s.cerr
	}
	if _, err := fmt.Fprintf(s.in, "%s\nECHO %s\n", strings.Join(args, " "), replyEnd); err != nil {
		s.cerr = fmt.Errorf("redis-cli for node%d: %w", s.node, err)
		return "", s.cerr
	}
	var b strings.Builder
	for {
		line, err := s.out.ReadString('\n')
		if err != nil {
			s.cerr = fmt.Errorf("redis-cli for node%d: %w after %q", s.node, err, b.String())
			return "", s.cerr
		}
		if strings.TrimSpace(line) == replyEnd {
			return b.String(), nil
		}
		b.WriteString(line)
	}
}

// stop ends the cli and the server (SIGTERM, then SIGKILL); once.
func (s *redisServer) stop() {
	s.once.Do(func() {
		if s.cli != nil {
			s.in.Close()
			_ = s.cli.Process.Kill()
			_ = s.cli.Wait()
		}
		s.srv.stop(syscall.SIGTERM, redisStop)
	})
}

func (s *redisServer) logTail() string {
	data, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

// info returns the fields of INFO [section].
func (s *redisServer) info(section string) (map[string]string, error) {
	args := []string{"INFO"}
	if section != "" {
		args = append(args, section)
	}
	out, err := s.do(args...)
	if err != nil {
		return nil, err
	}
	return parseInfo(out), nil
}

// parseInfo parses INFO's "key:value" lines.
func parseInfo(out string) map[string]string {
	f := map[string]string{}
	for line := range strings.SplitSeq(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(k, "#") {
			f[k] = v
		}
	}
	return f
}

// infoInt reads an integer field of INFO.
func infoInt(f map[string]string, key string) (int64, error) {
	v, ok := f[key]
	if !ok {
		return 0, fmt.Errorf("INFO has no %s", key)
	}
	return strconv.ParseInt(v, 10, 64)
}

// fill writes n SETs of 1 KiB values through redis-cli --pipe.
func (s *redisServer) fill(n int64) (*RedisFill, error) {
	cmd := exec.Command("ip", "netns", "exec", s.ns, "redis-cli", "-h", s.ip, "-p", redisPort, "--pipe")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	werr := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(in, 1<<20)
		var tag []byte
		for k := range n {
			key := strconv.AppendInt([]byte("k:"), k, 10)
			tag = strconv.AppendInt(tag[:0], k, 10)
			fmt.Fprintf(w, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n", len(key), key, recordSize)
			w.Write(value(tag))
			w.WriteString("\r\n")
		}
		err := w.Flush()
		in.Close()
		werr <- err
	}()
	err = cmd.Wait()
	el := time.Since(start)
	if e := <-werr; err == nil {
		err = e
	}
	if err != nil || !strings.Contains(out.String(), "errors: 0,") {
		return nil, fmt.Errorf("redis-cli --pipe: %v: %s", err, strings.TrimSpace(out.String()))
	}
	f := &RedisFill{Seconds: stats.Round3(el.Seconds())}
	f.ValuesPerS = stats.Round3(float64(n) / el.Seconds())
	f.MBPerS = stats.Round3(float64(n*recordSize) / el.Seconds() / 1e6)
	mem, err := s.info("memory")
	if err != nil {
		return f, err
	}
	f.UsedMemory, _ = infoInt(mem, "used_memory")
	f.DatasetSize, _ = infoInt(mem, "used_memory_dataset")
	return f, nil
}

// redisUse measures the two servers and this program.
func redisUse(m *mirrorBed, p, q *redisServer, more ...*child) (*phase, error) {
	pids := []int{p.srv.pid(), q.srv.pid()}
	names := []string{"redis-server primary (node0)", "redis-server replica (node1)"}
	for _, c := range more {
		pids = append(pids, c.pid())
		names = append(names, filepath.Base(c.cmd.Args[4]))
	}
	return beginUseOf(m, append(pids, os.Getpid()), append(names, "bench (sampling)"))
}

// fullSync makes q the replica of p and waits until its link is up and
// it holds n keys.
func fullSync(m *mirrorBed, p, q *redisServer, n int64) (*RedisSync, error) {
	ph, err := redisUse(m, p, q)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if out, err := q.do("REPLICAOF", p.ip, redisPort); err != nil || !strings.Contains(out, "OK") {
		return nil, fmt.Errorf("REPLICAOF: %v %s", err, out)
	}
	r := &RedisSync{}
	for {
		f, err := q.info("replication")
		if err != nil {
			return nil, err
		}
		if f["master_link_status"] == "up" && f["master_sync_in_progress"] == "0" {
			out, err := q.do("DBSIZE")
			if err != nil {
				return nil, err
			}
			if r.Keys, err = strconv.ParseInt(strings.TrimSpace(out), 10, 64); err != nil {
				return nil, fmt.Errorf("DBSIZE: %q", out)
			}
			if r.Keys == n {
				break
			}
		}
		if time.Since(start) > redisTimeout {
			return nil, fmt.Errorf("full sync: after %v the replica has %d keys, link %s", redisTimeout, r.Keys, f["master_link_status"])
		}
		time.Sleep(redisPoll)
	}
	el := time.Since(start)
	if r.Use, err = ph.end(); err != nil {
		return nil, err
	}
	r.Seconds = stats.Round3(el.Seconds())
	r.MBPerS = stats.Round3(float64(n*recordSize) / el.Seconds() / 1e6)
	if fi, err := os.Stat(filepath.Join(q.dir, "dump.rdb")); err == nil {
		r.RDBBytes = fi.Size()
	}
	return r, nil
}

// offsets reads the primary's master_repl_offset and total commands and
// the replica's slave_repl_offset at the same time (both asked at once).
func offsets(p, q *redisServer) (at time.Time, master, slave, cmds int64, err error) {
	var g map[string]string
	var gerr error
	var wg sync.WaitGroup
	wg.Go(func() { g, gerr = q.info("replication") })
	f, err := p.info("")
	wg.Wait()
	at = time.Now()
	if err == nil {
		err = gerr
	}
	if err != nil {
		return at, 0, 0, 0, err
	}
	if master, err = infoInt(f, "master_repl_offset"); err != nil {
		return at, 0, 0, 0, err
	}
	if cmds, err = infoInt(f, "total_commands_processed"); err != nil {
		return at, 0, 0, 0, err
	}
	slave, err = infoInt(g, "slave_repl_offset")
	return at, master, slave, cmds, err
}

type redisSample struct {
	at                  time.Time
	master, slave, cmds int64
}

// stream runs redis-benchmark against p for dur and samples the offsets.
func stream(m *mirrorBed, p, q *redisServer, keys int64, dur time.Duration) (*RedisDrive, error) {
	r := &RedisDrive{Clients: benchClients, Pipeline: benchPipeline}
	var out bytes.Buffer
	bench, err := startChild(p.ns, &out, "redis-benchmark", "-h", p.ip, "-p", redisPort, "-t", "set",
		"-d", strconv.Itoa(recordSize), "-r", strconv.FormatInt(keys, 10), "-n", "2000000000",
		"-c", strconv.Itoa(benchClients), "-P", strconv.Itoa(benchPipeline), "-q")
	if err != nil {
		return nil, err
	}
	kill := func() { bench.stop(syscall.SIGKILL, 0) }
	defer kill()
	ph, err := redisUse(m, p, q, bench)
	if err != nil {
		return nil, err
	}
	var samples []redisSample
	deadline := time.Now().Add(dur)
	for time.Now().Before(deadline) {
		at, ma, sl, cmds, err := offsets(p, q)
		if err != nil {
			return nil, err
		}
		samples = append(samples, redisSample{at, ma, sl, cmds})
		select {
		case <-bench.done:
			return nil, fmt.Errorf("redis-benchmark exited: %s", strings.TrimSpace(out.String()))
		case <-time.After(samplePoll):
		}
	}
	stopped := time.Now()
	if r.Use, err = ph.end(); err != nil { // while redis-benchmark's /proc is there
		return nil, err
	}
	kill()
	for {
		_, ma, sl, _, err := offsets(p, q)
		if err != nil {
			return nil, err
		}
		if sl >= ma {
			r.CatchUpMs = stats.Ms(time.Since(stopped))
			break
		}
		if time.Since(stopped) > redisTimeout {
			return nil, fmt.Errorf("the replica is %d B behind %v after the benchmark stopped", ma-sl, redisTimeout)
		}
		time.Sleep(redisPoll)
	}
	if len(samples) < 2 {
		return nil, fmt.Errorf("%d samples", len(samples))
	}
	r.summarize(samples)
	return r, nil
}

func (r *RedisDrive) summarize(ss []redisSample) {
	a, z := ss[0], ss[len(ss)-1]
	span := z.at.Sub(a.at).Seconds()
	r.Seconds = stats.Round3(span)
	r.PrimaryMBPerS = stats.Round3(float64(z.master-a.master) / span / 1e6)
	r.ReplicaMBPerS = stats.Round3(float64(z.slave-a.slave) / span / 1e6)
	r.ReplicaValuesPerS = stats.Round3(float64(z.slave-a.slave) / setStreamBytes / span)
	r.ValueMBPerS = stats.Round3(r.ReplicaValuesPerS * recordSize / 1e6)
	r.OpsPerS = stats.Round3(float64(z.cmds-a.cmds) / span)
	var lb, lv []float64
	for _, s := range ss {
		l := float64(max(0, s.master-s.slave))
		lb = append(lb, l)
		lv = append(lv, l/setStreamBytes)
	}
	r.LagBytes, r.LagValues = spread(lb), spread(lv)
	perSecond(len(ss), func(i int) time.Time { return ss[i].at }, func(i, j int) {
		x, y := ss[i], ss[j]
		r.Timeline = append(r.Timeline, RedisInterval{AtS: stats.Round3(y.at.Sub(a.at).Seconds()),
			ReplicaMBPerS: stats.Round3(float64(y.slave-x.slave) / y.at.Sub(x.at).Seconds() / 1e6), LagBytes: max(0, y.master-y.slave)})
	})
}
