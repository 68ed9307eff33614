package steward

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/placement"

	"github.com/ipfs/go-cid"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// world is the swarm a golden trace runs in: members s1..sN (named in order of closeness
// to the batch, so s1 is its first primary), workers w1..wM (not members: they take no
// role), a clock, who is up and who can reach whom. Each member that stewards the batch
// has a core; the world carries out the cores' Readies (copies, stores, pulls, replies) at
// once, in order, and writes what happened to out.
type world struct {
	t        testing.TB
	t0, now  time.Time
	grace    time.Duration
	leaseFor time.Duration
	id       cid.Cid
	m        *tasks.Manifest
	members  []string
	workers  []string
	ids      map[string]peer.ID
	names    map[peer.ID]string
	keys     map[string]crypto.PrivKey
	up       map[string]bool
	group    map[string]string               // partition group ("" when healed)
	lostAt   map[string]map[string]time.Time // observer -> peer -> when it became unreachable
	reached  map[string]map[string]bool      // reachability at the last look
	nodes    map[string]*simNode
	trust    map[string]map[peer.ID]*TrustRecord // each member's trust records
	held     map[string]map[int]bool             // what each member holds
	reqs     map[ReqID]*request
	nextReq  ReqID
	queue    []func()
	holding  bool // messages wait in the queue until deliver
	out      strings.Builder
	named    *strings.Replacer // peer IDs (and their short forms) to names

	fence    *Fence                   // primary leases (nil: the closest live steward leads)
	skew     map[string]time.Duration // each node's clock, ahead of the world's
	heldAt   map[string]map[int]heldResult
	chaos    *rand.Rand              // the property test: random delivery order and drops
	dropping bool                    // the delivery under way is dropped (it fails as unreachable)
	quiet    bool                    // nothing is written to out
	outs     map[string]string       // output content IDs (KeyString) to the text that made them
	granted  map[string]map[int]bool // tasks each worker was granted
	stored   map[int]cid.Cid         // the first output stored for each task
	twice    []string                // stores of a second output for a task
	lookups  bool                    // cores get DHT lookups: the members each reaches
}

// lookupOf is the DHT lookup of the batch ID that x would do now: the members it reaches
// (itself included), with no addresses.
func (w *world) lookupOf(x string) *placement.Lookup {
	var found []placement.PeerInfo
	for _, m := range w.members {
		if w.reach(x, m) {
			found = append(found, placement.PeerInfo{ID: w.ids[m]})
		}
	}
	return placement.NewLookup(w.id, found, w.nowOf(x))
}

// heldResult is what a holder stores for a task: the output and the epoch it came with.
type heldResult struct {
	out   cid.Cid
	epoch uint64
}

// simNode is one member's steward of the batch.
type simNode struct {
	name    string
	core    *Steward
	saved   map[int]*pb.TaskState // what it persisted: a restart starts from it
	promise Promise               // the promise it persisted
	voters  Voters                // the voting set it persisted
	sig     string                // its view's content at the last look
}

// request is a worker's request in flight.
type request struct {
	worker string
	to     string
	hops   int
	make   func(ReqID) Input
}

func newWorld(t testing.TB, name string, m *tasks.Manifest, members, workers int, grace time.Duration) *world {
	w := &world{t: t, t0: m.CreatedAt, now: m.CreatedAt, grace: grace, m: m,
		id: tasks.ContentID([]byte(name)), ids: map[string]peer.ID{}, names: map[peer.ID]string{},
		keys: map[string]crypto.PrivKey{}, up: map[string]bool{}, group: map[string]string{},
		lostAt: map[string]map[string]time.Time{}, reached: map[string]map[string]bool{},
		nodes: map[string]*simNode{}, trust: map[string]map[peer.ID]*TrustRecord{},
		held: map[string]map[int]bool{}, reqs: map[ReqID]*request{},
		skew: map[string]time.Duration{}, heldAt: map[string]map[int]heldResult{}, outs: map[string]string{},
		granted: map[string]map[int]bool{}, stored: map[int]cid.Cid{}}
	w.leaseFor = 2*m.Limits.Timeout + 10*time.Second
	// Members: keys from seeds, named by closeness to the batch ID.
	type cand struct {
		id  peer.ID
		key crypto.PrivKey
	}
	var cands []cand
	for i := range members {
		sk, id := keyFor(t, fmt.Sprintf("member %d of %s", i, name))
		cands = append(cands, cand{id, sk})
	}
	target := kb.ConvertKey(string(w.id.Bytes()))
	slices.SortFunc(cands, func(a, b cand) int { return xorCmp(a.id, b.id, target) })
	for i, c := range cands {
		w.add(fmt.Sprintf("s%d", i+1), c.id, c.key)
		w.members = append(w.members, fmt.Sprintf("s%d", i+1))
	}
	for i := range workers {
		sk, id := keyFor(t, fmt.Sprintf("worker %d of %s", i, name))
		w.add(fmt.Sprintf("w%d", i+1), id, sk)
		w.workers = append(w.workers, fmt.Sprintf("w%d", i+1))
	}
	var pairs []string
	for n, id := range w.ids {
		pairs = append(pairs, id.String(), n, short(id), n)
	}
	w.named = strings.NewReplacer(pairs...)
	return w
}

