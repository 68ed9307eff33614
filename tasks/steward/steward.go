package steward

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/placement"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Timings the core decides with (the driver's clock only supplies the time).
const (
	// LeaseRetryAfter is what a steward with nothing to lease tells a worker.
	LeaseRetryAfter = 250 * time.Millisecond
	// RefusedBlockAfter is how long after its refusal a distrusted worker is blocked: the
	// answer saying why is on its way first.
	RefusedBlockAfter = 200 * time.Millisecond
	// handBackTries bounds how often a demoted primary tries to give its state to the new
	// one (a tick apart).
	handBackTries = 3
)

// Trust is what the core reads of this node's trust records (the node owns them; Verdicts
// change them).
type Trust interface {
	// Consecutive is p's run of results that agreed with the quorum (BOINC's CV).
	Consecutive(p peer.ID) int
	// Refusal says why this node gives p no leases, "" when it trusts p enough.
	Refusal(p peer.ID) string
}

// Config is one batch's steward.
type Config struct {
	Self peer.ID
	// State is the batch's state, new or restored; the Steward owns it from now on.
	State *tasks.BatchState
	// View is the membership view to start with.
	View *placement.View
	// LeaseDuration is how long a lease holds.
	LeaseDuration time.Duration
	// MaxPerGrant bounds the leases in one grant.
	MaxPerGrant int
	// Trust is this node's trust in workers; nil trusts nobody and refuses nobody.
	Trust Trust
	// SelfMemoryMiB is the most memory this node allows a task (it declines a batch that
	// asks more).
	SelfMemoryMiB int
	// Fence, when set, makes the primary role a lease granted by a strict majority of the
	// batch's stewards, with an epoch that fences every grant, copy and store (fence.go).
	// nil keeps the rule of a driver that carries no votes: the closest live steward in
	// the view acts as primary.
	Fence *Fence
}

// Steward is one batch's steward core. It is not safe for concurrent use: one driver
// goroutine owns it.
type Steward struct {
	cfg  Config
	st   *tasks.BatchState
	id   cid.Cid
	m    *tasks.Manifest
	k    int // stewards of the batch, and holders of each result
	view *placement.View
	now  time.Time

	primary  bool
	pulling  map[peer.ID]bool      // takeover: stewards whose copies are awaited
	parked   []Input               // requests waiting for those copies
	copies   map[peer.ID]*peerCopy // the other stewards' copies (flow.go)
	copyBase uint64                // where the last peerCopy numbered its copies from
	barriers []*barrier            // replies waiting for copies and stores
	others   []peer.ID             // the other stewards at the last look

	handBack      peer.ID // demoted: the new primary that is owed this node's state
	handBackTries int
	handBackBusy  bool

	needStore map[int]struct{} // accepted tasks to store on holders
	retry     map[int]struct{} // stores that failed: again at the next tick
	storing   map[int]int      // stores on their way, by task
	persist   map[int]struct{} // merged tasks to persist

	askers       map[peer.ID]asker
	askersPruned time.Time
	waiting      []WaitReason
	waitingAt    time.Time

	f      *fence            // primary leases; nil without (Config.Fence)
	lookup *placement.Lookup // the last lookup of the batch ID, if any
	vset   []peer.ID         // the voting set of this view and lookup (votingSet), nil to compute

	enough enoughScan // the last scan that found every result with holders enough

	rd Ready
}

// New makes a batch's steward core.
func New(cfg Config) *Steward {
	if cfg.Trust == nil {
		cfg.Trust = noTrust{}
	}
	if cfg.MaxPerGrant <= 0 {
		cfg.MaxPerGrant = 64
	}
	s := &Steward{cfg: cfg, st: cfg.State, id: cfg.State.ID, m: cfg.State.Manifest,
		k: int(max(cfg.State.Manifest.Replication, 1)), view: cfg.View,
		copies: make(map[peer.ID]*peerCopy), needStore: make(map[int]struct{}), retry: make(map[int]struct{}),
		storing: make(map[int]int), persist: make(map[int]struct{}), askers: make(map[peer.ID]asker)}
	if s.view == nil {
		s.view = placement.New(placement.Config{Self: cfg.Self})
	}
	if cfg.Fence != nil {
		s.f = newFence(*cfg.Fence)
	}
	return s
}

