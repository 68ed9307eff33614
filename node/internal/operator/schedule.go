package operator

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Schedule is the hours a node may compute, parsed from Prefs.Schedule. The zero value
// allows any time.
type Schedule struct {
	windows []window
}

// window is one entry: on the days in mask (bit 0 is Sunday), from start for dur.
type window struct {
	days  uint8
	start time.Duration // since midnight
	dur   time.Duration // up to 24h; a window may run past midnight into the next day
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

const allDays = 0x7f

// ParseSchedule parses comma-separated entries of "[DAYS ]HH:MM-HH:MM", DAYS being a day or
// a range of days (mon, mon-fri, sat-sun, fri-mon). An end at or before the start runs past
// midnight; "00:00-24:00" is the whole day. The empty string allows any time.
func ParseSchedule(s string) (Schedule, error) {
	var sch Schedule
	if strings.TrimSpace(s) == "" {
		return sch, nil
	}
	for _, entry := range strings.Split(s, ",") {
		w, err := parseWindow(strings.TrimSpace(entry))
		if err != nil {
			return Schedule{}, fmt.Errorf("schedule %q: entry %q: %w (use e.g. \"18:00-08:00\" or \"mon-fri 18:00-23:00, sat-sun 00:00-24:00\")", s, entry, err)
		}
		sch.windows = append(sch.windows, w)
	}
	return sch, nil
}

func parseWindow(e string) (window, error) {
	w := window{days: allDays}
	fields := strings.Fields(e)
	switch len(fields) {
	case 1:
	case 2:
		d, err := parseDays(fields[0])
		if err != nil {
			return w, err
		}
		w.days = d
		fields = fields[1:]
	default:
		return w, errors.New("want [DAYS ]HH:MM-HH:MM")
	}
	from, to, ok := strings.Cut(fields[0], "-")
	if !ok {
		return w, errors.New("hours need a start and an end: HH:MM-HH:MM")
	}
	start, err := parseClock(from)
	if err != nil {
		return w, err
	}
	end, err := parseClock(to)
	if err != nil {
		return w, err
	}
	if start == 24*time.Hour {
		return w, errors.New("a start of 24:00 is not a time of day: use 00:00")
	}
	w.start, w.dur = start, end-start
	if end <= start {
		w.dur += 24 * time.Hour
	}
	return w, nil
}

func parseClock(s string) (time.Duration, error) {
	var h, m int
	if n, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || n != 2 || len(s) < 4 {
		return 0, fmt.Errorf("%q is not a time HH:MM", s)
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time between 00:00 and 24:00", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

func parseDays(s string) (uint8, error) {
	day := func(name string) (int, error) {
		name = strings.ToLower(name)
		for i, d := range dayNames {
			if name == d || name == strings.ToLower(time.Weekday(i).String()) {
				return i, nil
			}
		}
		return 0, fmt.Errorf("%q is not a day: use mon, tue, wed, thu, fri, sat or sun", name)
	}
	from, to, isRange := strings.Cut(s, "-")
	a, err := day(from)
	if err != nil {
		return 0, err
	}
	b := a
	if isRange {
		if b, err = day(to); err != nil {
			return 0, err
		}
	}
	var mask uint8
	for i := a; ; i = (i + 1) % 7 {
		mask |= 1 << i
		if i == b {
			break
		}
	}
	return mask, nil
}

// Allows reports whether the schedule allows computing at t (in t's location).
func (s Schedule) Allows(t time.Time) bool {
	if len(s.windows) == 0 {
		return true
	}
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	for _, w := range s.windows {
		// A window that started today, or yesterday and runs past midnight.
		for back := 0; back <= 1; back++ {
			dayStart := midnight.AddDate(0, 0, -back)
			if w.days&(1<<uint(dayStart.Weekday())) == 0 {
				continue
			}
			from := dayStart.Add(w.start)
			if !t.Before(from) && t.Before(from.Add(w.dur)) {
				return true
			}
		}
	}
	return false
}

// Next returns the next time at or after t that the schedule allows, to the minute; t
// itself when it allows t, and t when it never allows anything within a week.
func (s Schedule) Next(t time.Time) time.Time {
	if s.Allows(t) {
		return t
	}
	c := t.Truncate(time.Minute).Add(time.Minute)
	for range 7 * 24 * 60 {
		if s.Allows(c) {
			return c
		}
		c = c.Add(time.Minute)
	}
	return t
}