func (w *world) add(name string, id peer.ID, sk crypto.PrivKey) {
	w.ids[name], w.names[id], w.keys[name], w.up[name] = id, name, sk, true
	w.trust[name] = map[peer.ID]*TrustRecord{}
}

// xorCmp orders peers by XOR distance to target.
func xorCmp(a, b peer.ID, target kb.ID) int {
	ka, kbb := kb.ConvertPeerID(a), kb.ConvertPeerID(b)
	for i := range target {
		if da, db := ka[i]^target[i], kbb[i]^target[i]; da != db {
			if da < db {
				return -1
			}
			return 1
		}
	}
	return 0
}

func keyFor(t testing.TB, seed string) (crypto.PrivKey, peer.ID) {
	s := sha256.Sum256([]byte(seed))
	sk, _, err := crypto.GenerateEd25519Key(rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(sk)
	return sk, id
}

func (w *world) isMember(n string) bool { return slices.Contains(w.members, n) }

// reach reports whether a and b can talk.
func (w *world) reach(a, b string) bool {
	if w.dropping {
		return false
	}
	return a == b || (w.up[a] && w.up[b] && w.group[a] == w.group[b])
}

// nowOf is x's clock.
func (w *world) nowOf(x string) time.Time { return w.now.Add(w.skew[x]) }

// at sets an input's time to x's clock.
func (w *world) at(x string, in Input) Input {
	now := w.nowOf(x)
	switch v := in.(type) {
	case Tick:
		v.Now = now
		return v
	case LeaseRequest:
		v.Now = now
		return v
	case Renew:
		v.Now = now
		return v
	case Return:
		v.Now = now
		return v
	case Complete:
		v.Now = now
		return v
	case StateCopy:
		v.Now = now
		return v
	case Left:
		v.Now = now
		return v
	case StatusQuery:
		v.Now = now
		return v
	case VoteRequest:
		v.Now = now
		return v
	}
	return in
}

// viewOf is what member x sees now.
func (w *world) viewOf(x string) *placement.View {
	c := placement.Config{Self: w.ids[x], At: w.nowOf(x), Grace: w.grace, Departed: map[peer.ID]time.Time{}}
	for _, m := range w.members {
		c.Members = append(c.Members, w.ids[m])
	}
	for _, p := range slices.Concat(w.members, w.workers) {
		if p != x && w.reach(x, p) {
			c.Connected = append(c.Connected, w.ids[p])
			c.Swarm = append(c.Swarm, w.ids[p])
		}
	}
	for p, at := range w.lostAt[x] {
		if w.isMember(p) {
			c.Departed[w.ids[p]] = at
		}
	}
	return placement.New(c)
}

// sigOf is the content of x's view that matters: who is live and who is away.
func (w *world) sigOf(v *placement.View) string {
	return fmt.Sprint(v.Members(), v.Away(), v.Swarm())
}

// look updates who reaches whom, tells each core of a changed view and of peers that
// left, and carries out what follows.
func (w *world) look() {
	for _, x := range slices.Concat(w.members, w.workers) {
		if w.reached[x] == nil {
			w.reached[x], w.lostAt[x] = map[string]bool{}, map[string]time.Time{}
		}
		var left []string
		for _, p := range slices.Concat(w.members, w.workers) {
			now := w.reach(x, p)
			was, seen := w.reached[x][p]
			switch {
			case seen && was && !now:
				w.lostAt[x][p] = w.now
				left = append(left, p)
			case now:
				delete(w.lostAt[x], p)
			}
			w.reached[x][p] = now
		}
		n := w.nodes[x]
		if n == nil || !w.up[x] {
			continue
		}
		if v := w.viewOf(x); w.sigOf(v) != n.sig {
			n.sig = w.sigOf(v)
			w.step(x, Members{View: v})
			if w.lookups {
				w.step(x, Lookup{Result: w.lookupOf(x)})
			}
		}
		for _, p := range left {
			w.step(x, Left{Peer: w.ids[p], Now: w.now})
		}
	}
	w.run()
}

// steward makes member x a steward of the batch, with the state it persisted if any.
func (w *world) steward(x string) *simNode {
	if n := w.nodes[x]; n != nil && n.core != nil {
		return n
	}
	st := tasks.NewBatchState(w.id, w.m, rand.New(rand.NewPCG(uint64(len(x)), uint64(x[len(x)-1]))))
	st.MaxPerWorker = 32
	n := w.nodes[x]
	if n == nil {
		n = &simNode{name: x, saved: map[int]*pb.TaskState{}}
		w.nodes[x] = n
	}
	for _, p := range n.saved {
		i, t, err := st.TaskStateFromStore(p)
		if err != nil {
			w.t.Fatal(err)
		}
		st.Merge(i, t)
	}
	v := w.viewOf(x)
	n.sig = w.sigOf(v)
	var fence *Fence
	if w.fence != nil {
		f := *w.fence
		f.Promise, f.Voters = n.promise, n.voters // what it persisted
		fence = &f
	}
	n.core = New(Config{Self: w.ids[x], State: st, View: v, LeaseDuration: w.leaseFor, MaxPerGrant: 64,
		Trust: worldTrust{w, x}, SelfMemoryMiB: 256, Fence: fence})
	if w.lookups {
		n.core.Step(Lookup{Result: w.lookupOf(x)})
		n.core.Ready()
	}
	return n
}

// worldTrust is a member's trust records as its core reads them.
type worldTrust struct {
	w *world
	x string
}

func (t worldTrust) Consecutive(p peer.ID) int {
	if r := t.w.trust[t.x][p]; r != nil {
		return r.Consecutive
	}
	return 0
}

func (t worldTrust) Refusal(p peer.ID) string {
	if r := t.w.trust[t.x][p]; r != nil {
		return r.Refusal(short(t.w.ids[t.x]))
	}
	return ""
}

// step steps one input into x's core and carries out its Ready.
func (w *world) step(x string, in Input) {
	n := w.nodes[x]
	n.core.Step(w.at(x, in))
	w.carry(x, n.core.Ready())
}

// run carries out queued deliveries until there are none (unless they are held).
func (w *world) run() {
	if !w.holding {
		w.deliver()
	}
}

// deliver carries out queued deliveries until there are none.
func (w *world) deliver() {
	for steps := 0; len(w.queue) > 0; steps++ {
		if steps > 10000 {
			w.t.Fatal("the world does not settle: " + tail(w.out.String()))
		}
		k := 0
		if w.chaos != nil {
			k = w.chaos.IntN(len(w.queue)) // any order
			w.dropping = w.chaos.IntN(10) == 0
		}
		f := w.queue[k]
		w.queue = slices.Delete(w.queue, k, k+1)
		f()
		w.dropping = false
	}
}

func (w *world) printf(format string, args ...any) {
	if !w.quiet {
		fmt.Fprintf(&w.out, format+"\n", args...)
	}
}

// decode converts wire task states the way a node does, verifying the records.
func (w *world) decode(states []*pb.TaskState) []TaskCopy {
	var out []TaskCopy
	for _, p := range states {
		i, t, err := tasks.DecodeTaskState(w.id, w.m.NumTasks(), p, (*tasks.ResultRecord).Verify)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, TaskCopy{Task: i, State: t})
	}
	return out
}

func tail(s string) string { return s[max(0, len(s)-1500):] }
