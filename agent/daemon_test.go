package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// loConfig writes a one-node-and-a-peer config on the loopback interface
// (tcp channel only: no raw sockets, no root) and its key file, and returns
// the config path and the status socket.
func loConfig(t *testing.T) (cfgPath, socket string) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "cluster.key")
	if err := os.WriteFile(key, []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	socket = filepath.Join(dir, "s.sock")
	cfgPath = filepath.Join(dir, "t.yaml")
	doc := fmt.Sprintf(`cluster: {id: 7, key_file: %s}
node: {id: 0, name: node0}
nodes:
  - {id: 0, name: node0, addresses: {lo: 127.0.0.1}}
  - {id: 1, name: node1, addresses: {lo: 127.0.0.2}}
networks:
  - {name: lo, interface: lo, channels: [tcp], port: %d}
status: {socket: %s}
`, key, port, socket)
	if err := os.WriteFile(cfgPath, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, socket
}

// When the agent's run loop fails, Daemon.Run stops everything it started
// (status server, key reloads, watchdog) and returns the error, so tetherd
// exits non-zero and systemd restarts it. It used to wait for its
// goroutines before cancelling them: forever.
func TestDaemonReturnsWhenTheRunLoopFails(t *testing.T) {
	cfgPath, socket := loConfig(t)
	boom := errors.New("netlink watch: boom")
	started := make(chan struct{})
	d := &Daemon{ConfigPath: cfgPath, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		run: func(a *Agent, ctx context.Context) error {
			close(started)
			time.Sleep(50 * time.Millisecond)
			return boom
		}}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("Run returned before the agent ran: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("Run returned %v, want the run loop's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Daemon.Run did not return after the agent's run loop failed")
	}
	// The status server is gone with it.
	if c, err := net.Dial("unix", socket); err == nil {
		c.Close()
		t.Fatal("the status socket still answers after Run returned")
	}
}

// A cancelled context is a clean stop: nil.
func TestDaemonStopsCleanly(t *testing.T) {
	cfgPath, _ := loConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{ConfigPath: cfgPath, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Daemon.Run did not return after cancel")
	}
}
