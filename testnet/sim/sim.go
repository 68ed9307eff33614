package sim

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"allforone/tasks"
	"allforone/tasks/worker"

	"github.com/ipfs/go-cid"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Sim is one simulation's world. It is not safe for concurrent use.
type Sim struct {
	cfg Config
	rng *rand.Rand
	t0  time.Time
	now time.Duration
	q   eventQueue
	seq uint64

	nodes      []*node
	kps        []uint64 // the nodes' keyspace positions, by index
	byID       map[peer.ID]int32
	batches    []*batch
	batchByKey map[string]*batch
	bucketKeys [worker.Buckets]string
	bucketKps  [worker.Buckets]uint64
	adopting   map[int32]map[int32][]func(*stew)
	coreEvents map[string]int // what the steward cores logged (noteEvent)

	finished, partitioned bool
	healedAt              time.Duration

	// counters
	events, msgs                  int64
	byKind                        [numKinds]int64
	maxQueue                      int
	lookups, puts, stews          int
	executions, running, cutShort int
	completesLost                 int
	departures, returns, gone     int
	rejected                      int
	primariesLeft                 int
	votes, votesGranted           int     // primary-lease votes answered, and granted (fence.go)
	leaseLatency                  []int32 // ms, of requests that got leases
	baseHeap, peakHeap            uint64
}

// batch is one submitted batch and what the simulation knows of it for the report.
type batch struct {
	idx       int32
	id        cid.Cid
	m         *tasks.Manifest
	kp        uint64
	bucketKey string
	bucketKp  uint64
	at        time.Duration // submitted
	execs     []uint8       // completed executions per task
	holders   [][]int32     // nodes that stored each accepted result
	done      bool

	primaries, maxPrimaries, maxPrimariesWhole int
}

// Run runs a simulation to its end: every task's result stored on a live node, or
// MaxTime. ctx stops it early (the report then says so).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	s := &Sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x51a1)), t0: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		byID: map[peer.ID]int32{}, batchByKey: map[string]*batch{}, adopting: map[int32]map[int32][]func(*stew){}, coreEvents: map[string]int{}}
	s.baseHeap = heapNow()
	s.build()
	for i := range worker.Buckets {
		k := worker.OpenWorkKey("sim", i)
		s.bucketKeys[i], s.bucketKps[i] = k.KeyString(), prefix(kb.ConvertKey(string(k.Bytes())))
	}
	for i := range cfg.Batches {
		s.after(time.Duration(i)*cfg.BatchEvery, func() { s.submit(int32(i)) })
	}
	for _, n := range s.nodes {
		s.after(time.Duration(s.rng.Int64N(int64(time.Second))), func() { s.workerPoll(n.w) })
	}
	s.scheduleChurn()
	s.schedulePartition()
	s.schedulePrimariesLeave()
	s.after(5*time.Second, s.checkDone)
	s.after(time.Minute, s.sampleHeap)
	stopped := false
	for !s.finished && s.now <= cfg.MaxTime && s.step() {
		if s.events%65536 == 0 && ctx.Err() != nil {
			stopped = true
			break
		}
	}
	s.sampleHeap()
	return s.report(time.Since(start), stopped), nil
}

// build makes the nodes and their routing tables.
func (s *Sim) build() {
	s.nodes = make([]*node, s.cfg.Nodes)
	for i := range s.nodes {
		var b [32]byte
		binary.LittleEndian.PutUint64(b[:], s.rng.Uint64())
		binary.LittleEndian.PutUint64(b[8:], s.rng.Uint64())
		binary.LittleEndian.PutUint64(b[16:], s.rng.Uint64())
		binary.LittleEndian.PutUint64(b[24:], s.rng.Uint64())
		id, kp := newID(b)
		n := &node{idx: int32(i), id: id, kp: kp, up: true, nat: s.rng.Float64() < s.cfg.NAT,
			x: s.rng.Float32(), y: s.rng.Float32(), loss: float32(s.rng.Float64() * s.cfg.Loss), cutAt: -time.Hour, since: -time.Hour}
		n.w = s.newWorker(n)
		s.nodes[i] = n
		s.kps = append(s.kps, kp)
		s.byID[id] = int32(i)
	}
	if s.nodes[0].nat { // at least one server
		s.nodes[0].nat = false
	}
	s.buildTables()
}

