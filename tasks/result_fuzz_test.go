package tasks

import (
	"testing"
	"time"

	"allforone/protocol/pb"

	"google.golang.org/protobuf/proto"
)

// FuzzResultRecord decodes arbitrary bytes as a result record from the network and
// verifies it: errors are fine, panics are not, and nothing unsigned verifies.
func FuzzResultRecord(f *testing.F) {
	_, keys := testPeers(f, 1)
	b := newState(f, 2, 1, 3)
	r := rec(b, 1, "", "out")
	r.Sign(keys[0])
	good, _ := proto.Marshal(r.ToPB())
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("\x0a\x03abc\x10\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p pb.ResultRecord
		if proto.Unmarshal(data, &p) != nil {
			return
		}
		rec, err := ResultFromPB(&p)
		if err != nil {
			return
		}
		if rec.Verify() == nil {
			// Only a record someone signed can verify; the seed is one.
			if len(rec.Signature) == 0 {
				t.Fatal("a record without a signature verified")
			}
		}
	})
}

// FuzzTaskState decodes arbitrary bytes as another steward's task state and merges it:
// the state machine must stay consistent (counters match the tasks).
func FuzzTaskState(f *testing.F) {
	w, keys := testPeers(f, 2)
	b := newState(f, 3, 1, 3)
	b.Grant(w[0], 1, t0, time.Minute, nil)
	r := rec(b, 0, "", "out")
	r.Sign(keys[0])
	b.AddResult(r)
	good, _ := proto.Marshal(b.TaskStateToPB(0))
	f.Add(good)
	f.Add([]byte{0x08, 0x05})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p pb.TaskState
		if proto.Unmarshal(data, &p) != nil {
			return
		}
		st := newState(t, 3, 1, 3)
		i, ts, err := st.TaskStateFromPB(&p)
		if err != nil {
			return
		}
		st.Merge(i, ts)
		done, failed := st.Counts()
		n := 0
		for k := range st.NumTasks() {
			if st.Task(k).Status() != TaskOpen {
				n++
			}
		}
		if done+failed != n {
			t.Fatalf("counters %d+%d but %d decided tasks", done, failed, n)
		}
	})
}
