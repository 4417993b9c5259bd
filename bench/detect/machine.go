package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// machineInfo describes this machine and the agent binary in bin.
func machineInfo(bin string) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: loadAvg()}
	m.CPUModel = "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	out, err := exec.Command(filepath.Join(bin, "tetherd"), "--version").Output()
	if err != nil {
		m.Tetherd = "unknown: " + err.Error()
	} else {
		m.Tetherd = strings.TrimSpace(string(out))
	}
	return m
}
