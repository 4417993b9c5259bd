package etcd

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-ha/tether/replicator/failover"
)

// These tests run the real etcd (Debian's etcd-server, which .ci/deps
// installs): the lease expiry the vote's safety rests on is etcd's.

type server struct {
	cmd *exec.Cmd
	url string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startEtcd(t *testing.T) *server {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		why := "etcd is not installed: install etcd-server (./.ci/deps does)"
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	dir := t.TempDir()
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	log, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--name", "t", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "t="+peer)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("etcd log:\n%s", b)
		}
	})
	s := &server{cmd: cmd, url: client}
	probe := s.voter(t, "probe", 9)
	eventually(t, 20*time.Second, "etcd to answer", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := probe.cli.Get(ctx, "x")
		return err == nil
	})
	return s
}

var nodes = map[string]uint16{"a": 1, "b": 2, "probe": 9}

func (s *server) voter(t *testing.T, name string, id uint16) *Voter {
	t.Helper()
	v, err := New(Config{Endpoints: []string{s.url}, Prefix: "/tether/test/", Self: name, SelfID: id, Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// running runs v until the returned stop is called (a crash: nothing is
// revoked) or the test ends.
func running(t *testing.T, v *Voter) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func eventually(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(timeout); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v", what, timeout)
		}
	}
}

func TestPrimaryHoldsTheKeyAndAMirrorCannotTakeIt(t *testing.T) {
	s := startEtcd(t)
	a, b := s.voter(t, "a", 1), s.voter(t, "b", 2)
	a.Want("orders", true, 1)
	b.Want("orders", false, 1)
	running(t, a)
	running(t, b)
	eventually(t, 5*time.Second, "a to hold the key", func() bool {
		w := a.Word("orders")
		return w.Mine && w.Epoch == 1 && time.Since(w.Renewed) < time.Second
	})
	eventually(t, 5*time.Second, "b to read a's key", func() bool {
		w := b.Word("orders")
		return w.Held && w.Holder == 1 && w.Epoch == 1 && !w.Mine && w.Revision > 0
	})
	_, err := b.Acquire(context.Background(), "orders", 2)
	if err == nil || !strings.Contains(err.Error(), "names a at epoch 1") {
		t.Fatalf("b took a live primary's key: %v", err)
	}
	// a keeps renewing: its word stays fresh for longer than the TTL.
	time.Sleep(DefaultTTL + 500*time.Millisecond)
	if w := a.Word("orders"); !w.Mine || time.Since(w.Renewed) > time.Second || w.Err != "" {
		t.Fatalf("a's key after a TTL: %+v", w)
	}
}

// The vote's safety: a crashed primary's key stays held for the TTL after
// its last renewal (far past its vote's term, selffence/2), then is free
// and a mirror takes it at the next epoch; the old primary, back, does
// not take it again.
func TestKeyOfADeadPrimaryFreesAfterTheTTL(t *testing.T) {
	s := startEtcd(t)
	a, b := s.voter(t, "a", 1), s.voter(t, "b", 2)
	a.Want("orders", true, 1)
	stopA := running(t, a)
	running(t, b)
	eventually(t, 5*time.Second, "a to hold the key", func() bool { return a.Word("orders").Mine })
	eventually(t, 5*time.Second, "b to read a's key", func() bool { return b.Word("orders").Held })
	stopA()
	last := a.Word("orders").Renewed
	var freeAt time.Time
	eventually(t, DefaultTTL+3*time.Second, "a's key to expire", func() bool {
		w := b.Word("orders")
		if !w.Held && w.ReadAt.After(last) {
			freeAt = w.ReadAt
			return true
		}
		return false
	})
	if held := freeAt.Sub(last); held < DefaultTTL-200*time.Millisecond {
		t.Fatalf("a's key was free %v after its last renewal: before the TTL (%v)", held, DefaultTTL)
	}
	if term := (failover.Config{}).WithDefaults().Term(); freeAt.Sub(last) < 2*term {
		t.Fatalf("key free %v after the renewal, within twice the vote's term %v", freeAt.Sub(last), term)
	}
	rev, err := b.Acquire(context.Background(), "orders", 2)
	if err != nil || rev == 0 {
		t.Fatalf("b could not take the free key: %v", err)
	}
	eventually(t, 5*time.Second, "b's round to show the key its own", func() bool {
		w := b.Word("orders")
		return w.Mine && w.Epoch == 2 && w.Revision >= rev && time.Since(w.Renewed) < time.Second
	})
	// a restarts, still believing it is primary at epoch 1.
	a2 := s.voter(t, "a", 1)
	a2.Want("orders", true, 1)
	running(t, a2)
	eventually(t, 5*time.Second, "a's new run to read b's key", func() bool {
		w := a2.Word("orders")
		return w.Held && w.Holder == 2 && w.Epoch == 2 && !w.Mine
	})
	time.Sleep(500 * time.Millisecond)
	if w := b.Word("orders"); !w.Mine || w.Epoch != 2 {
		t.Fatalf("the old primary took the key back: b's word %+v", w)
	}
}

// A primary restarted before its old lease expired takes its own key
// over at once (same node, same epoch).
func TestRestartedPrimaryTakesItsKeyOver(t *testing.T) {
	s := startEtcd(t)
	a := s.voter(t, "a", 1)
	a.Want("orders", true, 1)
	stop := running(t, a)
	eventually(t, 5*time.Second, "a to hold the key", func() bool { return a.Word("orders").Mine })
	stop()
	a2 := s.voter(t, "a", 1)
	a2.Want("orders", true, 1)
	start := time.Now()
	running(t, a2)
	eventually(t, 5*time.Second, "a's new run to hold the key", func() bool { return a2.Word("orders").Mine })
	if took := time.Since(start); took > DefaultTTL {
		t.Errorf("the restarted primary waited %v for its own key (its old lease's TTL is %v)", took, DefaultTTL)
	}
}

// A node promoted by an operator at a higher epoch takes the key from
// the lower one: a lower epoch never wins.
func TestHigherEpochTakesTheKey(t *testing.T) {
	s := startEtcd(t)
	a, b := s.voter(t, "a", 1), s.voter(t, "b", 2)
	a.Want("orders", true, 1)
	running(t, a)
	eventually(t, 5*time.Second, "a to hold the key", func() bool { return a.Word("orders").Mine })
	b.Want("orders", true, 2)
	running(t, b)
	eventually(t, 5*time.Second, "b at epoch 2 to take the key", func() bool {
		w := b.Word("orders")
		return w.Mine && w.Epoch == 2
	})
	eventually(t, 5*time.Second, "a to see it has lost the key", func() bool {
		w := a.Word("orders")
		return !w.Mine && w.Holder == 2 && w.Epoch == 2
	})
}

// etcd frozen: the words go stale and say why; the vote comes back with it.
func TestEtcdUnreachable(t *testing.T) {
	s := startEtcd(t)
	a := s.voter(t, "a", 1)
	a.Want("orders", true, 1)
	running(t, a)
	eventually(t, 5*time.Second, "a to hold the key", func() bool { return a.Word("orders").Mine })
	_ = s.cmd.Process.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	eventually(t, 5*time.Second, "a to report etcd's silence", func() bool { return a.Word("orders").Err != "" })
	w := a.Word("orders")
	if w.Renewed.After(stopped) {
		t.Fatalf("a renewal after etcd stopped: %+v", w)
	}
	if g := failover.NewLease(failover.Config{}.WithDefaults()).Evaluate(time.Now(),
		failover.Electorate{Self: 1, Voters: []uint16{1, 2}, External: "etcd"}, "orders", 1, nil, failover.NewSentLog(1), w); !g.Until.IsZero() {
		t.Fatalf("a is leased on a frozen etcd: %+v", g)
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	eventually(t, 10*time.Second, "a's vote to come back", func() bool {
		w := a.Word("orders")
		return w.Err == "" && w.Mine && time.Since(w.Renewed) < time.Second
	})
}

// A promotion that failed gives the key back.
func TestReleaseFreesOnlyOwnKey(t *testing.T) {
	s := startEtcd(t)
	b := s.voter(t, "b", 2)
	if _, err := b.Acquire(context.Background(), "orders", 2); err != nil {
		t.Fatal(err)
	}
	a := s.voter(t, "a", 1)
	if err := a.Release(context.Background(), "orders", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(context.Background(), "orders", 3); err == nil {
		t.Fatal("a's release freed b's key")
	}
	if err := b.Release(context.Background(), "orders", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(context.Background(), "orders", 3); err != nil {
		t.Fatalf("the released key could not be taken: %v", err)
	}
}

// A primary that stops wanting the key (it resigned) gives it up at its
// next round, so that the mirror can take it.
func TestUnwantedKeyIsGivenUp(t *testing.T) {
	s := startEtcd(t)
	a, b := s.voter(t, "a", 1), s.voter(t, "b", 2)
	a.Want("orders", true, 1)
	running(t, a)
	eventually(t, 5*time.Second, "a to hold the key", func() bool { return a.Word("orders").Mine })
	a.Want("orders", false, 1)
	start := time.Now()
	eventually(t, 5*time.Second, "a to give the key up", func() bool {
		_, err := b.Acquire(context.Background(), "orders", 2)
		return err == nil
	})
	if took := time.Since(start); took >= DefaultTTL {
		t.Errorf("the key was free only after %v: expired, not given up", took)
	}
}
