package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Promote makes the local redis a writable primary: REPLICAOF NO ONE (it
// keeps its data and its offset, so replicas of the old primary can
// continue from it), then lifts the fence.
func (d *Driver) Promote(ctx context.Context) error {
	info, err := d.settle(ctx)
	if err != nil {
		return err
	}
	if info["role"] != "master" {
		if err := d.do(ctx, "REPLICAOF", "NO", "ONE"); err != nil {
			return err
		}
	}
	return d.Unfence(ctx)
}

// Follow makes the local redis a read-only replica of node primary.
// Redis itself resyncs a copy whose history diverged (a full sync drops
// what only this node had), so Follow never returns a DivergedError.
func (d *Driver) Follow(ctx context.Context, primary string) error {
	addr, ok := d.cfg.Addrs[primary]
	if !ok {
		return fmt.Errorf("redis %s: follow %q: not a node of this resource", d.cfg.Self, primary)
	}
	if primary == d.cfg.Self {
		return fmt.Errorf("redis %s: follow %s: cannot follow itself", d.cfg.Self, primary)
	}
	host, port, _ := net.SplitHostPort(addr) // Validate checked it
	// Read-only before REPLICAOF, so that no write lands between the two.
	ro, err := d.configGet(ctx, "replica-read-only")
	if err != nil {
		return err
	}
	if ro != "yes" {
		if err := d.configSet(ctx, "replica-read-only", "yes"); err != nil {
			return err
		}
	}
	info, err := d.settle(ctx)
	if err != nil {
		return err
	}
	if !d.handedTo(ctx, info, primary) {
		if err := d.do(ctx, "REPLICAOF", host, port); err != nil {
			return err
		}
	}
	// A replica refuses writes anyway; a fence left on would come back
	// the day it is promoted by hand.
	return d.Unfence(ctx)
}

// settle aborts a FAILOVER left running by a Switchover cut short (an
// agent restart): it pauses writes, may yet demote this node, and Redis
// refuses REPLICAOF while it runs. It returns INFO replication after.
func (d *Driver) settle(ctx context.Context) (map[string]string, error) {
	info, err := d.info(ctx, d.cfg.Self, d.local)
	if err != nil {
		return nil, err
	}
	if fs := info["master_failover_state"]; fs == "" || fs == "no-failover" {
		return info, nil
	}
	if err := d.do(ctx, "FAILOVER", "ABORT"); err != nil && !strings.Contains(err.Error(), "No failover in progress") {
		return nil, err
	}
	return d.info(ctx, d.cfg.Self, d.local)
}

// Switchover hands the primary role to node to with Redis's FAILOVER:
// writes are paused until to has all of them, then to becomes primary
// and this node its replica. Called on the primary. On error or after
// timeout it aborts the failover and returns an error with this node
// still the writable primary.
//
// timeout bounds the hand-over; past it (or ctx) the driver still runs
// FAILOVER ABORT and checks the outcome, each within its Timeout:
// returning without that could leave writes paused and a hand-over
// going on.
func (d *Driver) Switchover(ctx context.Context, to string, timeout time.Duration) error {
	addr, ok := d.cfg.Addrs[to]
	switch {
	case !ok:
		return fmt.Errorf("redis %s: switchover to %q: not a node of this resource", d.cfg.Self, to)
	case to == d.cfg.Self:
		return fmt.Errorf("redis %s: switchover to itself", d.cfg.Self)
	case timeout <= 0:
		return fmt.Errorf("redis %s: switchover to %s: timeout %v is not positive", d.cfg.Self, to, timeout)
	}
	deadline := time.Now().Add(timeout)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	info, err := d.info(wctx, d.cfg.Self, d.local)
	if err != nil {
		return err
	}
	// During the hand-over proper the role is already slave: only
	// no-failover says it is over.
	state := info["master_failover_state"]
	if info["role"] == "slave" && state == "no-failover" {
		if d.handedTo(wctx, info, to) {
			return d.Unfence(ctx) // done already: a retry
		}
		return d.errorf(d.cfg.Self, "switchover to "+to, "not the primary: replica of %s",
			net.JoinHostPort(info["master_host"], info["master_port"]))
	}
	if state == "no-failover" {
		target, err := d.waitReplica(wctx, info, to, addr)
		if err != nil {
			return errors.Join(err, d.Unfence(ctx))
		}
		// Redis waits for the catch-up up to its TIMEOUT, then gives up
		// by itself; the rest of the time is left for the hand-over.
		left := time.Until(deadline)
		ms := max((left - min(d.cfg.Timeout, left/4)).Milliseconds(), 1)
		err = d.do(wctx, "FAILOVER", "TO", target.ip, target.port, "TIMEOUT", strconv.FormatInt(ms, 10))
		if err != nil {
			var refused goredis.Error
			if errors.As(err, &refused) {
				// Redis answered no: nothing started.
				return errors.Join(err, d.Unfence(ctx))
			}
			// No answer (timeout, ctx, connection): FAILOVER may be
			// running all the same.
			return d.abortSwitchover(ctx, to, state, err)
		}
		state = "waiting-for-sync"
	} // else a failover of an earlier call runs: wait for it.

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-wctx.Done():
			why := ctx.Err()
			if why == nil {
				why = fmt.Errorf("timed out after %v", timeout)
			}
			if last != nil {
				why = fmt.Errorf("%w (last: %w)", why, last)
			}
			return d.abortSwitchover(ctx, to, state, why)
		case <-tick.C:
		}
		info, err := d.info(wctx, d.cfg.Self, d.local)
		if err != nil {
			if wctx.Err() == nil {
				last = err // expected to be brief; the deadline bounds it
			}
			continue
		}
		last = nil
		if state = info["master_failover_state"]; state != "no-failover" {
			continue // waiting for to to catch up, or handing over
		}
		if info["role"] == "slave" {
			if d.handedTo(wctx, info, to) {
				return d.Unfence(ctx)
			}
			return d.errorf(d.cfg.Self, "switchover to "+to, "now a replica of %s, not of %s",
				net.JoinHostPort(info["master_host"], info["master_port"]), to)
		}
		// Redis gave up by itself: to did not catch up within the
		// FAILOVER TIMEOUT, or refused the hand-over.
		return errors.Join(d.errorf(d.cfg.Self, "FAILOVER TO "+addr,
			"redis aborted the failover (%s did not catch up in time or refused; see the redis log); still primary", to),
			d.Unfence(ctx))
	}
}

