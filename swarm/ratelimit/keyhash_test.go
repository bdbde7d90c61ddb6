package ratelimit

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSipHash128Vectors checks the reference vectors (key 00..0f, message
// 00..len−1) from vectors_sip128 of Aumasson and Bernstein's SipHash.
func TestSipHash128Vectors(t *testing.T) {
	key := make([]byte, 16)
	msg := make([]byte, 15)
	for i := range key {
		key[i] = byte(i)
	}
	for i := range msg {
		msg[i] = byte(i)
	}
	k0, k1 := binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:])
	for n, want := range map[int]string{
		0:  "a3817f04ba25a8e66df67214c7550293",
		1:  "da87c1d86b99af44347659119b22fc45",
		2:  "8177228da4a45dc7fca38bdef60affe4",
		3:  "9c70b60c5267a94e5f33b6b02985ed51",
		15: "5493e99933b0a8117e08ec0f97cfc3d9",
	} {
		lo, hi := sipHash128(k0, k1, string(msg[:n]))
		var out [16]byte
		binary.LittleEndian.PutUint64(out[:8], lo)
		binary.LittleEndian.PutUint64(out[8:], hi)
		assert.Equal(t, want, hex.EncodeToString(out[:]), "message of %d bytes", n)
	}
}

func TestKeyHasherSecretAndName(t *testing.T) {
	a := newKeyHasher("clients", []byte("secret-1"))
	assert.True(t, a.keyed)
	assert.Equal(t, a.hash("alice"), newKeyHasher("clients", []byte("secret-1")).hash("alice"), "deterministic across nodes")
	assert.NotEqual(t, a.hash("alice"), a.hash("bob"))
	assert.NotEqual(t, a.hash("alice"), newKeyHasher("clients", []byte("secret-2")).hash("alice"), "the secret changes every hash")
	assert.NotEqual(t, a.hash("alice"), newKeyHasher("other", []byte("secret-1")).hash("alice"), "so does the limiter's name")
	assert.False(t, newKeyHasher("clients", nil).keyed)
}

// BenchmarkKeyHash hashes a 40-byte key (a bearer token's length).
func BenchmarkKeyHash(b *testing.B) {
	h := newKeyHasher("clients", []byte("secret"))
	key := "Bearer 0123456789abcdef0123456789abcdef0"
	b.ReportAllocs()
	for b.Loop() {
		_ = h.hash(key)
	}
}
