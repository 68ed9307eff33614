package p2p

import "testing"

func TestSwarmKeyFormat(t *testing.T) {
	k, err := NewSwarmKey()
	if err != nil {
		t.Fatal(err)
	}
	psk, err := DecodeSwarmKey(k)
	if err != nil || len(psk) != 32 {
		t.Fatalf("decode a fresh key: %v (%d bytes)", err, len(psk))
	}
	for _, bad := range []string{"", "hello", "/key/swarm/psk/1.0.0/\n/base16/\nabcd\n"} {
		if _, err := DecodeSwarmKey([]byte(bad)); err == nil {
			t.Errorf("DecodeSwarmKey(%q) succeeded", bad)
		}
	}
}
