package steward

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"allforone/protocol"
	"allforone/tasks"
	"allforone/tasks/placement"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cockroachdb/datadriven"
)

// The same trace gives the same output every time: nothing in the core depends on map
// order, the clock or the scheduler.
func TestTracesAreDeterministic(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) < 6 {
		t.Fatalf("traces: %v %v", files, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var runs [2]string
		for i := range runs {
			var w *world
			datadriven.RunTestFromString(t, string(raw), func(t *testing.T, d *datadriven.TestData) string {
				if d.Cmd == "batch" {
					w = newTraceWorld(t, d)
				} else {
					w.out.Reset()
					runCommand(t, w, d)
				}
				runs[i] += w.out.String()
				return d.Expected
			})
		}
		if runs[0] != runs[1] {
			t.Fatalf("%s: two runs differ", f)
		}
	}
}

// plainWorld is a world with a batch and its three stewards, for tests that step cores by
// hand.
func plainWorld(t *testing.T) *world {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &tasks.Manifest{Version: tasks.ManifestVersion, Swarm: "t", Name: "t",
		Module:     tasks.BlobRef{CID: tasks.ContentID([]byte("m")), Size: 1},
		Inputs:     []tasks.Input{tasks.RangeInput(tasks.Range{Start: 0, End: 4})},
		Limits:     tasks.Limits{MemoryPages: 16, Timeout: 10 * time.Second, MaxOutputBytes: 1 << 10},
		Redundancy: 1, Replication: 3, MaxReplicas: 1, CreatedAt: created, Deadline: created.Add(time.Hour)}
	w := newWorld(t, t.Name(), m, 4, 1, 0)
	for _, x := range w.members[:3] {
		w.steward(x)
	}
	return w
}

// A new primary answers no request before the other stewards' copies are merged: the
// requests wait, and are answered in order once the last pull is in.
func TestRequestsWaitForTheTakeoverPulls(t *testing.T) {
	w := plainWorld(t)
	s1 := w.nodes["s1"].core
	s1.Step(LeaseRequest{Req: 1, From: w.ids["w1"], Now: w.now, Max: 1, BlobsHere: true})
	rd := s1.Ready()
	if len(rd.Pull) != 2 || len(rd.Replies) != 0 {
		t.Fatalf("taking over: pulls %v, replies %v: the request must wait for the pulls", rd.Pull, rd.Replies)
	}
	s1.Step(Renew{Req: 2, From: w.ids["w1"], Now: w.now})
	s1.Step(Pulled{From: w.ids["s2"], Err: errors.New("gone")})
	if rd := s1.Ready(); len(rd.Replies) != 0 {
		t.Fatalf("one pull of two in: answered %v", rd.Replies)
	}
	s1.Step(Pulled{From: w.ids["s3"]})
	rd = s1.Ready()
	if len(rd.Replies) != 2 || rd.Replies[0].Req != 1 || rd.Replies[1].Req != 2 || len(rd.Replies[0].Grant.GetLeases()) != 1 {
		t.Fatalf("after the pulls: replies %+v", rd.Replies)
	}
	if len(rd.Copies) != 2 || !rd.Copies[0].Full {
		t.Fatalf("after the takeover every other steward gets a full copy: %+v", rd.Copies)
	}
}

// A primary that loses the role answers the requests it parked with a redirect to the new
// primary, and hands that primary its whole state.
func TestLosingTheRoleRedirectsAndHandsBack(t *testing.T) {
	w := plainWorld(t)
	s1 := w.nodes["s1"].core
	s1.Step(LeaseRequest{Req: 1, From: w.ids["w1"], Now: w.now, Max: 1, BlobsHere: true})
	s1.Ready()
	// s1 stops serving the DHT (it is no member any more): s2 is the closest now.
	v := placement.New(placement.Config{Self: w.ids["s1"], At: w.now,
		Members: []peer.ID{w.ids["s2"], w.ids["s3"]}, Connected: []peer.ID{w.ids["s2"], w.ids["s3"], w.ids["w1"]}})
	s1.Step(Members{View: v})
	rd := s1.Ready()
	var we *protocol.WireError
	if len(rd.Replies) != 1 || !errors.As(rd.Replies[0].Err, &we) || we.Hint != w.ids["s2"] {
		t.Fatalf("the parked request: %+v", rd.Replies)
	}
	if s1.Primary() || len(rd.Copies) != 1 || rd.Copies[0].To != w.ids["s2"] || !rd.Copies[0].Full {
		t.Fatalf("demoted: primary %v, copies %+v", s1.Primary(), rd.Copies)
	}
	// A failed hand-back is tried again at the next tick, a few times at most.
	for range handBackTries + 2 {
		s1.Step(CopySent{To: w.ids["s2"], Full: true, Err: errUnreachable})
		s1.Step(Tick{Now: w.now})
		s1.Ready()
	}
	s1.Step(Tick{Now: w.now})
	if rd := s1.Ready(); len(rd.Copies) != 0 {
		t.Fatalf("hand-back retried without end: %+v", rd.Copies)
	}
}
