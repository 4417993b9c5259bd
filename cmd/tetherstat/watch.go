package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tether-ha/tether/agent/status"
)

// clearScreen moves the cursor home and clears the terminal (ANSI).
const clearScreen = "\x1b[H\x1b[2J"

// watch redraws the view every o.interval until ctx is done, and then
// returns exitOK. On a terminal each snapshot replaces the previous one
// under a header line with the time; otherwise snapshots are separated by
// a blank line. An unreachable agent is reported and retried, not fatal.
func watch(ctx context.Context, c *status.Client, o options, stdout, stderr io.Writer) int {
	tty := isTerminal(stdout)
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for first := true; ; first = false {
		var frame bytes.Buffer
		switch {
		case tty:
			frame.WriteString(clearScreen)
			fmt.Fprintf(&frame, "Every %s: tetherstat %s    %s\n\n", o.interval, o.cmdline, time.Now().Format(time.DateTime))
		case !first:
			frame.WriteByte('\n')
		}
		st, err := c.Status(ctx)
		if ctx.Err() != nil {
			return exitOK
		}
		if err == nil {
			_, err = show(&frame, st, o)
			if err != nil {
				fmt.Fprintf(stderr, "tetherstat: %v\n", err)
				return exitOutput
			}
		}
		if _, werr := stdout.Write(frame.Bytes()); werr != nil {
			fmt.Fprintf(stderr, "tetherstat: %v\n", werr)
			return exitOutput
		}
		if err != nil {
			fmt.Fprintln(stderr, describe(err, o.socket))
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-tick.C:
		}
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
