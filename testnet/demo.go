package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"allforone/node"
	"allforone/tasks"
	"allforone/tasks/examples"
	"allforone/tasks/examples/mandel"
)

// DemoConfig describes `allforone demo`.
type DemoConfig struct {
	Binary      string // the allforone executable
	Dir         string // data dirs of the demo's nodes
	Nodes       int    // swarm size, at least 4 (two of them are killed)
	Out         string // where the PNG goes
	Redundancy  uint32 // R
	Replication uint32 // K
	Spec        mandel.Spec
	Log         io.Writer // progress lines for a person
	Live        bool      // Log is a terminal: redraw the progress line in place
}

// DefaultDemoSpec is the image the demo renders: 400 tiles of the seahorse valley.
func DefaultDemoSpec() mandel.Spec {
	return mandel.Spec{Width: 1280, Height: 1280, Tile: 64, Iter: 600, X: -0.745, Y: 0.12, Scale: 0.06}
}

// DemoReport is what the demo measured.
type DemoReport struct {
	Image           string         `json:"image"`
	Tiles           int            `json:"tiles"`
	Nodes           int            `json:"nodes"`
	Seconds         float64        `json:"seconds"`
	Executions      int            `json:"executions"`
	Reassigned      int            `json:"reassigned"`
	MinReplicas     int            `json:"min_replicas"`
	Replication     int            `json:"replication"`
	Redundancy      int            `json:"redundancy"`
	Share           map[string]int `json:"share"` // node name -> tiles it computed
	Killed          []string       `json:"killed"`
	StewardTakeover string         `json:"steward_takeover,omitempty"`
	BatchID         string         `json:"batch_id"`
}

