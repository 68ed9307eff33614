package node

import (
	"slices"
	"testing"

	"allforone/tasks"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/test"
)

// The view's closest agrees with kbucket's sort by XOR distance, for every k.
func TestMemberViewClosestAgreesWithKbucket(t *testing.T) {
	var peers []peer.ID
	for range 40 {
		p, err := test.RandPeerID()
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	v := newMemberView(peers)
	for i := range 50 {
		key := tasks.ContentID([]byte{byte(i)})
		want := kb.SortClosestPeers(slices.Clone(peers), kb.ConvertKey(string(key.Bytes())))
		for _, k := range []int{0, 1, 3, 40, 50} {
			if got := v.closest(key, k); !slices.Equal(got, want[:min(k, len(want))]) {
				t.Fatalf("key %d, k %d: got %v, want %v", i, k, got, want[:min(k, len(want))])
			}
		}
	}
}
