package lab

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// startLocal starts a labnode in this process's own namespace on a free
// loopback port: what the Process tests need, with no root.
func startLocal(t *testing.T, name string, args ...string) *Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, name, "", labnodeBinary(t),
		append([]string{"-name", name, "-bind", "127.0.0.1", "-port", "0"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Kill(); err != nil {
			t.Errorf("kill %s: %v", name, err)
		}
	})
	return p
}

func TestProcessDrivesALabnode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := startLocal(t, "a")
	b := startLocal(t, "b", "-join", a.Addr())

	if err := a.Add(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(ctx, 3); err != nil {
		t.Fatal(err)
	}
	for {
		va, errA := a.Value(ctx)
		vb, errB := b.Value(ctx)
		if err := errors.Join(errA, errB); err != nil {
			t.Fatal(err)
		}
		if va == 10 && vb == 10 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("values a=%d b=%d, want 10 on both", va, vb)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	m, err := a.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b"}; !slices.Equal(m, want) {
		t.Errorf("members %v, want %v", m, want)
	}
	inc, err := b.Incarnation(ctx)
	if err != nil || inc == 0 {
		t.Errorf("incarnation %d, %v; want non-zero", inc, err)
	}
	if _, err := a.Do(ctx, "frobnicate"); err == nil {
		t.Error("an unknown command returned no error")
	}
	if err := b.Quit(ctx); err != nil {
		t.Fatalf("quit: %v", err)
	}
	if _, err := b.Value(ctx); !errors.Is(err, ErrExited) {
		t.Errorf("value after quit: %v, want ErrExited", err)
	}
}

func TestProcessKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := startLocal(t, "a")
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := a.Kill(); err != nil {
		t.Errorf("second Kill: %v, want nil", err)
	}
	if err := a.Add(ctx, 1); !errors.Is(err, ErrExited) {
		t.Errorf("add after kill: %v, want ErrExited", err)
	}
}

func TestStartReportsANodeThatFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Port 1 on an address this machine does not have: bind fails.
	_, err := Start(ctx, "x", "", labnodeBinary(t), "-name", "x", "-bind", "192.0.2.1", "-port", "1")
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Start of a node that cannot bind: %v, want ErrExited", err)
	}
}