type noTrust struct{}

func (noTrust) Consecutive(peer.ID) int { return 0 }
func (noTrust) Refusal(peer.ID) string  { return "" }

// State is the batch state. Callers in the driver's goroutine may read it between steps;
// nobody may change it.
func (s *Steward) State() *tasks.BatchState { return s.st }

// Primary reports whether this node acted as the batch's primary at the last step.
func (s *Steward) Primary() bool { return s.primary }

// Done reports whether every task is decided.
func (s *Steward) Done() bool { return s.st.Done() }

// Confirmed reports whether, as primary, this core knows steward p's copy to be whole: p
// answered a full copy, or said it has the digest of this finished batch's state.
func (s *Steward) Confirmed(p peer.ID) bool {
	pc := s.copies[p]
	return pc != nil && pc.state == copyConfirmed
}

// View is the membership view the core decides with.
func (s *Steward) View() *placement.View { return s.view }

// Step applies one input.
func (s *Steward) Step(in Input) {
	switch in := in.(type) {
	case Members:
		s.view, s.vset = in.View, nil
		s.claim()
	case Lookup:
		s.lookup, s.vset = in.Result, nil
		s.claim()
	case Tick:
		s.advance(in.Now)
		if s.f != nil {
			s.campaign()
		}
		s.tick()
	case VoteRequest:
		s.advance(in.Now)
		s.vote(in)
		s.claim()
	case VoteAnswer:
		s.voteAnswer(in)
		s.claim()
	case LeaseRequest:
		s.advance(in.Now)
		if s.asPrimary(in.Req, in) {
			s.lease(in)
		}
	case Renew:
		s.advance(in.Now)
		if s.asPrimary(in.Req, in) {
			s.st.Renew(in.From, in.Tasks, s.now, s.cfg.LeaseDuration)
			s.reply(Reply{Req: in.Req})
		}
	case Return:
		s.advance(in.Now)
		if s.asPrimary(in.Req, in) {
			s.st.Return(in.From, in.Tasks)
			s.reply(Reply{Req: in.Req})
		}
	case Complete:
		s.advance(in.Now)
		if s.asPrimary(in.Req, in) {
			s.complete(in)
		}
	case StateCopy:
		s.advance(in.Now)
		s.stateCopy(in)
	case DigestQuery:
		s.advance(in.Now)
		s.digestQuery(in)
	case Pulled:
		s.pulled(in)
		if s.f != nil {
			s.claim()
		}
	case Stored:
		s.stored(in)
		if s.f != nil {
			s.claim()
		}
	case CopySent:
		s.copySent(in)
		if s.f != nil {
			s.claim() // a refusal may have ended the lease
		}
	case Left:
		s.advance(in.Now)
		s.left(in.Peer)
	case Reverify:
		s.reverify(in.Peer)
	case HandOff:
		if s.f != nil && s.primary && s.holding() {
			s.f.leaving, s.f.leaveWait, s.f.leaveReq = true, true, in.Req
			s.leave()
		} else if s.primary && len(s.pulling) == 0 {
			s.handOff(in.Req)
		} else {
			s.reply(Reply{Req: in.Req})
		}
	case Release:
		s.advance(in.Now)
		if s.f != nil {
			s.release()
			s.claim()
		}
		s.reply(Reply{Req: in.Req})
	case StatusQuery:
		s.advance(in.Now)
		s.reply(Reply{Req: in.Req, Status: &Status{Summary: s.st.Summary(s.now, s.view.Live), Waiting: s.waitingFor(s.now)}})
	case SnapshotQuery:
		r := Reply{Req: in.Req, Snapshot: s.allStates(), Epoch: f0(s.f).Epoch}
		if s.f != nil {
			r.Voters = s.f.voters
		}
		s.reply(r)
	default:
		panic(fmt.Sprintf("steward: unknown input %T", in))
	}
}

