package swarm

import (
	"io"
	"log"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNetTransportCarriesPacketsInBuffersOfTheirSize(t *testing.T) {
	logger := log.New(io.Discard, "", 0)
	a, err := newNetTransport("127.0.0.1", 0, logger)
	require.NoError(t, err)
	defer a.Shutdown()
	b, err := newNetTransport("127.0.0.1", 0, logger)
	require.NoError(t, err)
	defer b.Shutdown()

	ip, port, err := b.FinalAdvertiseAddr("", 0)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", ip.String())
	assert.Equal(t, b.port(), port)
	to := net.JoinHostPort(ip.String(), strconv.Itoa(port))

	for _, n := range []int{1, 1400, maxUDPPacket - 28 - 8} {
		msg := make([]byte, n)
		msg[0], msg[n-1] = 7, 9
		_, err := a.WriteToAddress(msg, memberlist.Address{Addr: to})
		require.NoError(t, err)
		select {
		case p := <-b.PacketCh():
			assert.Equal(t, msg, p.Buf)
			assert.Equal(t, n, cap(p.Buf), "a buffer of the packet's size, not 64 KiB")
			assert.Equal(t, a.port(), p.From.(*net.UDPAddr).Port)
		case <-time.After(10 * time.Second):
			t.Fatalf("packet of %d bytes not received", n)
		}
	}

	// Streams: dialled and accepted.
	conn, err := a.DialTimeout(to, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	select {
	case in := <-b.StreamCh():
		_, err := conn.Write([]byte("x"))
		require.NoError(t, err)
		buf := make([]byte, 1)
		_, err = io.ReadFull(in, buf)
		require.NoError(t, err)
		assert.Equal(t, "x", string(buf))
		in.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("stream not accepted")
	}

	// An explicit advertise address wins; a bad one is an error.
	ip, port, err = b.FinalAdvertiseAddr("10.1.2.3", 4000)
	require.NoError(t, err)
	assert.Equal(t, "10.1.2.3", ip.String())
	assert.Equal(t, 4000, port)
	_, _, err = b.FinalAdvertiseAddr("not-an-ip", 1)
	assert.Error(t, err)

	_, err = newNetTransport("no-such-address", 0, logger)
	assert.Error(t, err)
	// The port is taken by b.
	_, err = newNetTransport("127.0.0.1", b.port(), logger)
	assert.Error(t, err)
}
