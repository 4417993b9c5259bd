// Package ether is the raw Ethernet channel: heartbeat frames in Ethernet II
// frames of a configurable EtherType on an AF_PACKET socket, no IP needed
// (like LLT).
package ether

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/tether-ha/tether/links"
)

// ErrNoInterface is wrapped by Open when the interface does not exist.
var ErrNoInterface = errors.New("no such interface")

// ErrPermission is wrapped by Open when the process may not open raw
// sockets.
var ErrPermission = errors.New("permission denied: raw sockets need CAP_NET_RAW (run as root or grant the capability)")

// Conn is an AF_PACKET socket bound to one interface and one EtherType.
type Conn struct {
	ifname string
	index  int
	mac    net.HardwareAddr
	etype  ethernet.EtherType
	pc     *packet.Conn
}

// Open binds a raw socket to ifname for ethertype; with a filter, the
// kernel drops the frames the filter says are not ours (Filter).
func Open(ifname string, ethertype uint16, filter *Filter) (*Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", ifname, ErrNoInterface)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("interface %s has no Ethernet address (%q)", ifname, ifi.HardwareAddr)
	}
	pc, err := packet.Listen(ifi, packet.Raw, int(ethertype), nil)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("raw socket on %s: %w", ifname, ErrPermission)
		}
		return nil, fmt.Errorf("raw socket on %s: %w", ifname, err)
	}
	if filter != nil {
		prog, err := filter.program()
		if err == nil {
			err = pc.SetBPF(prog)
		}
		if err != nil {
			pc.Close()
			return nil, fmt.Errorf("socket filter on %s: %w", ifname, err)
		}
	}
	setReceiveBuffer(pc)
	return &Conn{ifname: ifname, index: ifi.Index, mac: ifi.HardwareAddr, etype: ethernet.EtherType(ethertype), pc: pc}, nil
}

// receiveBuffer is the socket receive buffer asked for: a burst of a few
// thousand frames while the agent is descheduled must not be lost.
const receiveBuffer = 4 << 20

// setReceiveBuffer raises the socket's receive buffer, past the
// rmem_max sysctl when allowed (CAP_NET_ADMIN), else up to it. Failure is
// harmless: the default buffer works, just with less slack.
func setReceiveBuffer(pc *packet.Conn) {
	rc, err := pc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, receiveBuffer) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, receiveBuffer)
		}
	})
}

// KernelDrops returns how many frames the kernel dropped for this socket
// (receive buffer full) since the last call.
func (c *Conn) KernelDrops() uint64 {
	st, err := c.pc.Stats()
	if err != nil {
		return 0
	}
	return uint64(st.Drops)
}

// Interface returns the interface name.
func (c *Conn) Interface() string { return c.ifname }

// Index returns the interface index the socket is bound to.
func (c *Conn) Index() int { return c.index }

// HardwareAddr returns the interface's MAC address.
func (c *Conn) HardwareAddr() net.HardwareAddr { return c.mac }

// Close closes the socket; a blocked ReadFrom returns.
func (c *Conn) Close() error { return c.pc.Close() }

// Write sends payload to dst (nil: broadcast) without ever blocking: the
// socket is non-blocking and the call does not wait for it to become
// writable, so a full queue answers EAGAIN at once (the caller drops the
// frame; the next heartbeat is the retry). It returns the frame length on
// the wire. The socket is bound to the interface and EtherType, so the
// kernel needs no destination address besides the frame's own header.
func (c *Conn) Write(dst net.HardwareAddr, payload []byte) (int, error) {
	if dst == nil {
		dst = ethernet.Broadcast
	}
	f := ethernet.Frame{Destination: dst, Source: c.mac, EtherType: c.etype, Payload: payload}
	b, err := f.MarshalBinary()
	if err != nil {
		return 0, err
	}
	rc, err := c.pc.SyscallConn()
	if err != nil {
		return 0, err
	}
	return links.WriteNow(rc, b)
}

// ReadFrom reads one frame into buf and returns its payload (a fresh
// slice, not aliasing buf), its source MAC and its length on the wire.
func (c *Conn) ReadFrom(buf []byte) (payload []byte, src net.HardwareAddr, n int, err error) {
	rc, err := c.pc.SyscallConn()
	if err != nil {
		return nil, nil, 0, err
	}
	// The frame's own Ethernet header names its source: no need for
	// recvfrom's address.
	n, err = links.Read(rc, buf)
	if err != nil {
		return nil, nil, 0, err
	}
	var f ethernet.Frame
	if err := f.UnmarshalBinary(buf[:n]); err != nil {
		return nil, nil, n, fmt.Errorf("%w: %v", errBadEthernet, err)
	}
	return f.Payload, f.Source, n, nil
}

var errBadEthernet = errors.New("unparseable Ethernet frame")
