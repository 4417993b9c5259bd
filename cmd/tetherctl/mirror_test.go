package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/driver/builtin"
	"github.com/tether-ha/tether/replicator/resource"
	"github.com/tether-ha/tether/replicator/topicapi"
	"github.com/tether-ha/tether/replicator/topics"
)

type noPeer struct{}

func (noPeer) Dial(context.Context, string) (builtin.Stream, error) {
	return nil, errors.New("test: the primary is unreachable")
}

// mirrorServer runs a real builtin driver as the mirror of a resource
// whose primary is unreachable, behind a real API; the two-node flows are
// in replicator/driver/builtin and e2e.
func mirrorServer(t *testing.T) (string, *topics.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := topics.Open(dir, topics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	states, err := resource.Open(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := builtin.New(builtin.Config{Self: "node1", Store: st, States: states, Dialer: noPeer{},
		Resources:      []builtin.ResourceConfig{{Name: "orders", Primary: "node0", Mirror: "node1", Topics: []string{"orders"}, AcksTimeout: time.Second}},
		RequestTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := topicapi.Listen("127.0.0.1:0", st, topicapi.WithMirrors(m, dir+"/exports"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = srv.Serve(ctx); done <- struct{}{} }()
	go func() { m.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		st.Close()
	})
	return srv.Addr().String(), st
}

func TestMirrorCommands(t *testing.T) {
	api, _ := mirrorServer(t)
	code, out, errs := ctlIn("", "mirror", "list", "--api", api)
	if code != 0 || !strings.Contains(out, "Resource  Role    Epoch  Primary  Mirror  Acks   Topics  MaxLag") ||
		!strings.Contains(out, "orders    mirror  1      node0    node1   local  1") {
		t.Fatalf("list: %d\n%s%s", code, out, errs)
	}
	code, out, _ = ctlIn("", "mirror", "describe", "orders", "--api", api)
	if code != 0 || !strings.Contains(out, "Resource: orders  Role: mirror  Epoch: 1  Primary: node0") ||
		!strings.Contains(out, "Topic: orders  State: ") || !strings.Contains(out, "DestLogEndOffset: 0  LastFetchSourceHighWatermark: 0") {
		t.Errorf("describe:\n%s", out)
	}
	// Writes to a mirror topic are refused with Cluster Linking's words.
	code, _, errs = ctlIn("x\n", "topic", "produce", "orders", "--api", api)
	if code != 1 || !strings.Contains(errs, "cannot append records to read-only mirror topic 'orders'") {
		t.Errorf("produce to the mirror: %d %q", code, errs)
	}
	code, out, _ = ctlIn("", "mirror", "pause", "orders", "--api", api)
	if code != 0 || !strings.Contains(out, "State: PAUSED") {
		t.Errorf("pause:\n%s", out)
	}
	// Paused: promote refuses, exit 1, nothing changed.
	code, _, errs = ctlIn("", "mirror", "promote", "orders", "--api", api, "--timeout", "1s")
	if code != 1 || !strings.Contains(errs, "paused") {
		t.Errorf("promote while paused: %d %q", code, errs)
	}
	if code, out, _ := ctlIn("", "mirror", "resume", "orders", "--api", api); code != 0 || strings.Contains(out, "PAUSED") {
		t.Errorf("resume:\n%s", out)
	}
	// The primary unreachable: promote refuses (exit 1), failover goes on.
	code, _, errs = ctlIn("", "mirror", "promote", "orders", "--api", api, "--timeout", "1s")
	if code != 1 || !strings.Contains(errs, "failover promotes without it") {
		t.Errorf("promote without the primary: %d %q", code, errs)
	}
	code, out, errs = ctlIn("", "mirror", "failover", "orders", "--api", api, "--json")
	var res builtin.PromoteResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Kind != "failover" || res.EpochAfter != 2 || res.Told {
		t.Fatalf("failover: %d %+v\n%s%s", code, res, out, errs)
	}
	if code, out, _ := ctlIn("x\n", "topic", "produce", "orders", "--api", api); code != 0 || !strings.Contains(out, "Produced 1 record") {
		t.Errorf("produce after the failover: %d %s", code, out)
	}
	code, _, errs = ctlIn("", "mirror", "failover", "orders", "--api", api)
	if code != 1 || !strings.Contains(errs, "not its mirror") {
		t.Errorf("failover on the primary: %d %q", code, errs)
	}
	code, _, errs = ctlIn("", "mirror", "truncate-and-restore", "orders", "--api", api)
	if code != 1 || !strings.Contains(errs, "for an old primary") {
		t.Errorf("truncate-and-restore on the primary: %d %q", code, errs)
	}
	if code, _, errs := ctlIn("", "mirror", "describe", "nope", "--api", api); code != 1 || !strings.Contains(errs, "no such resource") {
		t.Errorf("unknown resource: %d %q", code, errs)
	}
	for _, args := range [][]string{{"mirror"}, {"mirror", "describe"}, {"mirror", "promote", "orders", "--topic", "x"}, {"mirror", "bogus", "orders"}, {"mirror", "create", "orders"}} {
		if code, _, _ := ctlIn("", append(args, "--api", api)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
