package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/tether-ha/tether/replicator/topicapi"
	"github.com/tether-ha/tether/replicator/topics"
)

// topicServer runs a real topic API on a real store in a temporary
// directory and returns its address.
func topicServer(t *testing.T) string {
	t.Helper()
	st, err := topics.Open(t.TempDir(), topics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := topicapi.Listen("127.0.0.1:0", st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	return srv.Addr().String()
}

// ctlIn runs tetherctl with stdin.
func ctlIn(stdin string, args ...string) (int, string, string) {
	var o, e bytes.Buffer
	code := runContext(context.Background(), args, func(string) string { return "" }, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

func TestTopicCommands(t *testing.T) {
	api := topicServer(t)
	if code, out, errs := ctlIn("", "topic", "create", "orders", "--api", api); code != 0 || !strings.Contains(out, "Created topic orders") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	if code, _, errs := ctlIn("", "topic", "create", "orders", "--api", api); code != 1 || !strings.Contains(errs, "orders") {
		t.Errorf("create twice: exit %d %q, want 1 naming the topic", code, errs)
	}
	code, out, errs := ctlIn("a\nb b\nc\n", "topic", "produce", "orders", "--api", api, "--batch", "2")
	if code != 0 || !strings.Contains(out, "Produced 3 records to orders at offsets 0..2.") {
		t.Fatalf("produce: %d %q %q", code, out, errs)
	}
	if code, out, _ := ctlIn("", "topic", "consume", "orders", "--api", api); code != 0 || out != "a\nb b\nc\n" {
		t.Errorf("consume: %d %q", code, out)
	}
	if code, out, _ := ctlIn("", "topic", "consume", "orders", "--api", api, "--offset", "1", "--max", "1"); code != 0 || out != "b b\n" {
		t.Errorf("consume --offset 1 --max 1: %d %q", code, out)
	}
	// A group commits where it stopped and resumes there.
	if code, out, _ := ctlIn("", "topic", "consume", "orders", "--api", api, "--group", "g1", "--max", "2", "--commit"); code != 0 || out != "a\nb b\n" {
		t.Errorf("consume --group: %d %q", code, out)
	}
	if code, out, _ := ctlIn("", "topic", "consume", "orders", "--api", api, "--group", "g1"); code != 0 || out != "c\n" {
		t.Errorf("consume --group after the commit: %d %q, want the rest", code, out)
	}
	code, out, _ = ctlIn("", "topic", "consume", "orders", "--api", api, "--json", "--max", "1")
	var rec struct {
		Offset int64  `json:"offset"`
		Value  string `json:"value"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rec) != nil || rec.Offset != 0 || rec.Value != "a" {
		t.Errorf("consume --json: %d %q", code, out)
	}
	if code, out, _ := ctlIn("", "topic", "describe", "orders", "--api", api); code != 0 ||
		!strings.Contains(out, "LogEndOffset: 3") || !strings.Contains(out, "Group: g1  CommittedOffset: 2  Lag: 1") {
		t.Errorf("describe: %d\n%s", code, out)
	}
	if code, out, _ := ctlIn("", "topic", "list", "--api", api); code != 0 || !strings.Contains(out, "orders") || !strings.Contains(out, "primary") {
		t.Errorf("list: %d\n%s", code, out)
	}
	// Refusals: exit 1 with the API's sentence.
	if code, _, errs := ctlIn("", "topic", "consume", "orders", "--api", api, "--offset", "9"); code != 1 || errs == "" {
		t.Errorf("consume out of range: %d %q", code, errs)
	}
	if code, _, errs := ctlIn("", "topic", "describe", "nosuch", "--api", api); code != 1 || !strings.Contains(errs, "nosuch") {
		t.Errorf("describe unknown: %d %q", code, errs)
	}
	if code, _, errs := ctlIn("", "topic", "produce", "orders", "--api", api); code != 1 || !strings.Contains(errs, "no records") {
		t.Errorf("produce nothing: %d %q", code, errs)
	}
}

func TestTopicUsageAndUnreachable(t *testing.T) {
	for _, args := range [][]string{{"topic"}, {"topic", "frobnicate"}, {"topic", "create"}, {"topic", "consume", "x", "--commit"},
		{"topic", "list", "extra"}, {"topic", "produce", "x", "--batch", "0"}} {
		if code, _, errs := ctlIn("", args...); code != 2 || !strings.Contains(errs, "tetherctl topic -h") {
			t.Errorf("%v: exit %d %q, want 2 and the help hint", args, code, errs)
		}
	}
	if code, out, _ := ctlIn("", "topic", "-h"); code != 0 || !strings.Contains(out, "consume TOPIC") {
		t.Errorf("topic -h: %d", code)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if code, _, errs := ctlIn("", "topic", "list", "--api", addr); code != 2 || !strings.Contains(errs, "is tetherd running") {
		t.Errorf("unreachable API: %d %q", code, errs)
	}
}
