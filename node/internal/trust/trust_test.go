package trust

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/tasks/steward"
)

func testPeer(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Verdicts move a peer's run, a wrong result resets it and names the liar, and the records
// come back from the datastore as they were.
func TestVerdictsArePersistedAndReloaded(t *testing.T) {
	ctx := t.Context()
	ds := datastore.NewMapDatastore()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := New(ds, "self", slog.New(slog.DiscardHandler), func() time.Time { return now })
	good, liar := testPeer(t), testPeer(t)
	if liars := r.Apply(ctx, []steward.Verdict{{Peer: good, Agreed: true}, {Peer: good, Agreed: true}, {Peer: liar, Agreed: true}}); len(liars) != 0 {
		t.Fatalf("liars among agreeing verdicts: %v", liars)
	}
	liars := r.Apply(ctx, []steward.Verdict{{Peer: liar, Agreed: false}})
	if len(liars) != 1 || liars[0] != liar {
		t.Fatalf("liars = %v, want [%s]", liars, liar)
	}
	if got := r.Consecutive(good); got != 2 {
		t.Fatalf("good's run = %d, want 2", got)
	}
	if got := r.Consecutive(liar); got != 0 {
		t.Fatalf("the liar's run = %d, want 0 after a wrong result", got)
	}

	again := New(ds, "self", slog.New(slog.DiscardHandler), time.Now)
	if err := again.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if len(again.List()) != 2 || again.Consecutive(good) != 2 || again.Consecutive(liar) != 0 {
		t.Fatalf("reloaded records %+v, want good at 2 and the liar at 0", again.List())
	}
	for _, rec := range again.List() {
		if rec.PeerID == liar.String() && (rec.Disagreed != 1 || rec.Agreed != 1 || !rec.LastWrong.Equal(now)) {
			t.Fatalf("the liar's reloaded record %+v, want 1 agreed, 1 disagreed, last wrong at %v", rec, now)
		}
	}
}

// A peer that keeps lying is distrusted and hears why; one that never lied is not.
func TestRepeatedLiesAreRefused(t *testing.T) {
	ctx := t.Context()
	r := New(datastore.NewMapDatastore(), "abc123", slog.New(slog.DiscardHandler), time.Now)
	liar, honest := testPeer(t), testPeer(t)
	r.Apply(ctx, []steward.Verdict{{Peer: honest, Agreed: true}})
	for i := 0; i < 10 && !r.Distrusted(liar); i++ {
		r.Apply(ctx, []steward.Verdict{{Peer: liar, Agreed: false}})
	}
	if !r.Distrusted(liar) {
		t.Fatal("ten wrong results in a row and the peer is still trusted")
	}
	if why := r.Refusal(liar); !strings.Contains(why, "steward abc123") {
		t.Fatalf("refusal %q does not name this steward", why)
	}
	if r.Distrusted(honest) || r.Refusal(honest) != "" {
		t.Fatal("an honest peer is refused")
	}
}
