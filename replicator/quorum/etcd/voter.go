// Package etcd is quorum.etcd: an etcd cluster as the third vote of a
// two-node cluster. Each resource's primary holds a key naming it under
// a lease it keeps alive; a mirror votes to fail over when the key is
// free, and takes it to promote. The rules that judge these words are
// pure (replicator/failover, external.go); this package only does the
// I/O, on a goroutine of its own, and says when each word was read.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tether-ha/tether/replicator/failover"
)

// Defaults.
const (
	DefaultTTL   = 2 * time.Second // etcd's smallest lease (its minimum is 1.5 s, rounded up)
	DefaultEvery = 100 * time.Millisecond
	rpcTimeout   = 500 * time.Millisecond
)

// Config configures a Voter.
type Config struct {
	Endpoints   []string
	Prefix      string        // keys are Prefix + resource name
	TTL         time.Duration // the lease's time to live (whole seconds)
	Every       time.Duration // renew and read this often
	DialTimeout time.Duration
	TLS         *tls.Config // nil: plain http
	Self        string      // this node's name and id
	SelfID      uint16
	Nodes       map[string]uint16 // every node, to name a key's holder
	Log         *slog.Logger
}

// want is what the supervisor wants of one resource's key.
type want struct {
	primary bool
	epoch   uint32
}

// Voter is this node's client of the etcd vote. Want and Word never block.
type Voter struct {
	cfg Config
	cli *clientv3.Client

	op sync.Mutex // serializes the round's writes with Acquire and Release

	mu      sync.Mutex
	wants   map[string]want
	words   map[string]failover.External
	lease   clientv3.LeaseID
	renewed time.Time // when the keepalive that last found the lease alive was sent
	readAt  time.Time // when the last read of every key was sent
	err     string    // the last exchange's error ("" when it worked)
}

// New checks cfg and makes the client (it connects lazily: an etcd down
// at start is a vote missing, not an agent that cannot start).
func New(cfg Config) (*Voter, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("quorum.etcd: no endpoints")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Every == 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := CheckTTL(cfg.TTL); err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: cfg.DialTimeout, TLS: cfg.TLS,
		Logger: zap.NewNop(), AutoSyncInterval: 0})
	if err != nil {
		return nil, fmt.Errorf("quorum.etcd: %w", err)
	}
	return &Voter{cfg: cfg, cli: cli, wants: map[string]want{}, words: map[string]failover.External{}}, nil
}

// CheckTTL: etcd leases last whole seconds, at least its minimum (1.5 s,
// rounded up to 2).
func CheckTTL(ttl time.Duration) error {
	if ttl < 2*time.Second || ttl%time.Second != 0 {
		return fmt.Errorf("quorum.etcd: ttl %v: etcd leases last whole seconds, at least 2s", ttl)
	}
	return nil
}

// Name is the voter's name in the reports.
func (v *Voter) Name() string { return "etcd" }

// Close closes the client (after Run has returned).
func (v *Voter) Close() error { return v.cli.Close() }

// Want records what this node wants of resource's key (supervisor.External).
func (v *Voter) Want(resource string, primary bool, epoch uint32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.wants[resource] = want{primary: primary, epoch: epoch}
}

// Word is the last word on resource's key (supervisor.External).
func (v *Voter) Word(resource string) failover.External {
	v.mu.Lock()
	defer v.mu.Unlock()
	w, ok := v.words[resource]
	if !ok {
		w.ReadAt = v.readAt // no key: free as of the last read
	}
	w.Err = v.err
	if w.Mine {
		w.Renewed = v.renewed
	}
	return w
}

// Run renews the lease, reads every key and takes the keys this node
// should hold, every cfg.Every until ctx ends.
func (v *Voter) Run(ctx context.Context) {
	t := time.NewTicker(v.cfg.Every)
	defer t.Stop()
	for {
		v.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round is one renewal and read.
func (v *Voter) round(ctx context.Context) {
	v.op.Lock()
	defer v.op.Unlock()
	err := v.renew(ctx)
	if err == nil {
		err = v.read(ctx)
	}
	if ctx.Err() != nil {
		return
	}
	v.mu.Lock()
	was := v.err
	v.err = ""
	if err != nil {
		v.err = err.Error()
	}
	v.mu.Unlock()
	switch {
	case err != nil && was == "":
		v.cfg.Log.Warn("etcd does not answer: its vote lapses", "event", EvUnreachable, "endpoints", v.cfg.Endpoints, "err", err)
	case err == nil && was != "":
		v.cfg.Log.Info("etcd answers again", "event", EvReachable, "endpoints", v.cfg.Endpoints)
	}
}

// renew keeps this node's lease alive, or grants a new one (keys under
// an expired lease are gone; the round takes them again).
func (v *Voter) renew(ctx context.Context) error {
	v.mu.Lock()
	id := v.lease
	v.mu.Unlock()
	sent := time.Now()
	c, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	if id != 0 {
		r, err := v.cli.KeepAliveOnce(c, id)
		switch {
		case err == nil && r.TTL > 0:
			v.mu.Lock()
			v.renewed = sent
			v.mu.Unlock()
			return nil
		case err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound):
		default:
			return fmt.Errorf("renewing lease %x: %w", id, err)
		}
	}
	r, err := v.cli.Grant(c, int64(v.cfg.TTL/time.Second))
	if err != nil {
		return fmt.Errorf("granting a lease: %w", err)
	}
	v.mu.Lock()
	v.lease, v.renewed = r.ID, sent
	v.mu.Unlock()
	return nil
}
