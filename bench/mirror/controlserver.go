package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/tether-ha/tether/replicator/topicapi"
)

// The controls: the smallest server that does what a produce with acks:
// local must do, and nothing of tether's: decode the same JSON request,
// append the values to a file, fsync it, answer. Chained, the server on
// node0 forwards each request to the same server on node1 (over hb0) and
// answers once that one has answered: what a produce with acks: mirror,
// or a record visible on a mirror, must cost at least, the two fsyncs on
// this bed's one disk included. Run at the latency part's rate they show
// what this machine's disk and scheduler cost before any of tether's code
// (controlArg as the first argument makes this program that server).
const (
	controlArg   = "-fsync-control-server"
	controlPort  = "9189"
	controlTopic = "control"
)

// controlMain is this program run as the control server: addr, file and
// the URL to forward every request to ("" for none).
func controlMain(args []string) {
	if len(args) != 3 {
		fmt.Fprintf(os.Stderr, "usage: %s ADDR FILE FORWARD-URL\n", controlArg)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(min(2, runtime.NumCPU())) // as tetherd with a replicator (agent.Procs)
	f, err := os.OpenFile(args[1], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	next := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: maxInFlight}}
	var mu sync.Mutex
	var end int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, topicapi.MaxProduceBody))
		ctype := r.Header.Get("Content-Type")
		decode := topicapi.DecodeProduce
		if ctype == topicapi.ContentTypeRecords {
			decode = topicapi.DecodeProduceBinary
		}
		var vals [][]byte
		if err == nil {
			vals, err = decode(bytes.NewReader(body))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		base := end
		for _, v := range vals {
			_, err = f.Write(v)
		}
		end += int64(len(vals))
		mu.Unlock()
		if err == nil {
			err = f.Sync()
		}
		if err == nil && args[2] != "" {
			err = forward(next, args[2]+r.URL.Path, ctype, body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(topicapi.ProduceResponse{BaseOffset: base, Count: len(vals)})
	})
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	os.Exit(1)
}

// forward POSTs body to url and waits for a 200.
func forward(c *http.Client, url, ctype string, body []byte) error {
	resp, err := c.Post(url, ctype, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("forward: %s", resp.Status)
	}
	return nil
}
