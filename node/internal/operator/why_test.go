package operator

import (
	"testing"
	"time"

	"allforone/node/internal/store"
)

func TestWhyNamesTheReason(t *testing.T) {
	open := WhyBatch{Name: "b", MemoryMB: 64, Open: true}
	base := WhyFacts{Peers: 3, Bootstrap: 1, Slots: 2, MaxMemoryMB: 256, SyncInterval: time.Minute}
	cases := []struct {
		name  string
		mod   func(f *WhyFacts)
		codes []string
	}{
		{"no peers, no bootstrap", func(f *WhyFacts) { f.Peers, f.Bootstrap = 0, 0 }, []string{"no_peers"}},
		{"no peers", func(f *WhyFacts) { f.Peers = 0; f.Batches = []WhyBatch{open} }, []string{"no_peers"}},
		{"no batches", func(f *WhyFacts) {}, []string{"no_batches"}},
		{"all finished", func(f *WhyFacts) { f.Batches = []WhyBatch{{Name: "old"}} }, []string{"no_batches"}},
		{"paused twice", func(f *WhyFacts) {
			f.Batches = []WhyBatch{open}
			f.Pauses = []Pause{{"schedule", "outside hours", "wait"}, {"run_on_battery", "on battery", "plug in"}}
		}, []string{"paused", "paused"}},
		{"memory", func(f *WhyFacts) { f.Batches = []WhyBatch{{MemoryMB: 512, Open: true}, {MemoryMB: 1024, Open: true}} }, []string{"memory"}},
		{"some fit", func(f *WhyFacts) { f.Batches = []WhyBatch{{MemoryMB: 512, Open: true}, open} }, []string{"no_tasks"}},
		{"waiting for a lease", func(f *WhyFacts) { f.Batches = []WhyBatch{open} }, []string{"no_tasks"}},
		{"batch waits for peers", func(f *WhyFacts) {
			f.Batches = []WhyBatch{{Name: "b", MemoryMB: 64, Open: true, Waiting: "waiting: 5 peers can run it, R=16 needs 9"}}
		}, []string{"waiting"}},
		{"computing", func(f *WhyFacts) { f.Batches = []WhyBatch{open}; f.Running = 2 }, nil},
		{"distrusted", func(f *WhyFacts) { f.Batches = []WhyBatch{open}; f.Running = 1; f.Distrusted = "wrong results" }, []string{"distrusted"}},
		{"unreachable", func(f *WhyFacts) { f.Batches = []WhyBatch{open}; f.Running = 1; f.Reachability = "private" }, []string{"unreachable"}},
		{"incompatible", func(f *WhyFacts) { f.Peers = 0; f.Incompatible = []string{"abc (v0)"} }, []string{"no_peers", "incompatible"}},
		{"data lost", func(f *WhyFacts) {
			f.Batches = []WhyBatch{open}
			f.Running = 1
			f.DataLoss = &store.DataLoss{Reason: "log", Synced: 5, Kept: 3, Before: store.StoreCounts{Batches: 3}, After: store.StoreCounts{Batches: 2}}
		}, []string{"data_lost"}},
		{"runner", func(f *WhyFacts) { f.Batches = []WhyBatch{open}; f.Runner = "start /usr/bin/allforone: no such file" }, []string{"runner", "no_tasks"}},
		{"refused", func(f *WhyFacts) {
			f.Batches = []WhyBatch{{Name: "bomb", MemoryMB: 64, Open: true, Refused: "over the compile budget"}}
		}, []string{"refused"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			tc.mod(&f)
			r := DecideWhy(f)
			var got []string
			for _, reason := range r.Reasons {
				got = append(got, reason.Code)
				if reason.Reason == "" || reason.Fix == "" {
					t.Errorf("reason %s without text or fix: %+v", reason.Code, reason)
				}
			}
			if len(got) != len(tc.codes) {
				t.Fatalf("codes %v, want %v (%s)", got, tc.codes, r.Summary)
			}
			for i := range got {
				if got[i] != tc.codes[i] {
					t.Fatalf("codes %v, want %v", got, tc.codes)
				}
			}
			if r.Computing != (f.Running > 0) || r.Summary == "" {
				t.Fatalf("report %+v", r)
			}
		})
	}
}
