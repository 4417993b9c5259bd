// Package nicwatch follows the carrier, MTU and existence of a set of
// network interfaces through netlink link notifications, so that a pulled
// cable is seen in microseconds rather than after peerinact.
package nicwatch

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// State is what the kernel says about one interface.
type State struct {
	Name      string
	Exists    bool
	Index     int
	AdminUp   bool // IFF_UP
	Carrier   bool // IFF_UP and IFF_RUNNING: the link can pass frames
	OperState string
	MTU       int
	MAC       net.HardwareAddr
}

func (s State) same(o State) bool {
	return s.Exists == o.Exists && s.Index == o.Index && s.AdminUp == o.AdminUp && s.Carrier == o.Carrier &&
		s.OperState == o.OperState && s.MTU == o.MTU && s.MAC.String() == o.MAC.String()
}

func stateOf(l netlink.Link) State {
	a := l.Attrs()
	flags := a.RawFlags
	return State{
		Name:      a.Name,
		Exists:    true,
		Index:     a.Index,
		AdminUp:   flags&unix.IFF_UP != 0,
		Carrier:   flags&unix.IFF_UP != 0 && flags&unix.IFF_RUNNING != 0,
		OperState: a.OperState.String(),
		MTU:       a.MTU,
		MAC:       append(net.HardwareAddr(nil), a.HardwareAddr...),
	}
}

// Lookup returns the current state of one interface.
func Lookup(name string) State {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return State{Name: name}
	}
	return stateOf(l)
}

func lookupIn(h *netlink.Handle, name string) State {
	l, err := h.LinkByName(name)
	if err != nil {
		return State{Name: name}
	}
	return stateOf(l)
}

// resubscribeAfter paces resubscription when the netlink socket fails
// (receive buffer overrun under an event storm, say).
const resubscribeAfter = 100 * time.Millisecond

// Watch calls notify with the current state of every named interface, then
// with every change, until ctx is done. notify runs on Watch's goroutine.
// Lost notifications (the socket overran) are made good by re-listing.
func Watch(ctx context.Context, names []string, notify func(State)) error {
	return WatchIn(ctx, netns.None(), names, notify)
}

// WatchIn is Watch for the interfaces of network namespace ns
// (netns.None(): the caller's).
func WatchIn(ctx context.Context, ns netns.NsHandle, names []string, notify func(State)) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	last := make(map[string]State, len(names))
	report := func(s State) {
		if prev, ok := last[s.Name]; ok && prev.same(s) {
			return
		}
		last[s.Name] = s
		notify(s)
	}
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(resubscribeAfter):
			}
		}
		updates := make(chan netlink.LinkUpdate, 256)
		done := make(chan struct{})
		failed := make(chan error, 1)
		err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
			Namespace: &ns,
			ErrorCallback: func(err error) {
				select {
				case failed <- err:
				default:
				}
			},
		})
		if err != nil {
			close(done)
			if ctx.Err() != nil {
				return nil
			}
			if first {
				return err
			}
			continue
		}
		// Subscribed first, then listed: nothing can fall between the two.
		for _, n := range names {
			report(lookupIn(h, n))
		}
		err = follow(ctx, updates, failed, want, report)
		close(done)
		for range updates { // drain until the library closes it
		}
		if err == nil {
			return nil
		}
	}
}

var errResubscribe = errors.New("netlink subscription lost")

func follow(ctx context.Context, updates <-chan netlink.LinkUpdate, failed <-chan error, want map[string]bool, report func(State)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-failed:
			return errResubscribe
		case u, ok := <-updates:
			if !ok {
				return errResubscribe
			}
			name := u.Link.Attrs().Name
			if !want[name] {
				continue
			}
			if u.Header.Type == unix.RTM_DELLINK {
				report(State{Name: name})
				continue
			}
			report(stateOf(u.Link))
		}
	}
}
