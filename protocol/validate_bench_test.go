package protocol

import (
	"testing"

	"allforone/protocol/pb"
)

// What validation costs on the hot paths: a worker's Complete of 64 results (what the Go
// worker sends at most) and a full state copy of MaxTasksPerDelta tasks with three records
// each.

func BenchmarkValidateComplete64(b *testing.B) {
	c := &pb.Complete{}
	for range 64 {
		c.Records = append(c.Records, okRecord(b, 1))
		c.Outputs = append(c.Outputs, []byte("42\n"))
	}
	req := stewardRequest(c)
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateStewardRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateStateDelta4096(b *testing.B) {
	d := &pb.StateDelta{Signature: testSig}
	for i := range uint32(MaxTasksPerDelta) {
		ts := &pb.TaskState{Task: i, Holders: [][]byte{[]byte(testPeer(b, 4))}}
		for range 3 {
			ts.Results = append(ts.Results, okRecord(b, i))
		}
		d.Tasks = append(d.Tasks, ts)
	}
	req := stewardRequest(d)
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateStewardRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}
