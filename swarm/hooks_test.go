package swarm

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// The hooks are single-owner and keep off the engine's own kinds.
func TestHooksAreSingleOwner(t *testing.T) {
	n, err := New(DefaultLocalConfig("hooks"))
	require.NoError(t, err)
	defer n.Close()

	for _, k := range []codec.Kind{0, codec.KindDelta, codec.KindState, kindDirect, kindLeave, kindTree, kindBurst, kindPack} {
		require.Error(t, n.handleKind(k, func(*codec.Envelope) {}), "kind %s", k)
	}
	var got []string
	require.NoError(t, n.handleKind(codec.KindBroadcast, func(env *codec.Envelope) { got = append(got, env.Origin.Node) }))
	err = n.handleKind(codec.KindBroadcast, func(*codec.Envelope) {})
	require.True(t, errors.Is(err, errHookTaken), "%v", err)
	n.receive(&codec.Envelope{Kind: codec.KindBroadcast, Origin: n.self}, false, nil)
	require.Equal(t, []string{"hooks"}, got, "the first handler still receives")

	// Without an arrival function a value for an unknown name is parked;
	// refused, it is dropped; registered, it is merged at once.
	env := func(name string) *codec.Envelope {
		payload, err := n.codec.Marshal(newClassicValue(n.self, n.codec, nil, n).Empty())
		require.NoError(t, err)
		return &codec.Envelope{Kind: codec.KindDelta, Name: name, Type: typeNameOf[*classicValue](), Origin: n.self, Payload: payload}
	}
	n.receive(env("parked"), false, nil)
	require.Equal(t, 1, n.pending.len())
	require.NoError(t, n.onArrival(func(name string) arrival {
		if name == "refused" {
			return arrivalRefused
		}
		_, err := Share(n, name, func(self crdt.Replica) *classicValue { return newClassicValue(self, n.codec, nil, n) })
		require.NoError(t, err)
		return arrivalRegistered
	}))
	require.True(t, errors.Is(n.onArrival(func(string) arrival { return arrivalPending }), errHookTaken))
	n.receive(env("refused"), false, nil)
	require.Equal(t, 1, n.pending.len(), "refused: not parked")
	n.receive(env("registered"), false, nil)
	require.Equal(t, 1, n.pending.len())
	n.valuesMu.RLock()
	_, ok := n.values["registered"]
	n.valuesMu.RUnlock()
	require.True(t, ok)
}
