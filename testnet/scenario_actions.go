package testnet

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// The timeline's actions: kill, restart, partition, heal, slow.

func (r *runner) act(ctx context.Context, e Event, now time.Duration) {
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch e.Action() {
	case "kill":
		r.kill(actx, e, now)
	case "restart":
		r.restartTarget(ctx, e, now)
	case "partition":
		r.partition(actx, e, now)
	case "heal":
		r.heal(actx, now, "")
	case "slow":
		r.slow(actx, e, now)
	}
}

func (r *runner) kill(ctx context.Context, e Event, now time.Duration) {
	nodes := r.pick(ctx, e.Kill, r.howMany(e))
	// Never the last running node: someone must be left to ask.
	if up := r.upNodes(); len(nodes) >= len(up) {
		nodes = nodes[:max(len(up)-1, 0)]
	}
	if len(nodes) == 0 {
		r.note("kill %s at %.1fs: no node to kill", e.Kill, now.Seconds())
		return
	}
	for _, i := range nodes {
		if err := r.sw.kill(i); err != nil {
			r.logf("kill node-%d: %v", i, err)
		}
		r.mu.Lock()
		r.killed[i] = true
		r.mu.Unlock()
	}
	r.record(now, KindKill, e.Kill, nodes, "")
	if e.For > 0 {
		r.restartLater(now+e.For.D(), nodes)
	}
}

func (r *runner) restartTarget(ctx context.Context, e Event, now time.Duration) {
	var nodes []int
	if e.Restart == TargetKilled {
		r.mu.Lock()
		for i := range r.killed {
			nodes = append(nodes, i)
		}
		r.mu.Unlock()
		slices.Sort(nodes)
	} else if i, err := strconv.Atoi(e.Restart); err == nil {
		if r.up(i) {
			r.sw.kill(i) // restarting a running node: kill -9 first
			r.record(now, KindKill, e.Restart, []int{i}, "to restart it")
		}
		nodes = []int{i}
	} else {
		nodes = r.pick(ctx, e.Restart, 1)
		for _, i := range nodes {
			r.sw.kill(i)
		}
		r.record(now, KindKill, e.Restart, nodes, "to restart it")
	}
	r.restart(ctx, now, nodes, e.Restart)
}

func (r *runner) partition(ctx context.Context, e Event, now time.Duration) {
	if r.split {
		r.heal(ctx, now, "before the next partition")
	}
	n := r.sc.Nodes
	groups := e.Partition.Groups
	target := "groups"
	switch mode := e.Partition.Mode; {
	case groups != nil:
	case mode == "halves":
		target = mode
		var lo, hi []int
		for i := range n {
			if i < n/2 {
				lo = append(lo, i)
			} else {
				hi = append(hi, i)
			}
		}
		groups = [][]int{lo, hi}
	default:
		target = mode
		alone := r.pick(ctx, mode, 1)
		if len(alone) == 0 {
			r.note("partition %s at %.1fs: no such node running", mode, now.Seconds())
			return
		}
		var rest []int
		for i := range n {
			if i != alone[0] {
				rest = append(rest, i)
			}
		}
		groups = [][]int{alone, rest}
	}
	if err := r.sw.partition(ctx, groups); err != nil {
		r.logf("partition: %v", err)
	}
	r.split = true
	r.record(now, KindPartition, target, groups[0], fmt.Sprintf("groups %v", groups))
	if e.For > 0 {
		r.later = append(r.later, scheduled{at: now + e.For.D(), do: func(ctx context.Context, now time.Duration) {
			r.heal(ctx, now, "")
		}})
	}
}

func (r *runner) heal(ctx context.Context, now time.Duration, note string) {
	if !r.split {
		return
	}
	if err := r.sw.heal(ctx); err != nil {
		r.logf("heal: %v", err)
	}
	r.split = false
	r.record(now, KindHeal, "", []int{}, note)
}

func (r *runner) slow(ctx context.Context, e Event, now time.Duration) {
	nodes := r.pick(ctx, e.Slow, r.howMany(e))
	if len(nodes) == 0 {
		r.note("slow %s at %.1fs: no node to slow down", e.Slow, now.Seconds())
		return
	}
	base := r.sc.TaskDelay.D()
	for _, i := range nodes {
		if err := r.sw.slow(ctx, i, base+e.Delay.D()); err != nil {
			r.logf("slow node-%d: %v", i, err)
		}
	}
	r.record(now, KindSlow, e.Slow, nodes, fmt.Sprintf("+%s per task", e.Delay.D()))
	if e.For > 0 {
		r.later = append(r.later, scheduled{at: now + e.For.D(), do: func(ctx context.Context, now time.Duration) {
			for _, i := range nodes {
				if err := r.sw.slow(ctx, i, base); err != nil {
					r.logf("speed up node-%d: %v", i, err)
				}
			}
			r.record(now, KindFast, "", nodes, "")
		}})
	}
}

// howMany is the number of nodes an event's count or fraction asks for.
func (r *runner) howMany(e Event) int {
	switch {
	case e.Fraction > 0:
		return max(1, int(math.Round(e.Fraction*float64(r.sc.Nodes))))
	case e.Count > 0:
		return e.Count
	}
	return 1
}

// upNodes lists the running nodes that are not being restarted.
func (r *runner) upNodes() []int {
	var out []int
	for i := range r.sc.Nodes {
		if r.up(i) {
			out = append(out, i)
		}
	}
	return out
}

// pick chooses up to n running nodes for a target.
func (r *runner) pick(ctx context.Context, target string, n int) []int {
	up := r.upNodes()
	b := r.current()
	one := func(i int) []int {
		if i >= 0 && slices.Contains(up, i) {
			return []int{i}
		}
		return nil
	}
	switch target {
	case TargetSteward:
		return one(r.index(r.last.Steward))
	case TargetSubmitter:
		return one(b.submitter)
	case TargetRandom:
		return r.choose(up, n)
	case TargetWorker:
		steward := r.index(r.last.Steward)
		var busy, idle []int
		for _, i := range up {
			if i == steward || i == b.submitter {
				continue
			}
			if r.running(i) > 0 {
				busy = append(busy, i)
			} else {
				idle = append(idle, i)
			}
		}
		return append(r.choose(busy, n), r.choose(idle, n-min(n, len(busy)))...)
	case TargetHolder:
		var holders []int
		for _, i := range up {
			if held, err := r.held(ctx, i, b.id); err == nil && len(held) > 0 {
				holders = append(holders, i)
			}
		}
		return r.choose(holders, n)
	}
	i, _ := strconv.Atoi(target)
	return one(i)
}

// running is how many leases node i holds, as the last status said.
func (r *runner) running(i int) int {
	for _, p := range r.last.Peers {
		if p.PeerID == r.sw.peerID(i) {
			return p.Running
		}
	}
	return 0
}

// choose returns n of the nodes at random, sorted.
func (r *runner) choose(nodes []int, n int) []int {
	s := slices.Clone(nodes)
	r.rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	s = s[:min(n, len(s))]
	slices.Sort(s)
	return s
}

// held lists the tasks of a batch whose results node i holds.
func (r *runner) held(ctx context.Context, i int, batch string) ([]int, error) {
	c, err := r.sw.client(i)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Held(hctx, batch)
}