// waitReplica waits until the local primary lists node to as an online
// replica (it may be reconnecting, or finishing a sync), and returns it
// as listed: FAILOVER TO wants its IP (or replica-announce-ip), not the
// configuration's name for it.
func (d *Driver) waitReplica(ctx context.Context, info map[string]string, to, addr string) (replicaEntry, error) {
	host, port, _ := net.SplitHostPort(addr)
	for {
		var seen []string
		for _, r := range infoReplicas(info) {
			if r.port == port && (sameHost(r.ip, host) || net.ParseIP(host) == nil && d.resolvesTo(ctx, host, r.ip)) {
				if r.state == "online" {
					return r, nil
				}
			}
			seen = append(seen, net.JoinHostPort(r.ip, r.port)+" "+r.state)
		}
		if info["role"] != "master" {
			return replicaEntry{}, d.errorf(d.cfg.Self, "switchover to "+to, "no longer the primary: role %s", info["role"])
		}
		if err := ctx.Err(); err != nil {
			return replicaEntry{}, d.errorf(d.cfg.Self, "switchover to "+to, "%s (%s) is not an online replica of this primary (replicas: %s): %w",
				to, addr, strings.Join(seen, ", "), err)
		}
		select {
		case <-ctx.Done():
			continue
		case <-time.After(20 * time.Millisecond):
		}
		next, err := d.info(ctx, d.cfg.Self, d.local)
		if err != nil {
			if ctx.Err() != nil {
				continue // say what was seen last
			}
			return replicaEntry{}, err
		}
		info = next
	}
}

// abortSwitchover aborts the FAILOVER after why and reports where it
// left this node; state is the failover state last seen. The abort runs
// even if ctx is done.
func (d *Driver) abortSwitchover(ctx context.Context, to, state string, why error) error {
	actx := context.WithoutCancel(ctx)
	errAbort := d.do(actx, "FAILOVER", "ABORT")
	if errAbort != nil && strings.Contains(errAbort.Error(), "No failover in progress") {
		errAbort = nil // it ended by itself meanwhile
	}
	info, err := d.info(actx, d.cfg.Self, d.local)
	if err != nil {
		return errors.Join(d.errorf(d.cfg.Self, "switchover to "+to, "%w; aborted, state unknown", why), errAbort, err)
	}
	if info["role"] == "slave" && info["master_failover_state"] == "no-failover" && d.handedTo(actx, info, to) {
		return d.Unfence(actx) // it completed just before the abort
	}
	if info["role"] != "master" {
		return errors.Join(d.errorf(d.cfg.Self, "switchover to "+to, "%w; abort left this node %s (failover %s)",
			why, info["role"], info["master_failover_state"]), errAbort)
	}
	err = d.errorf(d.cfg.Self, "switchover to "+to, "%w; aborted, still primary", why)
	// An abort during the hand-over proper may come after to accepted
	// it: say so, the supervisor has two primaries to sort out.
	if c := d.peers[to]; c != nil && state == "failover-in-progress" {
		if pinfo, perr := d.info(actx, to, c); perr == nil && pinfo["role"] == "master" {
			err = fmt.Errorf("%w; %s reports role master too", err, to)
		}
	}
	return errors.Join(err, errAbort, d.Unfence(actx))
}

// handedTo: the local replica follows node to.
func (d *Driver) handedTo(ctx context.Context, info map[string]string, to string) bool {
	return info["role"] == "slave" && d.nodeAt(ctx, info["master_host"], info["master_port"]) == to
}
