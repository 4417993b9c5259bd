package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/tether-ha/tether/testbed"
)

// profiler collects CPU profiles of both agents (tetherd --pprof) and of
// this program over the same span.
type profiler struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	files []string
	errs  []error
}

// startProfiles starts profiling for dur (whole seconds, at least 1) into
// dir: node<i>-<phase>.pprof and bench-<phase>.pprof.
func startProfiles(m *mirrorBed, dir, phase string, dur time.Duration) *profiler {
	p := &profiler{}
	secs := max(1, int(dur.Seconds()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.errs = append(p.errs, err)
		return p
	}
	for i := range m.N() {
		path := filepath.Join(dir, fmt.Sprintf("node%d-%s.pprof", i, phase))
		ns := m.NodeNS(i)
		p.wg.Go(func() {
			p.done(path, fetchProfile(ns, secs, path))
		})
	}
	path := filepath.Join(dir, "bench-"+phase+".pprof")
	p.wg.Go(func() {
		p.done(path, selfProfile(time.Duration(secs)*time.Second, path))
	})
	return p
}

func (p *profiler) done(path string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", path, err))
		return
	}
	p.files = append(p.files, path)
}

// wait returns the profiles written and the first error.
func (p *profiler) wait() ([]string, error) {
	p.wg.Wait()
	if len(p.errs) > 0 {
		return p.files, p.errs[0]
	}
	return p.files, nil
}

// fetchProfile writes the CPU profile of the tetherd --pprof in ns over
// secs seconds to path.
func fetchProfile(ns string, secs int, path string) error {
	hc := testbed.HTTPClient(ns)
	hc.Timeout = time.Duration(secs+30) * time.Second
	resp, err := hc.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// selfProfile writes this program's CPU profile over dur to path.
func selfProfile(dur time.Duration, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	time.Sleep(dur)
	pprof.StopCPUProfile()
	return f.Close()
}
