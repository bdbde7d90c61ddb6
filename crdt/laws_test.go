package crdt

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"pgregory.net/rapid"
)

// The merge laws are checked the same way for every type: a few replicas
// run a random history of local updates, full-state merges and delta
// exchanges; then the final states must merge commutatively, associatively
// and idempotently, the deltas must add up to the full states, an effect
// must carry exactly what changed, and a state must survive the wire.
// States are compared by their deterministic CBOR encoding, which is what
// "equal states encode to equal bytes" demands anyway.

var (
	t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	testEnc = func() cbor.EncMode {
		em, err := cbor.CoreDetEncOptions().EncMode()
		if err != nil {
			panic(err)
		}
		return em
	}()
	testDec = func() cbor.DecMode {
		dm, err := cbor.DecOptions{}.DecMode()
		if err != nil {
			panic(err)
		}
		return dm
	}()
)

var lawReplicas = []Replica{{"a", 1}, {"b", 7}, {"b", 2}, {"c", 3}}

// lawCase describes one type to the harness.
type lawCase[T Value[T]] struct {
	// start prepares one run: newLocal builds a replica's local state, op
	// applies one random update and records it in the case's reference
	// model, and check compares a state that has merged everything with the
	// model (it may be nil).
	start func() (newLocal func(Replica) T, op func(*rapid.T, T, Replica, time.Time), check func(*rapid.T, T, time.Time))
	// step is the largest time step between two events.
	step time.Duration
	// settle, if set, brings a final state to the instant the laws are
	// checked at (a windowed type drops its expired buckets), so that
	// merges compare states of the same instant.
	settle func(x T, now time.Time)
}

