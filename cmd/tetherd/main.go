// Command tetherd is the tether agent: it holds heartbeat links to every
// peer over every interconnect network and serves their state.
package main

import (
	"context"
	_ "expvar" // memstats at /debug/vars, served only with --pprof
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only with --pprof
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/tether-ha/tether/agent"
)

func main() {
	// One P until the configuration is read (agent.Procs: two with a
	// replicator): an agent's work is a few microseconds per frame, and a
	// second P costs a thread wakeup for nothing on most frames. Readers
	// yield every few dozen frames in a row, so a flood on one network
	// cannot hold off the heartbeats (e2e TestFloodOfForgedFrames).
	// GOMAXPROCS in the environment wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	// The live heap is a few MiB; at GOGC=100 the garbage of a Prometheus
	// scrape triggers a collection every few scrapes, on the one P the
	// heartbeats use. 400 trades a few MiB of RSS for a quarter of the GC
	// work (measured: scrape p99 5.1 -> 4.6 ms, docs/BENCHMARKS.md). GOGC
	// in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tetherd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "/etc/tether/tether.yaml", "configuration `file`")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	check := fs.Bool("check", false, "validate the configuration and key file, then exit")
	version := fs.Bool("version", false, "print the version and exit")
	pprofAddr := fs.String("pprof", "", "serve Go profiles (/debug/pprof) and memory statistics (/debug/vars) on this `address`, e.g. 127.0.0.1:6060; off by default")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tetherd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, "tetherd", agent.Version)
		return 0
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "tetherd: --log-level: %v\n", err)
		return 2
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		// slog's handlers keep milliseconds; detection latencies are
		// measured from these timestamps, so keep them all.
		if a.Key == slog.TimeKey && len(groups) == 0 {
			a.Value = slog.StringValue(a.Value.Time().Format(time.RFC3339Nano))
		}
		return a
	}}
	var h slog.Handler
	switch *logFormat {
	case "text":
		h = slog.NewTextHandler(stderr, opts)
	case "json":
		h = slog.NewJSONHandler(stderr, opts)
	default:
		fmt.Fprintf(stderr, "tetherd: --log-format must be text or json, not %q\n", *logFormat)
		return 2
	}
	if *check {
		if _, _, err := agent.Check(*configPath); err != nil {
			fmt.Fprintf(stderr, "tetherd: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: configuration and key file OK\n", *configPath)
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}
	}()
	if *pprofAddr != "" {
		srv := &http.Server{Addr: *pprofAddr, ReadHeaderTimeout: 5 * time.Second} // DefaultServeMux carries net/http/pprof
		go func() { _ = srv.ListenAndServe() }()
		defer srv.Close()
	}
	// The daemon never waits for its log output (a stalled journald must
	// not stop heartbeats): it queues records, and drops and counts them
	// when the queue is full.
	d := &agent.Daemon{ConfigPath: *configPath, Log: slog.New(h), Reload: reload, SetProcs: os.Getenv("GOMAXPROCS") == ""}
	if err := d.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "tetherd: %v\n", err)
		return 1
	}
	return 0
}
