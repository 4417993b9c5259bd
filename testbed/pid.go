package testbed

// Pid returns the process id of node i's current (or last) tetherd run, or
// 0 if node i was never started. `ip netns exec` execs tetherd, so this is
// tetherd's own pid: /proc/<pid>/stat and /proc/<pid>/status describe the
// agent (benchmarks read its CPU time and RSS there).
func (b *Bed) Pid(i int) int {
	b.t.Helper()
	p := b.proc(i)
	if p == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}
