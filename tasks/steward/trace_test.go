package steward

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"allforone/tasks"

	"github.com/cockroachdb/datadriven"
)

// TestTraces runs the golden traces in testdata/*.txt: each file is a story told in
// commands, each command followed by what the steward cores did (datadriven's format, as
// etcd-io/raft's interaction tests). After a change of behaviour, rewrite them with
//
//	go test ./tasks/steward -run TestTraces -rewrite
//
// and read the diff: it is the change, told step by step.
//
// The world: members s1..sN, named in order of closeness to the batch ID (s1 is its first
// primary, s2 the next, ...), and workers w1..wM, which are not members and take no role.
// Everyone reaches everyone until told otherwise; the clock starts at +0s and moves only
// with tick. A member that stewards the batch runs a core; the world carries out each Ready
// at once: copies, stores and pulls reach their peer if it is reachable and fail if not,
// and the acknowledgements are stepped back. Output lines are "x: what x did" or
// "x -> y: a message from x to y".
//
// Commands:
//
//	batch tasks=N R=r K=k members=M workers=W [max=N] [adaptive] [min=1] [timeout=20s] [grace=0s] [fence] [lease=10s]
//	    Start the world: a batch of N tasks (R executions agree, K stewards and holders,
//	    at most max executions per task), handed to its K stewards s1..sK. With fence,
//	    the primary holds a lease of the given length from a majority (fence.go).
//	lease w1 [max=1] [holding=(0,1)|holding=none] [mem=MiB]
//	    w1 asks its steward for leases; holding lists the leases it still holds (none:
//	    it restarted with none); mem is its memory cap per task.
//	run w1 task=0 [tasks=(0,1)] [out=ok] [fail=exit:1]
//	    w1 completes tasks: each output is out (the same text agrees), or a failure.
//	renew w1 tasks=(0,1)    return w1 tasks=(0)
//	tick [+1s]
//	    The clock moves on and every core ticks.
//	stop s1 / start s1
//	    s1 (or a worker) goes down, or comes back; a member that comes back restarts from
//	    the task states it saved.
//	partition a=(s1,w1) b=(s2,w2)   heal
//	    Cut the swarm into groups that reach only their own members (peers not named form
//	    one more group), and mend it.
//	hold / deliver [all]
//	    From hold on, messages (copies, stores, pulls and their answers) wait until
//	    deliver carries out all of them and what follows from them; deliver all also
//	    stops holding.
//	handoff on=s1       s1 stops gracefully: it hands its state over.
//	release on=s1       then gives its primary lease up.
//	status on=s1        state on=s1        holders        trust on=s1
//	    What s1 says of the batch, its task states, who holds which result, s1's trust
//	    records.
//	clock s1 -5s
//	    s1's clock steps (back or forward); it stays off the world's until stepped again.
//	vote from=s1 to=s3 epoch=1      copy from=s4 to=s3 epoch=2
//	    s1 asks s3 for its vote on an epoch, or s4 sends s3 an empty state copy claiming an
//	    epoch, whatever their cores think (a peer that lies or is behind).
//	roles
//	    Who holds the primary lease, at which epoch, and what each steward promised.
//	lookup on
//	    From now on each core also gets a DHT lookup of the batch ID whenever its view
//	    changes: the members it reaches, so members that are down drop out of its voting
//	    set (a lookup done after they left).
func TestTraces(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) { runTrace(t, path) })
	}
}

// runTrace runs one golden trace.
func runTrace(t *testing.T, path string) {
	var w *world
	datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
		if d.Cmd != "batch" && w == nil {
			t.Fatalf("%s: start with batch", d.Pos)
		}
		if w != nil {
			w.out.Reset()
		}
		if d.Cmd == "batch" {
			w = newTraceWorld(t, d)
		} else {
			runCommand(t, w, d)
		}
		return w.out.String()
	})
}

