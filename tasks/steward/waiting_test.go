package steward

import (
	"strings"
	"testing"
)

// Each reason a batch cannot progress, with the numbers and the fix it states; none where
// the peers there are can decide its tasks.
func TestDecideWaiting(t *testing.T) {
	cases := []struct {
		name string
		f    WaitFacts
		code string
		says []string
	}{
		{"R=16 on 5 peers", WaitFacts{R: 16, MaxReplicas: 18, MemoryMiB: 64, Peers: 5}, "replicas",
			[]string{"5 peers can run it", "R=16 needs 9 distinct peers", "lower --replicas to 5 or less, or add peers"}},
		{"R=16 on 9 peers runs", WaitFacts{R: 16, MaxReplicas: 18, MemoryMiB: 64, Peers: 9}, "", nil},
		{"R=2 alone", WaitFacts{R: 2, MaxReplicas: 4, MemoryMiB: 64, Peers: 1}, "replicas",
			[]string{"1 peer can run it", "R=2 needs 2 distinct peers", "lower --replicas to 1"}},
		{"memory above every cap", WaitFacts{R: 1, MaxReplicas: 3, MemoryMiB: 2048, Peers: 5, Declined: 5, MostMiB: 1024}, "memory",
			[]string{"no peer can run it", "5 peers decline it", "asks 2048 MiB", "the most they allow is 1024 MiB", "lower --memory to 1024", "max_task_memory_mb 2048"}},
		{"memory above most caps", WaitFacts{R: 3, MaxReplicas: 5, MemoryMiB: 2048, Peers: 5, Declined: 4, MostMiB: 1024}, "replicas",
			[]string{"1 peer can run it", "4 peers decline it", "lower --memory to 1024"}},
		{"peers not heard from may run it", WaitFacts{R: 1, MaxReplicas: 3, MemoryMiB: 2048, Peers: 5, Declined: 2, MostMiB: 1024}, "", nil},
		{"liars refused", WaitFacts{R: 3, MaxReplicas: 5, MemoryMiB: 64, Peers: 3, Refused: 2}, "replicas",
			[]string{"1 peer can run it", "refuses 2"}},
		{"tasks exhausted", WaitFacts{R: 3, MaxReplicas: 5, MemoryMiB: 64, Peers: 3, Exhausted: 4}, "exhausted",
			[]string{"4 tasks ran on all 3 peers", "up to 5 distinct peers", "add peers"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws := DecideWaiting(tc.f)
			if tc.code == "" {
				if len(ws) != 0 {
					t.Fatalf("reasons %+v, want none", ws)
				}
				return
			}
			if len(ws) != 1 || ws[0].Code != tc.code {
				t.Fatalf("reasons %+v, want one %s", ws, tc.code)
			}
			text := ws[0].Reason + " | " + ws[0].Fix
			for _, s := range tc.says {
				if !strings.Contains(text, s) {
					t.Errorf("%q does not say %q", text, s)
				}
			}
		})
	}
}
