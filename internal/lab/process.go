package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrExited is returned by a Process's commands once the process has
// exited (killed, quit, or crashed).
var ErrExited = errors.New("shoal/lab: node process exited")

// Process is one labnode process (internal/cmd/labnode), started in a
// host's namespace and driven over its stdin and stdout: one command line
// in, one response line out. Commands are serialized; a Process is safe
// for concurrent use.
type Process struct {
	name string
	addr string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string   // stdout, line by line; closed at EOF
	exited chan struct{} // closed once the process has been waited for
	stderr *tailBuffer

	mu sync.Mutex // one command at a time
}

// Start runs binary with args in namespace ns (the current namespace when
// ns is empty) and waits until it prints "ready ADDR". The process is
// killed if the calling process dies (parent-death signal) and exits by
// itself when its stdin closes.
func Start(ctx context.Context, name, ns, binary string, args ...string) (*Process, error) {
	argv := append([]string{binary}, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	// ip netns exec execs the node in place, so the signal reaches it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &Process{
		name:   name,
		cmd:    cmd,
		lines:  make(chan string, 16),
		exited: make(chan struct{}),
		stderr: &tailBuffer{max: 32 << 10},
	}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("shoal/lab: start %s: %w", name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("shoal/lab: start %s: %w", name, err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("shoal/lab: start %s: %w", name, err)
	}
	go p.read(stdout)

	line, err := p.next(ctx)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("shoal/lab: %s did not get ready: %w; stderr: %s", name, err, p.Stderr()), p.Kill())
	}
	addr, ok := strings.CutPrefix(line, "ready ")
	if !ok {
		return nil, errors.Join(fmt.Errorf("shoal/lab: %s: first line %q, want \"ready ADDR\"", name, line), p.Kill())
	}
	p.addr = addr
	return p, nil
}

// read feeds stdout's lines to p.lines, then reaps the process: Wait may
// only run once stdout has been read to its end.
func (p *Process) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		p.lines <- sc.Text()
	}
	close(p.lines)
	_ = p.cmd.Wait() // the exit status is not an error here: kills are deliberate
	close(p.exited)
}

// next returns the next line of output.
func (p *Process) next(ctx context.Context) (string, error) {
	select {
	case l, ok := <-p.lines:
		if !ok {
			return "", ErrExited
		}
		return l, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Name returns the node's name.
func (p *Process) Name() string { return p.name }

// Addr returns the address the node listens on ("ip:port").
func (p *Process) Addr() string { return p.addr }

// Stderr returns the end of what the process wrote to its stderr.
func (p *Process) Stderr() string { return p.stderr.String() }

// Do sends one command line and returns the response line. A response
// "error …" is returned as an error.
func (p *Process) Do(ctx context.Context, command string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.exited:
		return "", fmt.Errorf("%s: %q: %w", p.name, command, ErrExited)
	default:
	}
	if _, err := io.WriteString(p.stdin, command+"\n"); err != nil {
		return "", fmt.Errorf("%s: %q: %w (%v)", p.name, command, ErrExited, err)
	}
	line, err := p.next(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %q: %w", p.name, command, err)
	}
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return "", fmt.Errorf("shoal/lab: %s: %q: %s", p.name, command, msg)
	}
	return line, nil
}

// Add adds n to the node's slot of the counter.
func (p *Process) Add(ctx context.Context, n int64) error {
	resp, err := p.Do(ctx, "add "+strconv.FormatInt(n, 10))
	if err != nil {
		return err
	}
	if resp != "ok" {
		return fmt.Errorf("shoal/lab: %s: add: response %q, want ok", p.name, resp)
	}
	return nil
}

// Value returns the counter's value as the node sees it.
func (p *Process) Value(ctx context.Context) (int64, error) {
	resp, err := p.Do(ctx, "value")
	if err != nil {
		return 0, err
	}
	v, ok := strings.CutPrefix(resp, "value ")
	if !ok {
		return 0, fmt.Errorf("shoal/lab: %s: value: response %q", p.name, resp)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("shoal/lab: %s: value: %w", p.name, err)
	}
	return n, nil
}

// Members returns the names of the members the node sees alive, sorted.
func (p *Process) Members(ctx context.Context) ([]string, error) {
	resp, err := p.Do(ctx, "members")
	if err != nil {
		return nil, err
	}
	f := strings.Fields(resp)
	if len(f) < 2 || f[0] != "members" {
		return nil, fmt.Errorf("shoal/lab: %s: members: response %q", p.name, resp)
	}
	if f[1] == "0" {
		return nil, nil
	}
	if len(f) != 3 {
		return nil, fmt.Errorf("shoal/lab: %s: members: response %q", p.name, resp)
	}
	return strings.Split(f[2], ","), nil
}

// Incarnation returns the incarnation of the node's replica.
func (p *Process) Incarnation(ctx context.Context) (uint64, error) {
	resp, err := p.Do(ctx, "replica")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(resp)
	if len(f) != 3 || f[0] != "replica" || f[1] != p.name {
		return 0, fmt.Errorf("shoal/lab: %s: replica: response %q", p.name, resp)
	}
	inc, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("shoal/lab: %s: replica: %w", p.name, err)
	}
	return inc, nil
}

// Kill sends SIGKILL and waits until the process is gone. It is
// idempotent.
func (p *Process) Kill() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("shoal/lab: kill %s: %w", p.name, err)
	}
	p.stdin.Close()
	<-p.exited
	return nil
}

// Quit asks the node to leave the cluster and exit, and waits until it
// has; if it does not answer before ctx ends, it is killed.
func (p *Process) Quit(ctx context.Context) error {
	_, err := p.Do(ctx, "quit")
	if err != nil {
		return errors.Join(err, p.Kill())
	}
	p.stdin.Close()
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
		return errors.Join(fmt.Errorf("shoal/lab: %s did not exit after quit: %w", p.name, ctx.Err()), p.Kill())
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
