package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one counter process with its output collected line by line.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu    sync.Mutex
	lines []string
	done  chan struct{}
	err   error
}

func start(t *testing.T, bin, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"-name", name}, args...)...)
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	p.cmd.Stderr = &stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		if stderr.Len() > 0 {
			t.Logf("%s stderr:\n%s", name, stderr.String())
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait returns the first submatch of the first line matching re, waiting
// up to timeout.
func (p *proc) wait(re *regexp.Regexp, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		p.mu.Lock()
		for _, l := range p.lines {
			if m := re.FindStringSubmatch(l); m != nil {
				p.mu.Unlock()
				if len(m) > 1 {
					return m[1]
				}
				return m[0]
			}
		}
		out := strings.Join(p.lines, "\n")
		p.mu.Unlock()
		if time.Now().After(deadline) {
			p.t.Fatalf("%s printed no line matching %q within %v; output:\n%s", p.name, re, timeout, out)
		}
		time.Sleep(wait)
	}
}

// stop sends SIGINT and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.t.Fatalf("%s did not exit after SIGINT", p.name)
	}
	if p.err != nil {
		p.t.Errorf("%s exited with %v", p.name, p.err)
	}
}

func (p *proc) lastValue() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := ""
	for _, l := range p.lines {
		if m := valueLine.FindStringSubmatch(l); m != nil {
			last = m[1]
		}
	}
	return last
}

var valueLine = regexp.MustCompile(`value=(-?\d+) `)

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "counter")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Three processes on loopback join, add from their flags and from stdin,
// and all print the same final sum.
func TestThreeProcessesConverge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := build(t)
	a := start(t, bin, "a", "-add", "1")
	addr := a.wait(regexp.MustCompile(`a: listening on (\S+)`), 20*time.Second)
	b := start(t, bin, "b", "-join", addr, "-add", "2")
	c := start(t, bin, "c", "-join", addr, "-add", "3")
	procs := []*proc{a, b, c}
	for _, p := range procs {
		p.wait(regexp.MustCompile(`value=6 members=3`), 20*time.Second)
	}
	// Add through stdin on b: 10, then an empty line (adds 1).
	fmt.Fprintln(b.stdin, "10")
	fmt.Fprintln(b.stdin, "")
	fmt.Fprintln(b.stdin, "not a number")
	for _, p := range procs {
		p.wait(regexp.MustCompile(`value=17 `), 20*time.Second)
	}
	for _, p := range []*proc{c, b, a} {
		p.stop()
	}
	for _, p := range procs {
		if v := p.lastValue(); v != "17" {
			t.Errorf("%s's last value is %s, want 17", p.name, v)
		}
		p.wait(regexp.MustCompile(`leaving`), time.Second)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-bind", "localhost"},
		{"-port", "70000"},
		{"-join", "nohostport"},
		{"extra"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		if errOut.Len() == 0 {
			t.Errorf("run(%q) explained nothing", args)
		}
	}
}

// In process: a node alone adds from stdin and prints each value, then
// leaves when its context ends.
func TestRunInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"-name", "solo", "-add", "4"}, pr, &out, &errOut) }()
	waitFor(t, &out, "solo: value=4 members=1")
	fmt.Fprintln(pw, "-1")
	waitFor(t, &out, "solo: value=3 members=1")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	pw.Close()
	if !strings.Contains(out.String(), "solo: leaving") {
		t.Errorf("no leaving line:\n%s", out.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in output:\n%s", want, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
