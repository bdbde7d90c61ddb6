package swarm

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUserBytesReadsMemberlistFraming(t *testing.T) {
	user := append([]byte{mlUser}, make([]byte, 40)...)
	ping := append([]byte{0}, make([]byte, 20)...)
	compound := []byte{mlCompound, 2, 0, byte(len(ping)), 0, byte(len(user))}
	compound = append(append(compound, ping...), user...)
	crc := append([]byte{mlCRC, 1, 2, 3, 4}, compound...)
	label := append([]byte{mlLabel, 3, 'a', 'b', 'c'}, crc...)
	for _, tc := range []struct {
		name string
		pkt  []byte
		user int
		ok   bool
	}{
		{"user message", user, len(user), true},
		{"ping", ping, 0, true},
		{"compound", compound, len(user), true},
		{"crc and label", label, len(user), true},
		{"compound cut short", compound[:len(compound)-1], 0, false},
		{"compound header cut short", compound[:3], 0, false},
		{"label cut short", label[:3], 0, false},
		{"encrypted", []byte{10, 1, 2}, 0, false},
		{"compressed", []byte{9, 1, 2}, 0, false},
		{"empty", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := userBytes(tc.pkt)
			assert.Equal(t, tc.ok, ok)
			if ok {
				assert.Equal(t, tc.user, got)
			}
		})
	}
}