// submit makes batch i and submits it from a random live node: one gossip announcement
// that every live node admits (or refuses) by its quota, and the manifest handed to the
// closest servers its lookup finds.
func (s *Sim) submit(i int32) {
	var sub *node
	for sub == nil || !sub.up {
		sub = s.nodes[s.rng.IntN(len(s.nodes))]
	}
	m := &tasks.Manifest{Version: tasks.ManifestVersion, Swarm: "sim", Name: fmt.Sprintf("sim-%d", i),
		Module:     tasks.BlobRef{CID: tasks.ContentID([]byte("module")), Size: 6},
		Inputs:     []tasks.Input{tasks.RangeInput(tasks.Range{Start: 0, End: int64(s.cfg.Tasks)})},
		Limits:     tasks.Limits{MemoryPages: 16, Timeout: s.cfg.TaskTimeout, MaxOutputBytes: 1 << 10},
		Redundancy: uint32(s.cfg.Redundancy), Replication: uint32(s.cfg.Replication), MaxReplicas: uint32(s.cfg.Redundancy + 2),
		CreatedAt: s.wall(), Deadline: s.wall().Add(24 * time.Hour), Nonce: binary.BigEndian.AppendUint64(nil, s.rng.Uint64()),
		Submitter: sub.id}
	id := tasks.ContentID(binary.BigEndian.AppendUint64([]byte(m.Name), s.rng.Uint64()))
	b := &batch{idx: i, id: id, m: m, kp: prefix(kb.ConvertKey(string(id.Bytes()))), at: s.now,
		execs: make([]uint8, s.cfg.Tasks), holders: make([][]int32, s.cfg.Tasks)}
	bk := worker.BucketOf(id)
	b.bucketKey, b.bucketKp = s.bucketKeys[bk], s.bucketKps[bk]
	s.batches = append(s.batches, b)
	s.after(settleTime, func() { s.notePrimaries(b) })
	s.batchByKey[id.KeyString()] = b
	for _, n := range s.nodes {
		if !n.up {
			continue
		}
		s.msgs += gossipDegree
		s.byKind[kindGossip] += gossipDegree
		if n.ann == nil {
			n.ann = &worker.Announcements{}
		}
		if err := n.ann.Admit(sub.id, id, m.Deadline, s.wall()); err != nil {
			s.rejected++
		}
	}
	s.lookup(sub, b.kp, func(found []int32) {
		for _, p := range found[:min(len(found), s.cfg.Replication)] {
			pn := s.nodes[p]
			s.call(kindAdopt, sub, pn, rpcTimeout, func(reply func(any)) {
				s.withStew(pn, b, found, func(*stew) {})
				reply(nil)
			}, func(any, bool) {})
		}
	})
}

// checkDone ends the run once every task's result is held by a live node.
func (s *Sim) checkDone() {
	all := true
	for _, b := range s.batches {
		if !b.done {
			b.done = s.batchHeld(b)
		}
		all = all && b.done
	}
	if all && len(s.batches) == s.cfg.Batches {
		s.finished = true
		return
	}
	s.after(5*time.Second, s.checkDone)
}

// batchHeld reports whether every task of b has its result on a live node.
func (s *Sim) batchHeld(b *batch) bool {
	for _, hs := range b.holders {
		if s.liveHolders(hs) == 0 {
			return false
		}
	}
	return true
}

func (s *Sim) liveHolders(hs []int32) int {
	n := 0
	for _, h := range hs {
		if s.nodes[h].up {
			n++
		}
	}
	return n
}

// sampleHeap measures the live heap (after a collection) and keeps the peak.
func (s *Sim) sampleHeap() {
	s.peakHeap = max(s.peakHeap, heapNow())
	if !s.finished {
		s.after(time.Minute, s.sampleHeap)
	}
}

func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
