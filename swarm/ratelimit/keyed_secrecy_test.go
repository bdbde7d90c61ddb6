package ratelimit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/debugpage"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/swarmtest"
	"github.com/stretchr/testify/require"
)

// recorder keeps every byte its transports send: packets, and writes on
// streams this node dialed or accepted (push/pull, large deltas).
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) record(b []byte) {
	r.mu.Lock()
	r.buf.Write(b)
	r.mu.Unlock()
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// recordingTransport is a real memberlist net transport on 127.0.0.1
// whose outgoing bytes are recorded.
type recordingTransport struct {
	*memberlist.NetTransport
	rec     *recorder
	streams chan net.Conn
	done    chan struct{}
	wg      sync.WaitGroup
}

func newRecordingTransport(t testing.TB, rec *recorder) *recordingTransport {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 0})
	require.NoError(t, err)
	tr := &recordingTransport{NetTransport: nt, rec: rec, streams: make(chan net.Conn), done: make(chan struct{})}
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		for {
			select {
			case <-tr.done:
				return
			case c := <-nt.StreamCh():
				select {
				case tr.streams <- recordedConn{c, rec}:
				case <-tr.done:
					_ = c.Close()
					return
				}
			}
		}
	}()
	return tr
}

func (t *recordingTransport) Shutdown() error {
	err := t.NetTransport.Shutdown()
	close(t.done)
	t.wg.Wait()
	return err
}

func (t *recordingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.rec.record(b)
	return t.NetTransport.WriteTo(b, addr)
}

func (t *recordingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.rec.record(b)
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *recordingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := t.NetTransport.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return recordedConn{c, t.rec}, nil
}

func (t *recordingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c, err := t.NetTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return recordedConn{c, t.rec}, nil
}

func (t *recordingTransport) StreamCh() <-chan net.Conn { return t.streams }

type recordedConn struct {
	net.Conn
	rec *recorder
}

func (c recordedConn) Write(b []byte) (int, error) {
	c.rec.record(b)
	return c.Conn.Write(b)
}

// TestKeyedKeysNeverLeaveInClear sends keyed-limiter traffic through
// three plaintext nodes whose transports record every byte they send
// (gossip, the fast path, push/pull anti-entropy), and checks that no key
// appears in it, nor in Values, on the debug page or in KeyedStats.
func TestKeyedKeysNeverLeaveInClear(t *testing.T) {
	rec := &recorder{}
	c := swarmtest.Start(t, 3, swarmtest.Options{
		Transport: func(string) (memberlist.NodeAwareTransport, error) { return newRecordingTransport(t, rec), nil },
	})
	keys := make([]string, 300)
	for i := range keys {
		secret := make([]byte, 12)
		_, _ = rand.Read(secret)
		keys[i] = "Bearer tok-" + hex.EncodeToString(secret)
	}
	var lims []*ratelimit.KeyedLimiter
	for i, nd := range c.Nodes() {
		cfg := ratelimit.KeyedConfig{Limit: 2, Window: time.Minute}
		if i > 0 {
			cfg.Limit = 2
		}
		k, err := ratelimit.NewKeyed(nd, "clients", cfg)
		require.NoError(t, err)
		t.Cleanup(k.Close)
		lims = append(lims, k)
	}
	ctx := context.Background()
	for i, key := range keys {
		for range 3 { // the third is denied: keys reach the throttled list too
			lims[i%3].Allow(ctx, key)
		}
	}
	pushPulls := func(nd *swarm.Node) uint64 { return nd.Stats().PushPulls }
	base := pushPulls(c.Node(0))
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		for i, k := range lims {
			if n := k.Len(); n != len(keys) {
				return fmt.Errorf("node %d holds %d keys, want %d", i, n, len(keys))
			}
		}
		if pushPulls(c.Node(0)) < base+2 {
			return fmt.Errorf("waiting for anti-entropy")
		}
		return nil
	})
	sent := rec.bytes()
	require.Greater(t, len(sent), 10_000, "the recorder saw the traffic")

	srv := httptest.NewServer(debugpage.Handler(c.Node(0)))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "?format=json")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp, err = srv.Client().Get(srv.URL)
	require.NoError(t, err)
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	values := []byte(fmt.Sprintf("%+v", c.Node(0).Values()))
	stats := []byte(fmt.Sprintf("%+v", lims[0].Stats()))
	require.NotEmpty(t, lims[0].Stats().TopThrottled)
	for _, key := range keys {
		token := key[len("Bearer tok-"):]
		for where, b := range map[string][]byte{"the wire": sent, "Values": values, "the debug page": page, "the debug page's HTML": html, "KeyedStats": stats} {
			// Either half of the random part is enough to see a leak.
			if bytes.Contains(b, []byte(token[:12])) || bytes.Contains(b, []byte(token[12:])) {
				t.Fatalf("key %q appears in clear in %s", key, where)
			}
		}
	}
	// The hash an operator looks up is what the stats show.
	require.Equal(t, lims[0].HashOf(keys[0]), lims[1].HashOf(keys[0]), "every node hashes a key alike")
}