// RunDemo starts a swarm of daemon processes, submits a Mandelbrot batch, kills a worker
// and then the primary steward with SIGKILL while the batch runs, waits for it to finish,
// writes the image and reports.
func RunDemo(ctx context.Context, cfg DemoConfig) (DemoReport, error) {
	if cfg.Nodes < 4 {
		return DemoReport{}, fmt.Errorf("the demo needs at least 4 nodes (two are killed), got %d", cfg.Nodes)
	}
	logf := func(format string, args ...any) {
		if cfg.Live {
			fmt.Fprint(cfg.Log, "\r\033[K")
		}
		fmt.Fprintf(cfg.Log, format+"\n", args...)
	}
	start := time.Now()
	logf("starting %d nodes on loopback (data in %s)", cfg.Nodes, cfg.Dir)
	h, err := StartHarness(ctx, HarnessConfig{Binary: cfg.Binary, Dir: cfg.Dir, N: cfg.Nodes, Swarm: "demo"})
	if err != nil {
		return DemoReport{}, err
	}
	defer h.Close()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = h.WaitAllKnown(wctx)
	cancel()
	if err != nil {
		return DemoReport{}, err
	}
	name := make(map[string]string) // peer ID -> node-N
	for _, p := range h.Procs() {
		name[p.PeerID] = fmt.Sprintf("node-%d", p.Index)
	}
	logf("swarm ready in %.1fs: every node knows every other through the DHT", time.Since(start).Seconds())

	api := 0 // the node we talk to; the demo moves away from it if it must be killed
	c, err := h.Proc(api).Client()
	if err != nil {
		return DemoReport{}, err
	}
	s := cfg.Spec
	res, err := c.Submit(ctx, node.SubmitRequest{
		Name: "mandelbrot", Module: examples.Mandelbrot(),
		Inputs:      []node.SubmitInput{{Name: "tile-", Range: &tasks.Range{Start: 0, End: int64(s.NumTiles()), Prefix: []byte(s.Prefix())}}},
		MemoryPages: 2048, TimeoutMS: 60_000, MaxOutputBytes: 1 << 20,
		Redundancy: cfg.Redundancy, Replication: cfg.Replication,
	})
	if err != nil {
		return DemoReport{}, fmt.Errorf("submit: %w", err)
	}
	batchStart := time.Now()
	logf("node-0 submitted batch %s: %d tiles, each computed by %d peers (R), each result kept by %d (K)",
		short(res.BatchID), s.NumTiles(), cfg.Redundancy, cfg.Replication)

	rep := DemoReport{Image: cfg.Out, Tiles: s.NumTiles(), Nodes: cfg.Nodes, Redundancy: int(cfg.Redundancy),
		Replication: int(cfg.Replication), BatchID: res.BatchID, Share: map[string]int{}}
	killedWorker, killedSteward := false, false
	var st node.BatchStatus
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	lastLine := time.Time{}
	for {
		st, err = c.Status(ctx, res.BatchID)
		if err != nil {
			// The node we ask may be busy; a few misses are fine.
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
		} else {
			frac := float64(st.Done) / float64(max(st.Total, 1))
			if cfg.Live || time.Since(lastLine) > 2*time.Second {
				lastLine = time.Now()
				line := fmt.Sprintf("[%3.0f%%] %d/%d tiles  steward %s  reassigned %d  shares %s",
					100*frac, st.Done, st.Total, name[st.Steward], st.Reassigned, shares(st, name))
				if cfg.Live {
					fmt.Fprint(cfg.Log, "\r\033[K"+line)
				} else {
					fmt.Fprintln(cfg.Log, line)
				}
			}
			if st.State != tasks.BatchRunning {
				break
			}
			steward := slices.IndexFunc(h.Procs(), func(p *Proc) bool { return p.PeerID == st.Steward })
			switch {
			case !killedWorker && frac >= 0.25 && steward >= 0:
				victim := pickVictim(h, api, steward)
				h.Kill(victim)
				killedWorker = true
				rep.Killed = append(rep.Killed, fmt.Sprintf("node-%d (worker)", victim))
				logf("kill -9 node-%d, a worker, at %.0f%%: its leases go back to the pool", victim, 100*frac)
			case killedWorker && !killedSteward && frac >= 0.5 && steward >= 0:
				if steward == api {
					api = pickVictim(h, steward, steward)
					if c, err = h.Proc(api).Client(); err != nil {
						return rep, err
					}
				}
				h.Kill(steward)
				killedSteward = true
				rep.Killed = append(rep.Killed, fmt.Sprintf("node-%d (primary steward)", steward))
				logf("kill -9 node-%d, the primary steward, at %.0f%%: the next closest steward carries on", steward, 100*frac)
			}
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-tick.C:
		}
	}
	if cfg.Live {
		fmt.Fprintln(cfg.Log)
	}
	rep.Seconds = time.Since(batchStart).Seconds()
	rep.Executions, rep.Reassigned, rep.MinReplicas = st.Executions, st.Reassigned, st.MinReplicas
	for _, p := range st.Peers {
		rep.Share[name[p.PeerID]] = p.Done
	}
	if killedSteward {
		rep.StewardTakeover = name[st.Steward]
	}
	if st.State != tasks.BatchComplete {
		return rep, fmt.Errorf("batch ended %s: %d tasks failed", st.State, st.Failed)
	}
	// Fetch every tile from the peers that hold them and assemble the image.
	fr, err := c.Fetch(ctx, res.BatchID)
	if err != nil {
		return rep, fmt.Errorf("fetch results: %w", err)
	}
	if len(fr.Missing) > 0 {
		return rep, fmt.Errorf("%d tiles could not be fetched", len(fr.Missing))
	}
	f, err := os.Create(cfg.Out)
	if err != nil {
		return rep, err
	}
	err = mandel.AssemblePNG(f, s, func(i int) ([]byte, error) { return c.Output(ctx, res.BatchID, i) })
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rep, errors.Join(err, os.Remove(cfg.Out))
	}
	return rep, nil
}

// pickVictim returns a running node other than the two given.
func pickVictim(h *Harness, not1, not2 int) int {
	for _, p := range slices.Backward(h.Procs()) {
		if p.Running() && p.Index != not1 && p.Index != not2 {
			return p.Index
		}
	}
	return -1
}

func shares(st node.BatchStatus, name map[string]string) string {
	var parts []string
	for _, p := range st.Peers {
		parts = append(parts, fmt.Sprintf("%s:%d", strings.TrimPrefix(name[p.PeerID], "node-"), p.Done))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func short(id string) string {
	if len(id) > 16 {
		return id[:8] + "…" + id[len(id)-6:]
	}
	return id
}
