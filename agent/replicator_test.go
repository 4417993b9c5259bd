package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tether-ha/tether/agent/config"
	"github.com/tether-ha/tether/replicator/topicapi"
)

// A tetherd with a replicator section serves topics on replicator.api;
// what it acknowledged is there after a restart.
func TestDaemonServesTopics(t *testing.T) {
	path, _ := loConfig(t)
	dir := filepath.Join(t.TempDir(), "state")
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "replicator: {dir: %s, api: '%s'}\n", dir, api)
	f.Close()
	run := func(work func(c *topicapi.Client)) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		d := &Daemon{ConfigPath: path, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		go func() { done <- d.Run(ctx) }()
		c := topicapi.NewClient(api)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := c.ListTopics(context.Background()); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("topic API never answered: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		work(c)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	run(func(c *topicapi.Client) {
		if _, err := c.CreateTopic(ctx, "orders"); err != nil {
			t.Fatal(err)
		}
		if r, err := c.Produce(ctx, "orders", [][]byte{[]byte("one"), []byte("two")}); err != nil || r.BaseOffset != 0 {
			t.Fatalf("produce: %+v %v", r, err)
		}
	})
	run(func(c *topicapi.Client) {
		f, err := c.Consume(ctx, "orders", 0, 0, 0)
		if err != nil || len(f.Records) != 2 || string(f.Records[1].Value) != "two" || f.HighWatermark != 2 {
			t.Fatalf("after a restart: %+v %v", f, err)
		}
	})
}

// A replicator directory that cannot be used stops tetherd at start,
// naming it.
func TestReplicatorDirUnusable(t *testing.T) {
	path, _ := loConfig(t)
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "replicator: {dir: %s/sub, api: '127.0.0.1:%d'}\n", file, freePort(t))
	f.Close()
	d := &Daemon{ConfigPath: path, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	err := d.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "replicator.dir "+file+"/sub") {
		t.Fatalf("Run with an unusable replicator.dir: %v", err)
	}
}

func TestProcs(t *testing.T) {
	if got := Procs(&config.Config{}); got != 1 {
		t.Errorf("without a replicator: %d Ps, want 1", got)
	}
	want := min(2, runtime.NumCPU())
	if got := Procs(&config.Config{Replicator: &config.Replicator{}}); got != want {
		t.Errorf("with a replicator: %d Ps, want %d", got, want)
	}
}
