package testnet

import (
	"bytes"
	"encoding/json"
	"image/png"
	"strings"
	"testing"
	"time"

	"allforone/node"
)

// run builds samples every 250ms from a function of time: tasks accepted so far, and
// whether the batch still runs.
func run(total int, until time.Duration, done func(t time.Duration) int) []sample {
	var out []sample
	for t := time.Duration(0); t <= until; t += 250 * time.Millisecond {
		d := min(done(t), total)
		out = append(out, sample{T: t, Done: d, Total: total, Active: d < total, Fresh: true, MinReplicas: 3})
	}
	return out
}

func TestRecoveryAfter(t *testing.T) {
	steady := func(t time.Duration) int { return int(100 * t.Seconds()) } // 100 tasks/s
	stall := func(from, to time.Duration) func(time.Duration) int {
		return func(t time.Duration) int {
			switch {
			case t < from:
				return steady(t)
			case t < to:
				return steady(from)
			default:
				return steady(from) + steady(t-to)
			}
		}
	}
	s := func(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
	for _, tc := range []struct {
		name    string
		samples []sample
		fault   time.Duration
		want    time.Duration
		ok      bool
	}{
		{"no dip", run(5000, s(20), steady), s(6), 0, true},
		{"a 3 s stall: the first window at half the rate", run(5000, s(20), stall(s(6), s(9))), s(6), s(2.5), true},
		{"never recovers", run(5000, s(20), stall(s(6), s(100))), s(6), 0, false},
		{"nothing done before: the first task after", run(5000, s(20), stall(0, s(4))), s(1), s(3.25), true},
		{"the batch ends in the window, slowly", run(605, s(20), stall(s(6), s(6.9))), s(6), 0, true},
		{"after the work: K holders again", func() []sample {
			ss := run(100, s(10), steady)
			for i := range ss {
				if ss[i].T >= s(5) && ss[i].T < s(7) {
					ss[i].MinReplicas = 2
				}
				if ss[i].T == s(5.25) {
					ss[i].Fresh, ss[i].MinReplicas = false, 3 // a stale answer does not count
				}
			}
			return ss
		}(), s(5), s(2), true},
		{"fault after the last sample", run(5000, s(5), steady), s(6), 0, false},
	} {
		got, ok := recoveryAfter(tc.samples, tc.fault, 3)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: recovery %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSeriesAndTally(t *testing.T) {
	ss := []sample{{T: 200 * time.Millisecond, Done: 5, Live: 3}, {T: 900 * time.Millisecond, Done: 10, Live: 2}, {T: 2100 * time.Millisecond, Done: 30, Live: 3}}
	got := series(ss)
	want := []Point{{0, 0, 0, 3}, {1, 10, 10, 2}, {2, 10, 0, 2}, {3, 30, 20, 3}}
	if len(got) != len(want) {
		t.Fatalf("series %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("point %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	tl := tally(2, []node.TaskCounts{{Results: 2, Leases: 2}, {Results: 3, Leases: 4, Lost: 1}, {Results: 0, Leases: 1, Lost: 1}})
	if tl != (taskTally{executions: 5, duplicates: 1, rerun: 1, lost: 2}) {
		t.Errorf("tally %+v", tl)
	}
	if m := median([]float64{3, 1, 2, 10}); m != 2.5 {
		t.Errorf("median %v", m)
	}
}

func sampleReport() *Report {
	one, two := 0.5, 1.5
	r := &Report{Scenario: "churn", Processes: true, Nodes: 5, Module: "echo", Redundancy: 1, Replication: 3,
		BatchIDs: []string{"b"}, TasksTotal: 100, TasksCompleted: 100, Executions: 104, DuplicateExecutions: 4,
		DuplicateShare: 0.04, OK: true,
		Events: []EventRecord{
			{Seconds: 1, Kind: KindKill, Target: TargetRandom, Nodes: []int{1, 3}, Fault: true, RecoverySeconds: &one},
			{Seconds: 2, Kind: KindRestart, Nodes: []int{1, 3}},
			{Seconds: 3, Kind: KindPartition, Target: "halves", Nodes: []int{0, 1}, Fault: true, RecoverySeconds: &two},
			{Seconds: 4, Kind: KindHeal, Nodes: []int{}},
			{Seconds: 5, Kind: KindSlow, Target: "2", Nodes: []int{2}, Fault: true},
		}}
	for s := range 7 {
		r.Throughput = append(r.Throughput, Point{Seconds: float64(s), Done: min(100, s*20), Rate: 20, Live: 5})
	}
	r.summarizeRecovery()
	return r
}

func TestReportTextAndJSON(t *testing.T) {
	r := sampleReport()
	if len(r.RecoverySeconds) != 3 || r.RecoverySeconds[2] != nil || r.RecoveryMedian != 1 || r.RecoveryMax != 1.5 {
		t.Errorf("recovery summary: %v median %v max %v", r.RecoverySeconds, r.RecoveryMedian, r.RecoveryMax)
	}
	var buf bytes.Buffer
	r.WriteText(&buf)
	text := buf.String()
	for _, want := range []string{"100 total, 100 completed, 0 failed, 0 lost", "kill -9 node-1, node-3 (random)  -> recovered in 0.5s",
		"slow down node-2 (2)  -> not recovered", "1 not recovered", "OK: nothing lost"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	b, _ := json.Marshal(r)
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"tasks_total", "tasks_lost", "under_replicated", "duplicate_executions", "recovery_seconds", "throughput", "events"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	r.OK, r.TasksLost = false, 2
	buf.Reset()
	r.WriteText(&buf)
	if !strings.Contains(buf.String(), "FAILED: 2 tasks lost") {
		t.Errorf("a failed report does not say so:\n%s", buf.String())
	}
}

func TestReportChart(t *testing.T) {
	r := sampleReport()
	var buf bytes.Buffer
	if err := r.WriteChart(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != chartW || b.Dy() != chartH {
		t.Fatalf("chart is %v", b)
	}
	// Every event is a dashed line of its colour through the panels.
	plotW := chartW - marginL - marginR
	end := 6.0
	for _, e := range r.Events {
		x := marginL + int(e.Seconds/end*float64(plotW)+0.5)
		want := eventColours[e.Kind]
		found := false
		for y := marginT; y < chartH-marginB && !found; y++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			found = uint8(cr>>8) == want.R && uint8(cg>>8) == want.G && uint8(cb>>8) == want.B
		}
		if !found {
			t.Errorf("no %s line at x=%d", e.Kind, x)
		}
	}
}
