package testbed

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netns"
)

// InNS runs f on an OS thread that has joined the named network namespace,
// then moves the thread back. Sockets created inside f belong to that
// namespace for their whole life and may be used from any goroutine
// afterwards. Goroutines started by f do not run in the namespace.
func InNS(name string, f func() error) error {
	target, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("open network namespace %q: %w", name, err)
	}
	defer target.Close()
	return inNS(target, name, f)
}

func inNS(target netns.NsHandle, name string, f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %q: %w", name, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it is destroyed when this goroutine
		// ends instead of running other goroutines in the wrong namespace.
		return fmt.Errorf("return from network namespace %q: %w", name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// OpenPacket opens an AF_PACKET socket of type packet.Raw (frames include
// the Ethernet header) on interface iface inside network namespace ns,
// bound to ethertype. It is meant for tests that capture or inject frames.
// The caller closes it.
func OpenPacket(ns, iface string, ethertype uint16) (*packet.Conn, error) {
	var c *packet.Conn
	err := InNS(ns, func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return fmt.Errorf("interface %s in %s: %w", iface, ns, err)
		}
		c, err = packet.Listen(ifi, packet.Raw, int(ethertype), nil)
		if err != nil {
			return fmt.Errorf("packet socket on %s in %s: %w", iface, ns, err)
		}
		return nil
	})
	return c, err
}

// execNS runs `ip netns exec ns args...` with stdin and returns the
// combined output. The error names the command and includes the output.
func execNS(ns string, stdin string, args ...string) (string, error) {
	full := append([]string{"netns", "exec", ns}, args...)
	return runCmd(stdin, "ip", full...)
}

// runCmd runs name args with stdin and returns its combined output.
func runCmd(stdin, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