// runCommand runs one trace command other than batch.
func runCommand(t *testing.T, w *world, d *datadriven.TestData) {
	switch d.Cmd {
	case "lease":
		cmdLease(w, d)
	case "run":
		cmdRun(w, d)
	case "renew", "return":
		worker, ts := d.CmdArgs[0].Key, intsArg(t, d, "tasks")
		w.ask(worker, func(id ReqID) Input {
			if d.Cmd == "renew" {
				return Renew{Req: id, From: w.ids[worker], Now: w.now, Tasks: ts}
			}
			return Return{Req: id, From: w.ids[worker], Now: w.now, Tasks: ts}
		})
	case "tick":
		step := time.Second
		if len(d.CmdArgs) > 0 {
			step = mustDuration(t, d.CmdArgs[0].Key)
		}
		w.now = w.now.Add(step)
		w.printf("time +%v", w.now.Sub(w.t0))
		w.look() // the views first: the grace may have run out
		for _, x := range w.members {
			if n := w.nodes[x]; n != nil && n.core != nil && w.up[x] {
				w.step(x, Tick{Now: w.now})
			}
		}
		w.run()
	case "stop", "start":
		x := d.CmdArgs[0].Key
		w.up[x] = d.Cmd == "start"
		if d.Cmd == "start" && w.nodes[x] != nil {
			// A restart: the core is rebuilt from what it saved; it looks at its role at
			// its first input (a driver does not tick it before the node is up).
			w.nodes[x].core = nil
			w.steward(x)
		}
		w.look()
	case "partition":
		for _, a := range d.CmdArgs {
			for _, p := range a.Vals {
				w.group[strings.TrimSpace(p)] = a.Key
			}
		}
		w.look()
	case "heal":
		clear(w.group)
		w.look()
	case "hold":
		w.holding = true
	case "deliver":
		w.deliver()
		w.holding = !d.HasArg("all")
	case "handoff":
		x := onArg(t, d)
		w.step(x, HandOff{Req: w.newReq(&request{worker: "operator"})})
		w.run()
	case "release":
		x := onArg(t, d)
		w.step(x, Release{Req: w.newReq(&request{worker: "operator"}), Now: w.nowOf(x)})
		w.run()
	case "status":
		x := onArg(t, d)
		w.step(x, StatusQuery{Req: w.newReq(&request{worker: "operator"}), Now: w.now})
		w.run()
	case "state":
		w.printState(onArg(t, d))
	case "holders":
		w.printHolders()
	case "trust":
		w.printTrust(onArg(t, d))
	case "clock":
		x := d.CmdArgs[0].Key
		w.skew[x] += mustDuration(t, strings.TrimPrefix(d.CmdArgs[1].Key, "+"))
		w.printf("%s: clock at +%v", x, w.nowOf(x).Sub(w.t0))
	case "vote", "copy":
		cmdInject(w, d)
	case "roles":
		w.printRoles()
	case "lookup":
		w.lookups = true
		for _, x := range w.members {
			if n := w.nodes[x]; n != nil && n.core != nil && w.up[x] {
				w.step(x, Lookup{Result: w.lookupOf(x)})
			}
		}
		w.run()
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
}

func newTraceWorld(t *testing.T, d *datadriven.TestData) *world {
	var n, r, k, members, workers int
	d.ScanArgs(t, "tasks", &n)
	d.ScanArgs(t, "R", &r)
	d.ScanArgs(t, "K", &k)
	d.ScanArgs(t, "members", &members)
	d.ScanArgs(t, "workers", &workers)
	maxR := r
	d.MaybeScanArgs(t, "max", &maxR)
	timeout, grace := 20*time.Second, time.Duration(0)
	if d.HasArg("timeout") {
		timeout = durationArg(t, d, "timeout")
	}
	if d.HasArg("grace") {
		grace = durationArg(t, d, "grace")
	}
	var fence *Fence
	if d.HasArg("fence") {
		fence = &Fence{Lease: 10 * time.Second}
		if d.HasArg("lease") {
			fence.Lease = durationArg(t, d, "lease")
		}
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &tasks.Manifest{Version: tasks.ManifestVersion, Swarm: "trace", Name: "trace",
		Module:     tasks.BlobRef{CID: tasks.ContentID([]byte("module")), Size: 6},
		Inputs:     []tasks.Input{tasks.RangeInput(tasks.Range{Start: 0, End: int64(n)})},
		Limits:     tasks.Limits{MemoryPages: 16, Timeout: timeout, MaxOutputBytes: 1 << 20},
		Redundancy: uint32(r), Replication: uint32(k), MaxReplicas: uint32(maxR),
		CreatedAt: created, Deadline: created.Add(time.Hour)}
	if d.HasArg("adaptive") {
		m.AdaptiveReplication, m.MinRedundancy = true, 1
	}
	w := newWorld(t, d.Pos, m, members, workers, grace)
	w.fence = fence
	w.printf("batch: %d tasks, R=%d, K=%d, leases of %v, grace %v", n, r, k, w.leaseFor, grace)
	if fence != nil {
		w.printf("primary leases of %v", fence.Lease)
	}
	for _, x := range w.members[:min(k, len(w.members))] {
		w.steward(x)
	}
	w.look()
	for _, x := range w.members[:min(k, len(w.members))] {
		w.step(x, Tick{Now: w.now}) // the first look at the role
	}
	w.run()
	return w
}

func cmdLease(w *world, d *datadriven.TestData) {
	t := w.t.(*testing.T)
	worker := d.CmdArgs[0].Key
	in := LeaseRequest{From: w.ids[worker], Max: 1, BlobsHere: true}
	d.MaybeScanArgs(t, "max", &in.Max)
	if a, ok := d.Arg("holding"); ok {
		in.HoldingSet = true
		if !(len(a.Vals) == 1 && a.Vals[0] == "none") {
			in.Holding = intsArg(t, d, "holding")
		}
	}
	var mem int
	if d.MaybeScanArgs(t, "mem", &mem) {
		in.MemoryMB = uint32(mem)
	}
	w.ask(worker, func(id ReqID) Input {
		in.Req, in.Now = id, w.now
		return in
	})
}

func cmdRun(w *world, d *datadriven.TestData) {
	t := w.t.(*testing.T)
	worker := d.CmdArgs[0].Key
	var ts []int
	if d.HasArg("task") {
		ts = intsArg(t, d, "task")
	} else {
		ts = intsArg(t, d, "tasks")
	}
	out, fail := "ok", ""
	d.MaybeScanArgs(t, "out", &out)
	d.MaybeScanArgs(t, "fail", &fail)
	var recs []tasks.ResultRecord
	for _, task := range ts {
		r := tasks.ResultRecord{Batch: w.id, Task: task, Finished: w.now, Duration: time.Second}
		if fail != "" {
			r.Error = fail
		} else {
			r.Output, r.OutputSize = tasks.ContentID([]byte(out)), uint64(len(out))
			w.outs[r.Output.KeyString()] = out
		}
		if err := r.Sign(w.keys[worker]); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	w.ask(worker, func(id ReqID) Input {
		return Complete{Req: id, From: w.ids[worker], Now: w.now, Records: recs}
	})
}

func onArg(t *testing.T, d *datadriven.TestData) string {
	var x string
	d.ScanArgs(t, "on", &x)
	return x
}

func intsArg(t *testing.T, d *datadriven.TestData, key string) []int {
	a, ok := d.Arg(key)
	if !ok {
		t.Fatalf("%s: %s= missing", d.Pos, key)
	}
	var out []int
	for _, v := range a.Vals {
		if strings.TrimSpace(v) == "" {
			continue
		}
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			t.Fatalf("%s: %s: %v", d.Pos, key, err)
		}
		out = append(out, i)
	}
	return out
}

func durationArg(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	var s string
	d.ScanArgs(t, key, &s)
	return mustDuration(t, s)
}

func mustDuration(t *testing.T, s string) time.Duration {
	v, err := time.ParseDuration(strings.TrimPrefix(s, "+"))
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return v
}

func (w *world) printState(x string) {
	n := w.nodes[x]
	if n == nil || n.core == nil {
		w.printf("%s: no state", x)
		return
	}
	st := n.core.State()
	role := "steward"
	if n.core.Primary() {
		role = "primary"
	}
	w.printf("%s (%s):", x, role)
	for i := range st.NumTasks() {
		t := st.Task(i)
		if len(t.Results) == 0 && len(t.Leases) == 0 && len(t.Holders) == 0 {
			continue
		}
		line := fmt.Sprintf("  %d %s", i, t.Status())
		if out, ok := t.Accepted(); ok && w.fence != nil {
			line += fmt.Sprintf(" %s (epoch %d)", w.outs[out.KeyString()], t.DecidedEpoch)
		}
		var rs, ls, hs []string
		for _, r := range t.Results {
			v := "ok"
			if r.OK() && w.fence != nil {
				v = w.outs[r.Output.KeyString()]
			} else if r.OK() && !r.Output.Equals(tasks.ContentID([]byte("ok"))) {
				v = "other"
			} else if !r.OK() {
				v = r.Error
			}
			rs = append(rs, w.names[r.Executor]+"="+v)
		}
		for _, l := range t.Leases {
			s := fmt.Sprintf("%s until +%v", w.names[l.Worker], l.Expires.Sub(w.t0))
			switch {
			case l.Lost:
				s += " (lost)"
			case l.Released:
				s += " (released)"
			}
			ls = append(ls, s)
		}
		for _, h := range t.Holders {
			hs = append(hs, w.names[h])
		}
		slices.Sort(hs)
		if len(rs) > 0 {
			line += "; results " + strings.Join(rs, " ")
		}
		if len(ls) > 0 {
			line += "; leases " + strings.Join(ls, ", ")
		}
		if len(hs) > 0 {
			line += "; holders " + strings.Join(hs, " ")
		}
		if t.Single {
			line += "; single"
		}
		w.out.WriteString(line + "\n")
	}
}

func (w *world) printHolders() {
	byTask := map[int][]string{}
	for _, h := range w.members {
		for t := range w.held[h] {
			byTask[t] = append(byTask[t], h)
		}
	}
	for t := range w.m.NumTasks() {
		if hs := byTask[t]; len(hs) > 0 {
			slices.Sort(hs)
			w.printf("task %d: %s", t, strings.Join(hs, " "))
		}
	}
}

func (w *world) printTrust(x string) {
	for _, p := range slices.Concat(w.members, w.workers) {
		if r := w.trust[x][w.ids[p]]; r != nil {
			w.printf("%s: agreed %d, disagreed %d, consecutive %d, distrusted %v", p, r.Agreed, r.Disagreed, r.Consecutive, r.Distrusted())
		}
	}
}

// cmdInject sends a vote request or an empty state copy from one member to another as if
// the sender's core had, with the epoch given.
func cmdInject(w *world, d *datadriven.TestData) {
	t := w.t.(*testing.T)
	var from, to string
	var epoch uint64
	d.ScanArgs(t, "from", &from)
	d.ScanArgs(t, "to", &to)
	d.ScanArgs(t, "epoch", &epoch)
	if d.Cmd == "vote" {
		ans := w.deliverVote(from, VoteAsk{To: w.ids[to], Epoch: epoch, Duration: 10 * time.Second})
		if n := w.nodes[from]; n != nil && n.core != nil {
			w.stepAll(from, []Input{ans})
		}
	} else {
		w.deliverCopy(from, Copy{To: w.ids[to], Epoch: epoch})
	}
	w.run()
}

// printRoles says who holds the lease and what each steward promised.
func (w *world) printRoles() {
	for _, x := range w.members {
		n := w.nodes[x]
		if n == nil || n.core == nil {
			continue
		}
		p := n.core.Promise()
		line := fmt.Sprintf("%s: promised epoch %d to %s", x, p.Epoch, w.names[p.Holder])
		if !w.up[x] {
			line += " (down)"
		} else if e := n.core.Epoch(); e > 0 {
			line += fmt.Sprintf("; holds the lease of epoch %d", e)
			if n.core.Primary() {
				line += ", primary"
			}
		}
		w.out.WriteString(line + "\n")
	}
}