func canon[T any](t interface{ Fatalf(string, ...any) }, x T) []byte {
	var v any = x
	if w, ok := v.(interface{ wireForm() any }); ok {
		v = w.wireForm() // a local state that keeps its entries outside its wire fields
	}
	b, err := testEnc.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

// roundTrip encodes x, decodes it into empty and validates it.
func roundTrip[T Value[T]](t *rapid.T, x T) T {
	y := x.Empty()
	if err := testDec.Unmarshal(canon(t, x), y); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := y.Validate(); err != nil {
		t.Fatalf("validate after round trip: %v", err)
	}
	return y
}

func merged[T Value[T]](now time.Time, xs ...T) T {
	acc := xs[0].Clone()
	for _, x := range xs[1:] {
		acc.Merge(now, x)
	}
	return acc
}

func checkLaws[T Value[T]](t *testing.T, lc lawCase[T]) {
	t.Helper()
	rapid.Check(t, func(rt *rapid.T) {
		newLocal, op, check := lc.start()
		n := rapid.IntRange(2, len(lawReplicas)).Draw(rt, "replicas")
		xs := make([]T, n)
		for i := range xs {
			xs[i] = newLocal(lawReplicas[i])
		}
		var deltas []T
		now := t0
		steps := rapid.IntRange(0, 40).Draw(rt, "steps")
		for range steps {
			now = now.Add(time.Duration(rapid.Int64Range(0, int64(lc.step)).Draw(rt, "dt")))
			i := rapid.IntRange(0, n-1).Draw(rt, "i")
			switch rapid.IntRange(0, 4).Draw(rt, "kind") {
			case 0, 1:
				op(rt, xs[i], lawReplicas[i], now)
			case 2:
				j := rapid.IntRange(0, n-1).Draw(rt, "from")
				arg := xs[j].Clone()
				before := canon(rt, arg)
				xs[i].Merge(now, arg)
				if !bytes.Equal(before, canon(rt, arg)) {
					rt.Fatalf("merge modified its argument")
				}
			case 3, 4:
				if d, ok := xs[i].Delta(); ok {
					d = roundTrip(rt, d)
					deltas = append(deltas, d)
					j := rapid.IntRange(0, n-1).Draw(rt, "to")
					xs[j].Merge(now, d)
				} else if _, again := xs[i].Delta(); again {
					rt.Fatalf("Delta reported changes right after reporting none")
				}
			}
		}
		for i := range xs {
			if d, ok := xs[i].Delta(); ok {
				deltas = append(deltas, roundTrip(rt, d))
			}
			if _, ok := xs[i].Delta(); ok {
				rt.Fatalf("a second Delta in a row reported changes")
			}
		}

		finals := make([]T, n)
		for i := range xs {
			if lc.settle != nil {
				lc.settle(xs[i], now)
			}
			finals[i] = roundTrip(rt, xs[i].Clone())
			if !bytes.Equal(canon(rt, finals[i]), canon(rt, xs[i])) {
				rt.Fatalf("round trip changed replica %d", i)
			}
		}
		a := finals[rapid.IntRange(0, n-1).Draw(rt, "a")]
		b := finals[rapid.IntRange(0, n-1).Draw(rt, "b")]
		c := finals[rapid.IntRange(0, n-1).Draw(rt, "c")]

		// Commutative, associative, idempotent.
		if ab, ba := merged(now, a, b), merged(now, b, a); !bytes.Equal(canon(rt, ab), canon(rt, ba)) {
			rt.Fatalf("not commutative:\na⊔b %x\nb⊔a %x", canon(rt, ab), canon(rt, ba))
		}
		left := merged(now, merged(now, a, b), c)
		right := merged(now, a, merged(now, b, c))
		if !bytes.Equal(canon(rt, left), canon(rt, right)) {
			rt.Fatalf("not associative")
		}
		aa := a.Clone()
		if eff, changed := aa.Merge(now, a); changed || !reflect.ValueOf(eff).IsNil() {
			rt.Fatalf("merging a state into itself reported a change")
		}
		if !bytes.Equal(canon(rt, aa), canon(rt, a)) {
			rt.Fatalf("not idempotent")
		}

		// The effect of a merge, applied to the receiver's old state, gives
		// the same as merging the full argument; no change means no effect.
		x := a.Clone()
		eff, changed := x.Merge(now, b)
		if changed {
			eff = roundTrip(rt, eff)
			y := a.Clone()
			if _, ch := y.Merge(now, eff); !ch {
				rt.Fatalf("effect did not change the old state")
			}
			if !bytes.Equal(canon(rt, x), canon(rt, y)) {
				rt.Fatalf("effect differs from the full merge:\nfull   %x\neffect %x", canon(rt, x), canon(rt, y))
			}
			if bytes.Equal(canon(rt, x), canon(rt, a)) {
				rt.Fatalf("merge reported a change but the state is the same")
			}
		} else if !bytes.Equal(canon(rt, x), canon(rt, a)) {
			rt.Fatalf("merge changed the state but reported no change")
		}

		// Deltas, in any order and with duplicates, add up to the states.
		all := merged(now, finals...)
		fromDeltas := a.Empty()
		if len(deltas) > 0 {
			order := rapid.Permutation(deltas).Draw(rt, "order")
			dups := rapid.SliceOfN(rapid.IntRange(0, len(deltas)-1), 0, 5).Draw(rt, "dups")
			for _, d := range dups {
				order = append(order, deltas[d])
			}
			for _, d := range order {
				fromDeltas.Merge(now, d)
			}
		}
		if !bytes.Equal(canon(rt, fromDeltas), canon(rt, all)) {
			rt.Fatalf("deltas do not add up to the states:\ndeltas %x\nstates %x", canon(rt, fromDeltas), canon(rt, all))
		}

		// Every replica converges once it has heard everyone.
		for i := range xs {
			for j := range xs {
				xs[i].Merge(now, finals[j])
			}
			if !bytes.Equal(canon(rt, xs[i]), canon(rt, all)) {
				rt.Fatalf("replica %d did not converge", i)
			}
		}
		if check != nil {
			check(rt, xs[0], now)
		}
	})
}
