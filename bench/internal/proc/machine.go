package proc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Machine describes where a benchmark ran and what it ran.
type Machine struct {
	CPUModel   string `json:"cpu_model"`
	Cores      int    `json:"cores"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	Tetherd    string `json:"tetherd_version"`
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after,omitempty"`
	// GitHead is `git rev-parse --short HEAD` of the working directory
	// (the source tree the benchmark and, with make bench, tetherd were
	// built from); GitModified lists `git status --porcelain` lines, the
	// files that differ from it (at most maxModified).
	GitHead     string   `json:"git_head,omitempty"`
	GitModified []string `json:"git_modified,omitempty"`
}

// maxModified bounds Machine.GitModified.
const maxModified = 30

// MachineInfo describes this machine, the tetherd binary in bin and the
// source tree in the working directory.
func MachineInfo(bin string) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: LoadAvg()}
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
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.GitHead = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "status", "--porcelain").Output(); err == nil {
		for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
			if line == "" {
				continue
			}
			if len(m.GitModified) == maxModified {
				m.GitModified = append(m.GitModified, "…")
				break
			}
			m.GitModified = append(m.GitModified, line)
		}
	}
	return m
}

// String describes the machine and the source on one line.
func (m Machine) String() string {
	src := "source HEAD " + m.GitHead
	if m.GitHead == "" {
		src = "source unknown (not a git work tree)"
	}
	if n := len(m.GitModified); n > 0 {
		src += fmt.Sprintf(" with %d uncommitted changes (%s)", n, strings.Join(m.GitModified, ", "))
	}
	return fmt.Sprintf("%s, %d cores, kernel %s, %s, %s, %s", m.CPUModel, m.Cores, m.Kernel, m.GoVersion, m.Tetherd, src)
}
