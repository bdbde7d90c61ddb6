package swarm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/codec"
)

// pack puts every envelope in exactly one packet (or in large), in order,
// and no packet exceeds the limit, whatever the mix of sizes.
func TestPackKeepsEveryEnvelopeInOrderWithinTheLimit(t *testing.T) {
	c := codec.Default()
	const max = 1336
	var b directBatch
	var want []string
	for i := range 5000 {
		size := 10 + (i*7919)%200
		if i%997 == 0 {
			size = 2000 // too large for a packet
		}
		env := codec.Envelope{Kind: kindDirect, Name: fmt.Sprint("v", i), Type: "t", Payload: bytes.Repeat([]byte{1}, size)}
		require.NoError(t, b.add(c, &env))
		want = append(want, env.Name)
	}
	packets, large, err := pack(c, b.envelopes(), max)
	require.NoError(t, err)
	var got, gotLarge []string
	for _, p := range packets {
		require.LessOrEqual(t, len(p), max)
		envs, err := decodeAny(c, p)
		require.NoError(t, err)
		for _, e := range envs {
			got = append(got, e.Name)
		}
	}
	for _, l := range large {
		require.Greater(t, len(l), max)
		e, err := c.DecodeEnvelope(l)
		require.NoError(t, err)
		gotLarge = append(gotLarge, e.Name)
	}
	var wantSmall, wantLarge []string
	for i, name := range want {
		if i%997 == 0 {
			wantLarge = append(wantLarge, name)
		} else {
			wantSmall = append(wantSmall, name)
		}
	}
	require.Equal(t, wantSmall, got)
	require.Equal(t, wantLarge, gotLarge)
	// Greedy packing leaves no packet that the next envelope would have
	// fitted: the count is within one envelope's slack of the optimum.
	total := 0
	for _, p := range packets {
		total += len(p)
	}
	require.Less(t, len(packets), total/(max-250)+2, "packets are filled")
}

func decodeAny(c *codec.Codec, p []byte) ([]codec.Envelope, error) {
	if codec.Detect(p) == codec.FormBatch {
		return c.DecodeBatch(p)
	}
	e, err := c.DecodeEnvelope(p)
	return []codec.Envelope{e}, err
}

// Packing is linear: 5,000 envelopes pack in one pass (the old loop
// re-encoded the shrinking batch per candidate size, cubic in this).
func BenchmarkPack5000(b *testing.B) {
	c := codec.Default()
	var batch directBatch
	for i := range 5000 {
		env := codec.Envelope{Kind: kindDirect, Name: fmt.Sprint("value-", i), Type: "*crdt.PNCounter", Payload: bytes.Repeat([]byte{1}, 30)}
		require.NoError(b, batch.add(c, &env))
	}
	envs := batch.envelopes()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := pack(c, envs, 1336); err != nil {
			b.Fatal(err)
		}
	}
}
