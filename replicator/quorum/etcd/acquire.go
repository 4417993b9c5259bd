package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tether-ha/tether/replicator/failover"
)

// Acquire takes resource's key for this node at epoch if it is free (a
// promotion: the old primary's lease has expired in etcd, so its vote
// has ended); it returns the revision of the write, the new epoch's
// fencing token (supervisor.External).
func (v *Voter) Acquire(ctx context.Context, resource string, epoch uint32) (int64, error) {
	v.op.Lock()
	defer v.op.Unlock()
	if err := v.renew(ctx); err != nil {
		return 0, err
	}
	v.mu.Lock()
	lease := v.lease
	v.mu.Unlock()
	sent := time.Now()
	rev, err := v.take(ctx, resource, epoch, lease, nil)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		return 0, fmt.Errorf("%s is not free: %s", v.keyOf(resource), v.holderOf(ctx, resource))
	}
	v.mu.Lock()
	v.wants[resource] = want{primary: true, epoch: epoch}
	v.words[resource] = failover.External{Held: true, Holder: v.cfg.SelfID, Epoch: epoch, Revision: rev, Mine: true, ReadAt: sent}
	v.mu.Unlock()
	v.cfg.Log.Info("this node took the resource's etcd key", "event", EvKeyTaken, "resource", resource, "epoch", epoch, "revision", rev)
	return rev, nil
}

// holderOf says who holds resource's key, for an error.
func (v *Voter) holderOf(ctx context.Context, resource string) string {
	c, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	r, err := v.cli.Get(c, v.keyOf(resource))
	if err != nil || len(r.Kvs) != 1 {
		return "it is held"
	}
	h, err := decodeHolder(r.Kvs[0].Value)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("it names %s at epoch %d (revision %d)", h.Node, h.Epoch, r.Kvs[0].ModRevision)
}

// Release deletes resource's key if it names this node at epoch (a
// promotion that failed: the key must not keep another copy from
// taking over).
func (v *Voter) Release(ctx context.Context, resource string, epoch uint32) error {
	v.op.Lock()
	defer v.op.Unlock()
	v.mu.Lock()
	v.wants[resource] = want{}
	v.mu.Unlock()
	key := v.keyOf(resource)
	val := holder{Node: v.cfg.Self, ID: v.cfg.SelfID, Epoch: epoch}.encode()
	c, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	if _, err := v.cli.Txn(c).If(clientv3.Compare(clientv3.Value(key), "=", val)).Then(clientv3.OpDelete(key)).Commit(); err != nil {
		return fmt.Errorf("releasing %s: %w", key, err)
	}
	return nil
}
