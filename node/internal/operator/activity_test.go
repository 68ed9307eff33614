package operator

import (
	"testing"
	"time"
)

// A started task shows as running until it finishes; finished ones show newest first and
// count in the bucket of their second.
func TestActivityRecord(t *testing.T) {
	var a Record
	now := time.Date(2026, 1, 2, 3, 4, 50, 0, time.UTC)
	a.Started("b", "batch", 1, now)
	a.Started("b", "batch", 2, now)
	a.Started("b", "batch", 3, now)
	a.Abandoned("b", 3)
	if a.Running() != 2 {
		t.Fatalf("running %d, want 2", a.Running())
	}
	a.Finished(RecentResult{BatchID: "b", Task: 1, OK: true, Finished: now.Add(time.Second)})
	a.Finished(RecentResult{BatchID: "b", Task: 2, OK: false, Finished: now.Add(12 * time.Second)})
	s := a.Snapshot(now.Add(15*time.Second), time.Minute, 10*time.Second)
	if len(s.Running) != 0 || s.Finished != 2 || len(s.Recent) != 2 || s.Recent[0].Task != 2 {
		t.Fatalf("snapshot %+v: want nothing running, 2 finished, task 2 first", s)
	}
	if len(s.Throughput) != 6 || s.BucketSecs != 10 {
		t.Fatalf("throughput %+v: want 6 buckets of 10 s", s.Throughput)
	}
	last, prev := s.Throughput[5], s.Throughput[4]
	if last.Failed != 1 || last.OK != 0 || prev.OK != 1 || prev.Failed != 0 {
		t.Fatalf("buckets %+v and %+v: want the failure in the last, the success before it", prev, last)
	}
}
