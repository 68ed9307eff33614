package tasks

import "testing"

func TestNeedsCopies(t *testing.T) {
	for _, tc := range []struct {
		k, live, away int
		want          bool
	}{
		{3, 3, 0, false},
		{3, 2, 1, false}, // one away within the grace: wait for it
		{3, 2, 0, true},
		{3, 1, 2, true}, // one live copy: copy now, whoever is away
		{3, 0, 3, true},
		{2, 1, 1, true}, // K=2: the grace never leaves one live copy
		{1, 0, 1, true},
		{1, 1, 0, false},
		{5, 2, 3, false},
		{5, 1, 4, true},
	} {
		if got := NeedsCopies(tc.k, tc.live, tc.away); got != tc.want {
			t.Errorf("NeedsCopies(k=%d, live=%d, away=%d) = %v, want %v", tc.k, tc.live, tc.away, got, tc.want)
		}
	}
}
