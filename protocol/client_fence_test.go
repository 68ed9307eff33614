package protocol

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"allforone/protocol/pb"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// A hint carries the hinted peer's addresses, which the client learns before it follows
// it; a hinted peer that cannot be dialled is skipped, with the reason, for the next
// steward of the route; when none is left, the error names each peer skipped and why.
func TestStewardClientLearnsHintAddrsAndSkipsUndialled(t *testing.T) {
	a, b, c := testPeer(t, 30), testPeer(t, 31), testPeer(t, 32)
	names := map[peer.ID]string{a: "a", b: "b", c: "c"}
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	f := &FakeCaller{}
	f.HandleSteward(a, "lab", func(context.Context, *pb.StewardRequest) *pb.StewardResponse {
		return &pb.StewardResponse{Error: ToPB(&WireError{Code: pb.ErrorCode_FENCED, Message: "epoch 1 is stale", Hint: b, Addrs: []ma.Multiaddr{addr}, Epoch: 2})}
	})
	f.Down(b, errors.New("connection refused"))
	f.HandleSteward(c, "lab", func(context.Context, *pb.StewardRequest) *pb.StewardResponse { return grantOf(1) })
	learned := map[peer.ID][]ma.Multiaddr{}
	cl := &StewardClient{Caller: f, Swarm: "lab", Learn: func(p peer.ID, as []ma.Multiaddr) { learned[p] = as }}
	from, g, err := cl.Lease(t.Context(), Route{Batch: testBatch, First: a, Next: []peer.ID{a, b, c}}, &pb.LeaseRequest{Max: 1})
	if err != nil || from != c || len(g.GetLeases()) != 1 {
		t.Fatalf("from %s: %v %v", from, g, err)
	}
	if len(learned[b]) != 1 || !learned[b][0].Equal(addr) {
		t.Fatalf("hint addresses not learned: %v", learned)
	}
	if got, want := kinds(f.Calls(), names), []string{"a:lease", "c:lease"}; !slices.Equal(got, want) { // a peer that is down records no call
		t.Fatalf("calls %v, want %v", got, want)
	}

	f.Down(c, errors.New("no route"))
	_, _, err = cl.Lease(t.Context(), Route{Batch: testBatch, First: a, Next: []peer.ID{c}}, &pb.LeaseRequest{Max: 1})
	if err == nil || !strings.Contains(err.Error(), "hint "+b.String()+" from "+a.String()+" could not be reached, skipped: ") ||
		!strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "no route") ||
		!strings.Contains(err.Error(), "steward "+c.String()+" could not be reached, skipped: ") {
		t.Fatalf("every steward unreachable: %v", err)
	}
}
