package etcd

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tether-ha/tether/replicator/failover"
)

// unknownHolder stands for a key whose value names no node of the
// cluster: held, by nobody this node could back.
const unknownHolder = ^uint16(0)

// read reads every key under the prefix, then takes the keys this node
// wants and may take (under v.op).
func (v *Voter) read(ctx context.Context) error {
	sent := time.Now()
	c, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	r, err := v.cli.Get(c, v.cfg.Prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("reading %s: %w", v.cfg.Prefix, err)
	}
	kvs := map[string]*mvccpb.KeyValue{}
	for _, kv := range r.Kvs {
		if res, ok := v.resourceOf(kv.Key); ok {
			kvs[res] = kv
		}
	}
	v.mu.Lock()
	lease := v.lease
	wants := make(map[string]want, len(v.wants))
	for res, w := range v.wants {
		wants[res] = w
	}
	v.mu.Unlock()
	words := map[string]failover.External{}
	for res, kv := range kvs {
		words[res] = v.word(kv, lease, sent)
	}
	for res, w := range wants {
		if _, ok := words[res]; !ok {
			words[res] = failover.External{ReadAt: sent}
		}
		if !w.primary && words[res].Mine {
			// Not (or no longer) the primary, e.g. resigned: the key must
			// not keep the mirror from taking over.
			if err := v.drop(ctx, res, kvs[res]); err != nil {
				return err
			}
			words[res] = failover.External{ReadAt: sent}
			continue
		}
		if !w.primary || !v.mayTake(words[res], w.epoch, lease) {
			continue
		}
		rev, err := v.take(ctx, res, w.epoch, lease, kvs[res])
		if err != nil {
			return err
		}
		if rev != 0 {
			words[res] = failover.External{Held: true, Holder: v.cfg.SelfID, Epoch: w.epoch, Revision: rev, Mine: true, ReadAt: sent}
		}
	}
	v.publish(words, sent)
	return nil
}

// word is what key kv says to this node.
func (v *Voter) word(kv *mvccpb.KeyValue, lease clientv3.LeaseID, sent time.Time) failover.External {
	w := failover.External{Held: true, Holder: unknownHolder, Revision: kv.ModRevision, ReadAt: sent}
	h, err := decodeHolder(kv.Value)
	if err != nil {
		return w
	}
	w.Epoch = h.Epoch
	if id, ok := v.cfg.Nodes[h.Node]; ok && id == h.ID {
		w.Holder = id
	}
	w.Mine = h.Node == v.cfg.Self && h.ID == v.cfg.SelfID && clientv3.LeaseID(kv.Lease) == lease
	return w
}

// mayTake: the key is free, or names a lower epoch than this node's (a
// lower epoch never wins: after an operator's forced failover the key
// follows the new primary), or names this node at its epoch under
// another lease (its previous run's).
func (v *Voter) mayTake(w failover.External, epoch uint32, lease clientv3.LeaseID) bool {
	switch {
	case lease == 0:
		return false
	case !w.Held, w.Epoch < epoch:
		return true
	case w.Holder != v.cfg.SelfID || w.Epoch > epoch:
		return false
	}
	return !w.Mine
}

// take puts this node's value under its lease, if the key is still as
// read (absent, or at the revision read); 0: somebody was faster.
func (v *Voter) take(ctx context.Context, res string, epoch uint32, lease clientv3.LeaseID, kv *mvccpb.KeyValue) (int64, error) {
	key := v.keyOf(res)
	cond := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	if kv != nil {
		cond = clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)
	}
	c, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	val := holder{Node: v.cfg.Self, ID: v.cfg.SelfID, Epoch: epoch}.encode()
	r, err := v.cli.Txn(c).If(cond).Then(clientv3.OpPut(key, val, clientv3.WithLease(lease))).Commit()
	if err != nil {
		return 0, fmt.Errorf("taking %s: %w", key, err)
	}
	if !r.Succeeded {
		return 0, nil
	}
	return r.Header.Revision, nil
}

// publish stores a round's words and logs the keys taken and lost.
func (v *Voter) publish(words map[string]failover.External, sent time.Time) {
	v.mu.Lock()
	old := v.words
	v.words, v.readAt = words, sent
	v.mu.Unlock()
	for res, w := range words {
		o := old[res]
		switch {
		case w.Mine && (!o.Mine || o.Epoch != w.Epoch):
			v.cfg.Log.Info("this node holds the resource's etcd key", "event", EvKeyTaken, "resource", res, "epoch", w.Epoch, "revision", w.Revision)
		case o.Mine && !w.Mine:
			v.cfg.Log.Warn("this node no longer holds the resource's etcd key", "event", EvKeyLost, "resource", res,
				"holder", v.holderName(w), "epoch", w.Epoch)
		}
	}
}

func (v *Voter) holderName(w failover.External) string {
	if !w.Held {
		return ""
	}
	for n, id := range v.cfg.Nodes {
		if id == w.Holder {
			return n
		}
	}
	return "unknown"
}

// drop deletes this node's key kv if it is unchanged since read.
func (v *Voter) drop(ctx context.Context, res string, kv *mvccpb.KeyValue) error {
	key := v.keyOf(res)
	c, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	_, err := v.cli.Txn(c).If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return fmt.Errorf("giving %s up: %w", key, err)
	}
	return nil
}
