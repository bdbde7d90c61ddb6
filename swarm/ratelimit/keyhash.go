package ratelimit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/bits"

	"github.com/shoal-go/shoal/crdt"
)

// keyHasher turns a client key into the crdt.KeyHash that stands for it
// on the wire, in Values, on the debug page and in metrics: SipHash-2-4
// with a 128-bit output and a 128-bit secret. With a secret, a hash tells
// nothing about its key to anyone without the secret (SipHash is a PRF),
// and nobody without it can make two keys collide on purpose; by chance,
// 100,000 keys collide with probability below 10⁻²⁸. Without one (see
// KeyedConfig.HashSecret) the secret is derived from the limiter's name
// only: anyone who reads the hashes can test guesses of the keys.
//
// It costs about 20 ns for a 40-byte key (BenchmarkKeyHash) and allocates
// nothing, so hot keys need no cache.
type keyHasher struct {
	k0, k1 uint64
	keyed  bool
}

// newKeyHasher derives the SipHash key from secret (may be nil) and the
// limiter's name, so that two limiters give one key different hashes.
func newKeyHasher(name string, secret []byte) keyHasher {
	h := sha256.New()
	h.Write([]byte("shoal/ratelimit/keyed-hash\x00"))
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(secret)
	sum := h.Sum(nil)
	return keyHasher{
		k0:    binary.LittleEndian.Uint64(sum[0:8]),
		k1:    binary.LittleEndian.Uint64(sum[8:16]),
		keyed: len(secret) > 0,
	}
}

// hash returns key's 128-bit hash.
func (h keyHasher) hash(key string) crdt.KeyHash {
	lo, hi := sipHash128(h.k0, h.k1, key)
	var out crdt.KeyHash
	binary.LittleEndian.PutUint64(out[0:8], lo)
	binary.LittleEndian.PutUint64(out[8:16], hi)
	return out
}

// hashString renders a key hash for people: 32 hex digits.
func hashString(h crdt.KeyHash) string { return hex.EncodeToString(h[:]) }

// sipHash128 is SipHash-2-4 with 128-bit output (Aumasson and Bernstein's
// reference, vectors_sip128), over the bytes of msg.
func sipHash128(k0, k1 uint64, msg string) (lo, hi uint64) {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d ^ 0xee
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(msg)
	p := msg
	for len(p) >= 8 {
		m := uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
			uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56
		v3 ^= m
		round()
		round()
		v0 ^= m
		p = p[8:]
	}
	last := uint64(n) << 56
	for i := len(p) - 1; i >= 0; i-- {
		last |= uint64(p[i]) << (8 * i)
	}
	v3 ^= last
	round()
	round()
	v0 ^= last
	v2 ^= 0xee
	round()
	round()
	round()
	round()
	lo = v0 ^ v1 ^ v2 ^ v3
	v1 ^= 0xdd
	round()
	round()
	round()
	round()
	hi = v0 ^ v1 ^ v2 ^ v3
	return lo, hi
}
