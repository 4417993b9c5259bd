package testbed

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Etcd is a one-member etcd cluster in a host namespace: quorum.etcd's
// third vote, on a network of its own choosing (a real deployment puts
// it where the interconnect's faults do not reach).
type Etcd struct {
	b        *Bed
	Endpoint string // http://ip:2379
	dir      string
	cmd      *exec.Cmd
	done     chan struct{}
}

// StartEtcd starts etcd on host h's address on network net. Cleanup kills it.
func (b *Bed) StartEtcd(h *Host, net string) *Etcd {
	b.t.Helper()
	bin := RequireTool(b.t, "etcd", "etcd-server")
	ip := h.IP(net).String()
	e := &Etcd{b: b, Endpoint: fmt.Sprintf("http://%s:2379", ip), dir: filepath.Join(b.dir, "etcd-"+h.Name)}
	peer := fmt.Sprintf("http://%s:2380", ip)
	log, err := os.Create(e.dir + ".log")
	if err != nil {
		b.t.Fatalf("testbed: StartEtcd: %v", err)
	}
	cmd := exec.Command("ip", "netns", "exec", h.NS, bin, "--name", h.Name, "--data-dir", e.dir,
		"--listen-client-urls", e.Endpoint, "--advertise-client-urls", e.Endpoint,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", h.Name+"="+peer)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		b.t.Fatalf("testbed: etcd on %s: %v", h.Name, err)
	}
	log.Close()
	e.cmd, e.done = cmd, make(chan struct{})
	go func() { // owned by e: Kill waits for it
		_ = cmd.Wait()
		close(e.done)
	}()
	b.t.Cleanup(e.Kill)
	c := HTTPClient(h.NS)
	deadline := time.Now().Add(20 * time.Second)
	for !e.healthy(c) {
		if time.Now().After(deadline) {
			b.t.Fatalf("testbed: etcd on %s not healthy after 20s (log %s.log)", h.Name, e.dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return e
}

func (e *Etcd) healthy(c *http.Client) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.Endpoint+"/health", nil)
	r, err := c.Do(req)
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == http.StatusOK
}

// Signal sends sig to etcd (SIGSTOP: etcd unreachable, its leases frozen).
func (e *Etcd) Signal(sig syscall.Signal) {
	if e.cmd != nil {
		_ = syscall.Kill(-e.cmd.Process.Pid, sig)
	}
}

// Kill kills etcd and waits for it; nothing if it is not running.
func (e *Etcd) Kill() {
	if e.cmd == nil {
		return
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	<-e.done
	e.cmd = nil
}
