package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/topicapi"
	"github.com/tether-ha/tether/testbed"
)

// ackedBatch is a produce the API answered: its records are durable.
type ackedBatch struct {
	base   int64
	values []string
}

// tetherd killed with SIGKILL while a producer writes as fast as it can,
// five times over: after each restart every acknowledged record is there
// at its offset, the log is contiguous, and what was written but not
// acknowledged is whole batches of the producer's (a batch is durable or
// gone, never torn).
func TestTopicsSurviveKill9(t *testing.T) {
	dataDir := t.TempDir()
	b := newBed(t, testbed.Options{EditConfig: func(i int, doc map[string]any) {
		if i == 0 {
			doc["replicator"] = map[string]any{"dir": filepath.Join(dataDir, "n0"), "api": "127.0.0.1:9188"}
		}
	}})
	c := topicapi.NewClient("127.0.0.1:9188").WithHTTPClient(testbed.HTTPClient(b.NodeNS(0)))
	ctx := context.Background()
	waitAPI := func() {
		deadline := time.Now().Add(upTimeout)
		for {
			if _, err := c.ListTopics(ctx); err == nil {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("topic API not answering: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitAPI()
	if _, err := c.CreateTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	var acked []ackedBatch
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 5 {
		var mu sync.Mutex
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				vals := make([]string, 20)
				raw := make([][]byte, len(vals))
				for k := range vals {
					vals[k] = fmt.Sprintf("r%d-%d-%d", round, seq, k)
					raw[k] = []byte(vals[k])
				}
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				r, err := c.Produce(pctx, "orders", raw)
				cancel()
				if err != nil {
					return // the agent died: nothing more is acknowledged
				}
				mu.Lock()
				acked = append(acked, ackedBatch{r.BaseOffset, vals})
				mu.Unlock()
			}
		}()
		time.Sleep(time.Duration(150+rng.IntN(300)) * time.Millisecond)
		b.Kill(0)
		close(stop)
		<-done
		b.Start(0)
		waitAPI()
		mu.Lock()
		checkAcked(t, c, acked)
		mu.Unlock()
	}
	t.Logf("%d batches of 20 acknowledged over 5 kills, all there", len(acked))
	if len(acked) < 10 {
		t.Fatalf("only %d batches acknowledged over 5 rounds: the test proves little", len(acked))
	}
	// The real CLI against the real agent.
	out, err := exec.Command("ip", "netns", "exec", b.NodeNS(0), filepath.Join(binDir, "tetherctl"), "topic", "describe", "orders").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Topic: orders") {
		t.Errorf("tetherctl topic describe: %v\n%s", err, out)
	}
}

// checkAcked reads the whole topic and checks it against what was
// acknowledged.
func checkAcked(t *testing.T, c *topicapi.Client, acked []ackedBatch) {
	t.Helper()
	var all []topicapi.Record
	for off := int64(0); ; {
		f, err := c.Consume(context.Background(), "orders", off, 0, 0)
		if err != nil {
			t.Fatalf("consume from %d after the restart: %v", off, err)
		}
		for _, r := range f.Records {
			if r.Offset != int64(len(all)) {
				t.Fatalf("record at offset %d, want %d: a gap", r.Offset, len(all))
			}
			all = append(all, r)
		}
		off = f.NextOffset
		if off >= f.HighWatermark || len(f.Records) == 0 {
			break
		}
	}
	for _, a := range acked {
		for k, v := range a.values {
			o := a.base + int64(k)
			if o >= int64(len(all)) || string(all[o].Value) != v {
				t.Fatalf("acknowledged record %q at offset %d lost after a kill -9 (log has %d records)", v, o, len(all))
			}
		}
	}
	// Beyond the last acknowledged batch: only whole batches of 20.
	var end int64
	if len(acked) > 0 {
		last := acked[len(acked)-1]
		end = last.base + int64(len(last.values))
	}
	if extra := int64(len(all)) - end; extra%20 != 0 {
		t.Errorf("%d records beyond the last acknowledged batch: not whole batches", extra)
	}
}
