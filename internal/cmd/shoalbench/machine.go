package main

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// machine describes where the benchmark ran.
type machine struct {
	CPU   string
	Cores int
	Go    string
	OS    string
}

// describeMachine reads the CPU model from /proc/cpuinfo and the OS from
// /etc/os-release and the kernel, where they exist.
func describeMachine() machine {
	m := machine{CPU: "unknown", Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if v := fieldOf("/proc/cpuinfo", "model name", ':'); v != "" {
		m.CPU = v
	}
	if v := fieldOf("/etc/os-release", "PRETTY_NAME", '='); v != "" {
		m.OS = strings.Trim(v, `"`) + ", " + m.OS
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.OS += ", kernel " + strings.TrimSpace(string(b))
	}
	return m
}

// fieldOf returns the value of the first "key SEP value" line of path.
func fieldOf(path, key string, sep byte) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), string(sep))
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
