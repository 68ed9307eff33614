package operator

import (
	"strings"
	"testing"
	"time"
)

func TestScheduleAllows(t *testing.T) {
	// 2024-06-03 is a Monday.
	at := func(day int, hm string) time.Time {
		c, err := parseClock(hm)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2024, 6, 3+day, 0, 0, 0, 0, time.UTC).Add(c)
	}
	cases := []struct {
		sched string
		day   int // 0 Monday ... 6 Sunday
		at    string
		want  bool
	}{
		{"", 0, "12:00", true},
		{"18:00-08:00", 0, "12:00", false},
		{"18:00-08:00", 0, "18:00", true},
		{"18:00-08:00", 0, "23:59", true},
		{"18:00-08:00", 1, "07:59", true},
		{"18:00-08:00", 1, "08:00", false},
		{"09:00-17:00", 2, "09:00", true},
		{"09:00-17:00", 2, "17:00", false},
		{"00:00-24:00", 3, "23:59", true},
		{"mon-fri 18:00-23:00, sat-sun 00:00-24:00", 4, "20:00", true},  // Friday evening
		{"mon-fri 18:00-23:00, sat-sun 00:00-24:00", 4, "12:00", false}, // Friday noon
		{"mon-fri 18:00-23:00, sat-sun 00:00-24:00", 5, "12:00", true},  // Saturday
		{"sun 22:00-02:00", 0, "01:00", true},                           // Sunday night into Monday
		{"sun 22:00-02:00", 1, "01:00", false},                          // Monday night
		{"fri-mon 10:00-11:00", 6, "10:30", true},                       // wraps the week
		{"fri-mon 10:00-11:00", 2, "10:30", false},
		{"Saturday 10:00-11:00", 5, "10:30", true},
	}
	for _, tc := range cases {
		s, err := ParseSchedule(tc.sched)
		if err != nil {
			t.Fatalf("ParseSchedule(%q): %v", tc.sched, err)
		}
		if got := s.Allows(at(tc.day, tc.at)); got != tc.want {
			t.Errorf("%q at day %d %s: %v, want %v", tc.sched, tc.day, tc.at, got, tc.want)
		}
	}
}

func TestScheduleNext(t *testing.T) {
	s, _ := ParseSchedule("18:00-08:00")
	now := time.Date(2024, 6, 3, 12, 30, 10, 0, time.UTC)
	if got, want := s.Next(now), time.Date(2024, 6, 3, 18, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Next = %v, want %v", got, want)
	}
	if got := s.Next(now.Add(7 * time.Hour)); !got.Equal(now.Add(7 * time.Hour)) {
		t.Fatalf("Next within the window = %v", got)
	}
}

func TestScheduleErrors(t *testing.T) {
	for _, bad := range []string{"18:00", "25:00-08:00", "18:60-19:00", "someday 10:00-11:00", "mon tue 10:00-11:00", "24:00-08:00", "8-9"} {
		_, err := ParseSchedule(bad)
		if err == nil || !strings.Contains(err.Error(), "use e.g.") {
			t.Errorf("ParseSchedule(%q) = %v, want an error with an example", bad, err)
		}
	}
}
