package codec

import "testing"

func TestKindString(t *testing.T) {
	got := []string{KindDelta.String(), KindState.String(), KindBroadcast.String(), Kind(4).String(), Kind(0).String(), Kind(99).String()}
	equal(t, got, []string{"delta", "state", "broadcast", "Kind(4)", "Kind(0)", "Kind(99)"}, "Kind.String")
}
