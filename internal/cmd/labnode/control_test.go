package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// pipeNode is a labnode run in-process, driven through pipes as the lab
// drives the real process.
type pipeNode struct {
	in   *io.PipeWriter
	out  *bufio.Reader
	done chan struct{} // closed when run returned
	code int           // run's exit code, set before done is closed
	addr string
}

func startPipeNode(t *testing.T, args ...string) *pipeNode {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &pipeNode{in: inW, out: bufio.NewReader(outR), done: make(chan struct{})}
	go func() {
		p.code = run(args, inR, outW, io.Discard)
		outW.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		inW.Close()
		go io.Copy(io.Discard, outR) // unblock a writer, if any
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("labnode %v did not exit after stdin closed", args)
		}
	})
	line := p.readLine(t)
	addr, ok := strings.CutPrefix(line, "ready ")
	if !ok {
		t.Fatalf("first line %q, want \"ready ADDR\"", line)
	}
	p.addr = addr
	return p
}

func (p *pipeNode) readLine(t *testing.T) string {
	t.Helper()
	line, err := p.out.ReadString('\n')
	if err != nil {
		t.Fatalf("read response: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

func (p *pipeNode) do(t *testing.T, cmd string) string {
	t.Helper()
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		t.Fatalf("send %q: %v", cmd, err)
	}
	return p.readLine(t)
}

func TestLabnodeTwoNodesConvergeOverTheLineProtocol(t *testing.T) {
	a := startPipeNode(t, "-name", "a", "-port", "0")
	b := startPipeNode(t, "-name", "b", "-port", "0", "-join", a.addr)

	if got := a.do(t, "add 5"); got != "ok" {
		t.Fatalf("add 5 = %q, want ok", got)
	}
	if got := b.do(t, "add -2"); got != "ok" {
		t.Fatalf("add -2 = %q, want ok", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		va, vb := a.do(t, "value"), b.do(t, "value")
		if va == "value 3" && vb == "value 3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: a %q, b %q, want value 3 on both", va, vb)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not a wait for an outcome
	}
	if got := a.do(t, "members"); got != "members 2 a,b" {
		t.Errorf("members = %q, want %q", got, "members 2 a,b")
	}
	if got := b.do(t, "replica"); !strings.HasPrefix(got, "replica b ") || got == "replica b 0" {
		t.Errorf("replica = %q, want \"replica b INCARNATION\" with a non-zero incarnation", got)
	}
	if got := a.do(t, "stats"); !strings.HasPrefix(got, `stats {"Members":2,`) {
		t.Errorf("stats = %q, want a JSON Stats with Members 2", got)
	}
	if got := b.do(t, "quit"); got != "bye" {
		t.Errorf("quit = %q, want bye", got)
	}
	select {
	case <-b.done:
		if b.code != 0 {
			t.Errorf("exit code after quit = %d, want 0", b.code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("labnode did not exit after quit")
	}
}

func TestLabnodeAnswersBadCommandsAndCarriesOn(t *testing.T) {
	a := startPipeNode(t, "-name", "a", "-port", "0")
	for _, tc := range []struct{ cmd, want string }{
		{"", "error empty command"},
		{"frobnicate", `error unknown command "frobnicate"`},
		{"add", "error add takes 1 argument(s)"},
		{"add 1 2", "error add takes 1 argument(s)"},
		{"value now", "error value takes 0 argument(s)"},
		{"add x", `error add: strconv.ParseInt: parsing "x": invalid syntax`},
		{"add 99999999999999999999", `error add: strconv.ParseInt: parsing "99999999999999999999": value out of range`},
		{"value", "value 0"},
	} {
		if got := a.do(t, tc.cmd); got != tc.want {
			t.Errorf("%q -> %q, want %q", tc.cmd, got, tc.want)
		}
	}
}

func TestLabnodeFlags(t *testing.T) {
	o, err := parseFlags([]string{"-name", "n1", "-bind", "10.0.0.1", "-port", "7000", "-join", "10.0.0.2:7000, 10.0.0.3:7000,", "-gossip", "50ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.name != "n1" || o.bind != "10.0.0.1" || o.port != 7000 || o.gossip != 50*time.Millisecond {
		t.Errorf("options = %+v", o)
	}
	if want := []string{"10.0.0.2:7000", "10.0.0.3:7000"}; fmt.Sprint(o.join) != fmt.Sprint(want) || fmt.Sprint(o.peers) != fmt.Sprint(want) {
		t.Errorf("join %v peers %v, want both %v", o.join, o.peers, want)
	}
	cfg, err := o.config(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Discovery == nil || cfg.RediscoverInterval != time.Second || cfg.PushPullInterval != time.Second || cfg.ProbeInterval != 500*time.Millisecond {
		t.Errorf("config: discovery %v, rediscover %v, push/pull %v, probe %v", cfg.Discovery, cfg.RediscoverInterval, cfg.PushPullInterval, cfg.ProbeInterval)
	}

	for _, args := range [][]string{
		{},                              // no name
		{"-name", "n", "extra"},         // stray argument
		{"-name", "n", "-port", "many"}, // bad number
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded, want an error", args)
		}
	}
	o, err = parseFlags([]string{"-name", "n", "-peers", "not-an-address"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.config(io.Discard); err == nil {
		t.Error("config with peer \"not-an-address\" succeeded, want an error")
	}
	if code := run([]string{"-name", "n", "-port", "0", "-join", "127.0.0.1:1", "-join-timeout", "300ms"}, strings.NewReader(""), io.Discard, io.Discard); code != 1 {
		t.Errorf("run with an unreachable -join peer exited %d, want 1", code)
	}
}
