package operator

import (
	"errors"
	"testing"
	"time"
)

// fakeCPU replays counters: each read advances by one step of the given rates (ticks per
// read for the machine's 2 cores: 200 ticks in all).
type fakeCPU struct {
	s          CPUSample
	others, me uint64 // busy ticks per read
	err        error
}

func (f *fakeCPU) Read() (CPUSample, error) {
	if f.err != nil {
		return CPUSample{}, f.err
	}
	f.s.Total += 200
	f.s.Idle += 200 - f.others - f.me
	f.s.Self += f.me
	return f.s, nil
}

func TestBusyDetector(t *testing.T) {
	src := &fakeCPU{others: 120, me: 60} // others use 60% of the machine, this node 30%
	d := NewBusyDetector(src)
	now := time.Unix(1000, 0)
	window := 10 * time.Second
	if busy, _ := d.Busy(now, window, 50); busy {
		t.Fatal("busy with no samples")
	}
	for range 5 {
		now = now.Add(time.Second)
		d.Sample(now, window)
	}
	busy, others := d.Busy(now, window, 50)
	if !busy || others < 59 || others > 61 {
		t.Fatalf("others at 60%%: busy=%v others=%.1f", busy, others)
	}
	// The node's own load never counts: with others at 45% (under 50, over 0.8*50) it stays
	// paused (hysteresis), and resumes under 40%.
	src.others, src.me = 90, 110
	for range 12 {
		now = now.Add(time.Second)
		d.Sample(now, window)
	}
	if busy, others := d.Busy(now, window, 50); !busy {
		t.Fatalf("others at %.1f%% after a pause: resumed too early", others)
	}
	src.others = 40
	for range 12 {
		now = now.Add(time.Second)
		d.Sample(now, window)
	}
	if busy, others := d.Busy(now, window, 50); busy {
		t.Fatalf("others at %.1f%%: still paused", others)
	}
	if len(d.samples) > 12 {
		t.Fatalf("kept %d samples for a 10s window", len(d.samples))
	}
}

func TestBusyDetectorWithoutStats(t *testing.T) {
	d := NewBusyDetector(&fakeCPU{err: ErrNoCPUStats})
	now := time.Unix(1000, 0)
	for range 5 {
		now = now.Add(time.Second)
		d.Sample(now, time.Minute)
	}
	if busy, _ := d.Busy(now, time.Minute, 1); busy || !errors.Is(d.err, ErrNoCPUStats) {
		t.Fatalf("busy=%v err=%v without CPU stats", busy, d.err)
	}
}

func TestProcCPUReads(t *testing.T) {
	s, err := ProcCPU{}.Read()
	if errors.Is(err, ErrNoCPUStats) {
		t.Skip(err)
	}
	if err != nil || s.Total == 0 || s.Idle > s.Total {
		t.Fatalf("ProcCPU: %+v, %v", s, err)
	}
}
