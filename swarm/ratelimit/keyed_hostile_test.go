package ratelimit_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/swarmtest"
	"github.com/stretchr/testify/require"
)

// TestKeyedRejectsForgedDeltas sends a node, as one unauthenticated UDP
// packet each in a member's name, a delta that writes another replica's
// events and a delta dated an hour ahead: the first is refused by the
// engine's merge-time checks (crdt.Bounded, counted in Stats.Rejected as
// foreign_slot), the second's events by the keyed window (counted in
// KeyedStats.Rejected); neither throttles the key.
func TestKeyedRejectsForgedDeltas(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{})
	nd := c.Node(0)
	const secret = "cluster secret"
	k, err := ratelimit.NewKeyed(nd, "clients", ratelimit.KeyedConfig{Limit: 3, Window: time.Minute, HashSecret: []byte(secret)})
	require.NoError(t, err)
	defer k.Close()

	// The attacker knows the secret (the worst case) and so alice's hash.
	var h crdt.KeyHash
	raw, err := hex.DecodeString(k.HashOf("alice"))
	require.NoError(t, err)
	copy(h[:], raw)
	cd := codec.Default()
	send := func(origin, writer crdt.Replica, at time.Time) {
		w, err := crdt.NewKeyedWindow(writer, time.Minute, 100_000)
		require.NoError(t, err)
		w.AddAt(at, h, 3)
		d, _ := w.Delta()
		payload, err := cd.Marshal(d)
		require.NoError(t, err)
		msg, err := cd.EncodeEnvelope(&codec.Envelope{Kind: codec.KindDelta, Name: "ratelimit/keyed/clients", Type: "*crdt.KeyedWindow", Origin: origin, Payload: payload})
		require.NoError(t, err)
		udp, err := net.Dial("udp", nd.Addr())
		require.NoError(t, err)
		defer udp.Close()
		const userMsg = 8 // memberlist's user-message type
		_, err = udp.Write(append([]byte{userMsg}, msg...))
		require.NoError(t, err)
	}
	member, victim := c.Node(1).Replica(), crdt.Replica{Node: "victim", Incarnation: 1}
	send(member, victim, time.Now())
	send(member, member, time.Now().Add(time.Hour))
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		if n := nd.Stats().Rejected["foreign_slot"]; n < 1 {
			return fmt.Errorf("origin rule: %d rejected (%v)", n, nd.Stats().Rejected)
		}
		if n := k.Stats().Rejected; n < 1 {
			return fmt.Errorf("future events: %d rejected", n)
		}
		return nil
	})
	require.True(t, k.Allow(context.Background(), "alice"), "neither forged delta throttles alice")
	require.Zero(t, k.Stats().Keys-1, "only alice's own event is held")
}
