package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tether-ha/tether/bench/internal/bedutil"
	"github.com/tether-ha/tether/replicator/driver/builtin"
	"github.com/tether-ha/tether/replicator/topicapi"
	"github.com/tether-ha/tether/testbed"
)

// The bed's resources: each has one topic of its name, primary on node0,
// mirrored to node1.
const (
	topicBulk  = "bulk"  // acks: local; throughput, rtt, reopen
	topicLat   = "lat"   // acks: local; latency
	topicAcked = "acked" // acks: mirror; acks
)

// Addresses inside every node's namespace.
const (
	apiAddr     = "127.0.0.1:9188"
	metricsAddr = "127.0.0.1:9187"
	pprofAddr   = "127.0.0.1:6060"
)

// Nodes of the pair.
const (
	primary = 0
	mirror  = 1
)

// Timeouts: one call of the topic API; a bed or a server to be ready.
const (
	requestTimeout = 10 * time.Second
	upTimeout      = 30 * time.Second
)

// mirrorBed is e2e/mirror_test.go's bed on hb0 and hb1 with channels
// [ether, tcp]: two nodes, a replicator on each in its own directory.
type mirrorBed struct {
	*testbed.Bed
	dirs []string
	api  []*topicapi.Client // one per node, for status and control
}

func newMirrorBed(t testbed.T, o options) *mirrorBed {
	// Removed after the bed's own cleanup has stopped the agents
	// (cleanups run last registered first).
	data, err := os.MkdirTemp("", "tbmirror")
	if err != nil {
		t.Fatalf("replicator dirs: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	dirs := []string{filepath.Join(data, "n0"), filepath.Join(data, "n1")}
	to := testbed.Options{Nodes: 2, BinDir: o.bin, Networks: []testbed.NetworkSpec{
		{Name: "hb0", Channels: []string{"ether", "tcp"}},
		{Name: "hb1", Channels: []string{"ether", "tcp"}},
	}, EditConfig: func(i int, doc map[string]any) {
		doc["replicator"] = map[string]any{"dir": dirs[i], "api": apiAddr}
		doc["metrics"] = map[string]any{"listen": metricsAddr}
		res := func(name, acks string) map[string]any {
			r := map[string]any{"name": name, "driver": "builtin", "primary": "node0", "mirror": "node1",
				"topics": []any{name}, "acks": acks}
			if acks == "mirror" {
				r["acks_timeout"] = "3s"
			}
			return r
		}
		doc["resources"] = []any{res(topicBulk, "local"), res(topicLat, "local"), res(topicAcked, "mirror")}
	}}
	if o.pprof != "" {
		to.ExtraArgs = []string{"--pprof", pprofAddr}
	}
	b := testbed.New(t, to)
	m := &mirrorBed{Bed: b, dirs: dirs}
	for i := range 2 {
		m.api = append(m.api, m.client(i))
	}
	b.StartAll()
	return m
}

// client returns a topic API client of node i with its own connections
// (one per concurrent user: testbed.HTTPClient keeps only a few idle).
func (m *mirrorBed) client(i int) *topicapi.Client {
	hc := testbed.HTTPClient(m.NodeNS(i))
	hc.Timeout = requestTimeout
	if tr, ok := hc.Transport.(*http.Transport); ok {
		tr.MaxIdleConnsPerHost = 16
	}
	return topicapi.NewClient(apiAddr).WithHTTPClient(hc)
}

// waitReady waits until every link and channel is up and both topic APIs
// answer with every resource's topic in place.
func (m *mirrorBed) waitReady() error {
	if err := bedutil.WaitAllChannelsUp(m.Bed, upTimeout); err != nil {
		return err
	}
	for i := range 2 {
		if err := m.waitAPI(i, upTimeout); err != nil {
			return err
		}
	}
	return nil
}

// waitAPI waits until node i's topic API describes every topic.
func (m *mirrorBed) waitAPI(i int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var err error
		for _, tp := range []string{topicBulk, topicLat, topicAcked} {
			if _, err = m.topic(i, tp); err != nil {
				break
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node%d: topic API not ready after %v: %w", i, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// topic describes topic on node i.
func (m *mirrorBed) topic(i int, name string) (topicapi.Topic, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	return m.api[i].DescribeTopic(ctx, name)
}

// mirrorTopic is the mirror status of topic (its own resource) on node i.
func (m *mirrorBed) mirrorTopic(i int, name string) (builtin.TopicStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	r, err := m.api[i].Mirror(ctx, name)
	if err != nil {
		return builtin.TopicStatus{}, err
	}
	for _, ts := range r.Topics {
		if ts.Topic == name {
			return ts, nil
		}
	}
	return builtin.TopicStatus{}, fmt.Errorf("node%d: resource %s has no topic %s", i, name, name)
}

// waitCaughtUp waits until the mirror's log of topic ends where the
// primary's does, polling every `every`; it returns when it saw it.
func (m *mirrorBed) waitCaughtUp(name string, every, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		p, err := m.topic(primary, name)
		if err != nil {
			return time.Time{}, err
		}
		q, err := m.topic(mirror, name)
		if err != nil {
			return time.Time{}, err
		}
		if q.LogEndOffset == p.LogEndOffset {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: the mirror's log ends at %d, the primary's at %d after %v", name, q.LogEndOffset, p.LogEndOffset, timeout)
		}
		time.Sleep(every)
	}
}

// pauseMirror pauses (or resumes) the mirror of topic on node1.
func (m *mirrorBed) pauseMirror(name string, pause bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	op := m.api[mirror].ResumeMirror
	if pause {
		op = m.api[mirror].PauseMirror
	}
	_, err := op(ctx, name, nil)
	return err
}