// advance moves the core's clock forward (never back: a parked request replays later).
func (s *Steward) advance(now time.Time) {
	if now.After(s.now) {
		s.now = now
	}
	if s.f != nil && s.f.since.IsZero() && !s.now.IsZero() {
		s.f.since = s.now
		for i := 0; i < s.st.NumTasks() && !s.f.knew; i++ {
			s.f.knew = s.st.HasState(i) // a state from an earlier life, with decisions of its primaries
		}
	}
	if s.f != nil && s.f.restored && !s.now.IsZero() {
		s.f.restored, s.f.promiseUntil = false, s.now.Add(s.f.cfg.Lease) // a restart: wait out what it granted
	}
}

func (s *Steward) reply(r Reply) { s.rd.Replies = append(s.rd.Replies, r) }

func (s *Steward) event(level slog.Level, msg string, args ...any) {
	s.rd.Events = append(s.rd.Events, Event{Level: level, Msg: msg, Args: args})
}

// tick: leases expire, departed workers' leases return, results short of holders are
// stored again (counting a holder that left within the grace while two copies are live: it
// comes back with its data, and copying at once under churn was a storm), failed stores
// are retried, and a demoted primary tries again to hand its state over.
func (s *Steward) tick() {
	for _, pc := range s.copies {
		pc.paused = false
	}
	if s.claim() && len(s.pulling) == 0 && (s.f == nil || s.f.settled) {
		s.st.Expire(s.now)
		if gone := s.st.ReleaseGone(s.view.Live); gone > 0 {
			s.event(slog.LevelDebug, "leases of departed workers returned to the pool", "leases", gone)
		}
		committing := s.committing()
		for _, i := range s.underReplicated() {
			if s.storing[i] == 0 && !committing[i] {
				s.needStore[i] = struct{}{}
			}
		}
		for i := range s.retry {
			s.needStore[i] = struct{}{}
		}
		clear(s.retry)
		if s.f != nil {
			s.reconfigure()
			s.leave()
		}
	}
}

// left: whoever is primary now (perhaps this node, taking over from p) returns p's leases
// to the pool.
func (s *Steward) left(p peer.ID) {
	if !s.claim() || len(s.pulling) > 0 {
		return // a takeover releases every departed worker's leases once it has merged
	}
	if back := s.st.ReleaseWorker(p); len(back) > 0 {
		s.event(slog.LevelInfo, "leases returned to the pool: worker left", "worker", short(p), "tasks", len(back))
	}
}

func (s *Steward) reverify(p peer.ID) {
	if !s.primary {
		return
	}
	if reopened := s.st.Reverify(p); len(reopened) > 0 {
		s.event(slog.LevelWarn, "a trusted peer lied: tasks it ran alone are checked again", "peer", short(p), "tasks", len(reopened))
	}
}

// Ready returns what to do after the steps so far and forgets it.
func (s *Steward) Ready() Ready {
	for _, i := range s.st.TakeDirty() {
		s.persist[i] = struct{}{}
	}
	changed := sortedKeys(s.persist)
	clear(s.persist)
	states := make([]*pb.TaskState, len(changed))
	encoded := make(map[int]*pb.TaskState, len(changed)) // a task is encoded once per Ready
	for k, i := range changed {
		states[k] = s.st.TaskStateToPB(i)
		encoded[i] = states[k]
	}
	s.rd.Persist = states
	if s.primary && len(s.pulling) == 0 {
		// What changed, merged copies included, goes on to the other stewards: they
		// converge on the union.
		s.copyOut(changed, encoded)
		if s.f != nil {
			s.commitBarriers()
		}
		s.storeOut()
		s.releaseBarriers()
	}
	if s.f == nil {
		s.handBackOut()
	}
	rd := s.rd
	s.rd = Ready{}
	return rd
}

func sortedKeys(m map[int]struct{}) []int {
	out := make([]int, 0, len(m))
	for i := range m {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// short is the last 6 characters of a peer ID, for logs.
func short(p peer.ID) string {
	s := p.String()
	if len(s) > 6 {
		return s[len(s)-6:]
	}
	return s
}
