package swarmtest

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestFaultStreams(t *testing.T) {
	faultLeakCheck(t)
	const delay = 20 * time.Millisecond
	n := newFaultNetwork(t, FaultConfig{Delay: delay, Drop: 1}) // Drop does not touch streams
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")

	accepted := make(chan error, 1)
	go func() {
		conn := <-b.StreamCh()
		defer conn.Close()
		if conn.RemoteAddr().String() != a.Addr() || conn.LocalAddr().String() != b.Addr() {
			accepted <- errors.New("accepted conn has addresses " + conn.LocalAddr().String() + " <- " + conn.RemoteAddr().String())
			return
		}
		buf := make([]byte, 4)
		if _, err := conn.Read(buf); err != nil {
			accepted <- err
			return
		}
		_, err := conn.Write(bytes.ToUpper(buf))
		accepted <- err
	}()

	start := time.Now()
	conn, err := a.DialAddressTimeout(memberlist.Address{Addr: b.Addr(), Name: "b"}, time.Second)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	if took := time.Since(start); took < delay {
		t.Errorf("dial took %v, want >= base delay %v", took, delay)
	}
	if conn.RemoteAddr().String() != b.Addr() {
		t.Errorf("RemoteAddr = %s, want %s", conn.RemoteAddr(), b.Addr())
	}
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	reply := make([]byte, 4)
	if _, err := conn.Read(reply); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if string(reply) != "PING" {
		t.Errorf("reply = %q, want PING", reply)
	}
	if err := <-accepted; err != nil {
		t.Fatalf("acceptor: %v", err)
	}
	if got := n.Stats(); got.StreamsOpened != 1 || got.StreamsRefused != 0 {
		t.Errorf("Stats() = %+v, want 1 stream opened", got)
	}
}

func TestFaultStreamDialFailures(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{})
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b") // nobody accepts its streams

	_, err := a.DialTimeout(b.Addr(), 20*time.Millisecond)
	var ne net.Error
	if !errors.Is(err, ErrDialTimeout) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("dial without acceptor error = %v, want ErrDialTimeout timeout", err)
	}

	// A dial waiting for the receiver fails when the receiver shuts down.
	errc := make(chan error, 1)
	go func() {
		_, err := a.DialTimeout(b.Addr(), 0)
		errc <- err
	}()
	if err := b.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-errc:
		// The dial may begin before or after the shutdown; either way it
		// is refused.
		if !errors.Is(err, ErrNoRoute) {
			t.Errorf("dial to shutting-down transport error = %v, want ErrNoRoute", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("dial to a shut-down transport still blocked")
	}
	if err := b.Shutdown(); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}

	if err := a.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := a.DialTimeout(b.Addr(), time.Second); !errors.Is(err, ErrTransportShutdown) {
		t.Errorf("dial from shut-down transport error = %v, want ErrTransportShutdown", err)
	}
	if _, err := a.WriteTo([]byte("x"), b.Addr()); !errors.Is(err, ErrTransportShutdown) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("write from shut-down transport error = %v, want ErrTransportShutdown and net.ErrClosed", err)
	}
	if got := n.Stats().StreamsRefused; got != 3 {
		t.Errorf("StreamsRefused = %d, want 3", got)
	}
}

func TestFaultStreamPartitionDuringDelay(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{Delay: time.Second})
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")
	errc := make(chan error, 1)
	go func() {
		conn, err := a.DialTimeout(b.Addr(), time.Minute)
		if conn != nil {
			_ = conn.Close()
		}
		errc <- err
	}()
	// Whether the cut comes before the dial starts or while it waits out
	// the delay, the dial is unreachable.
	if err := n.Partition([]string{"a"}, []string{"b"}); err != nil {
		t.Fatalf("Partition: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("dial error = %v, want ErrUnreachable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dial still blocked")
	}
}
