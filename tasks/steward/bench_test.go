package steward

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"allforone/tasks"
	"allforone/tasks/placement"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// finishedState is a finished batch of n tasks (R=1, K=3) whose results members hold,
// three each; the same every call.
func finishedState(tb testing.TB, n, members int) (cid.Cid, []peer.ID, *tasks.BatchState) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &tasks.Manifest{Version: tasks.ManifestVersion, Swarm: "bench", Name: "bench",
		Module:     tasks.BlobRef{CID: tasks.ContentID([]byte("m")), Size: 1},
		Inputs:     []tasks.Input{tasks.RangeInput(tasks.Range{Start: 0, End: int64(n)})},
		Limits:     tasks.Limits{MemoryPages: 16, Timeout: 10 * time.Second, MaxOutputBytes: 1 << 10},
		Redundancy: 1, Replication: 3, MaxReplicas: 1, CreatedAt: created, Deadline: created.Add(time.Hour)}
	id := tasks.ContentID([]byte("bench batch"))
	ids := make([]peer.ID, members)
	keys := make([]crypto.PrivKey, members)
	for i := range ids {
		keys[i], ids[i] = keyFor(tb, fmt.Sprint("member ", i))
	}
	st := tasks.NewBatchState(id, m, rand.New(rand.NewPCG(1, 2)))
	for i := range n {
		r := tasks.ResultRecord{Batch: id, Task: i, Executor: ids[i%members], Output: tasks.ContentID([]byte{byte(i), byte(i >> 8)}), OutputSize: 2, Finished: created}
		if err := r.Sign(keys[i%members]); err != nil {
			tb.Fatal(err)
		}
		st.AddResult(r)
		for k := range 3 {
			st.AddHolder(i, ids[(i+k)%members])
		}
	}
	if !st.Done() {
		tb.Fatal("the batch is not finished")
	}
	return id, ids, st
}

// BenchmarkFinishedBatchTick is one tick of the primary of a finished batch of 500 tasks
// (K=3) in a calm swarm of 20 members: what every finished batch costs its primary each
// second for as long as it is kept.
func BenchmarkFinishedBatchTick(b *testing.B) {
	const n, members = 500, 20
	id, ids, st := finishedState(b, n, members)
	created := st.Manifest.CreatedAt
	view := func(self peer.ID) *placement.View {
		return placement.New(placement.Config{Self: self, At: created, Members: ids, Connected: ids, Swarm: ids})
	}
	self := view(ids[0]).Primary(id, 3)
	s := New(Config{Self: self, State: st, View: view(self), LeaseDuration: time.Minute})
	s.Step(Tick{Now: created})
	s.Ready()
	if !s.Primary() {
		b.Fatal("not primary")
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Step(Tick{Now: created.Add(time.Duration(i+1) * time.Second)})
		s.Ready()
	}
}
