package node

// gaugeState is the node as the metrics' gauges read it (metrics.State).
type gaugeState struct{ n *Node }

func (g gaugeState) Peers() int {
	if g.n.host == nil {
		return 0
	}
	return len(g.n.host.Network().Peers())
}

func (g gaugeState) ResultsHeld() int {
	g.n.held.mu.Lock()
	defer g.n.held.mu.Unlock()
	total := 0
	for _, m := range g.n.held.tasks {
		total += len(m)
	}
	return total
}

func (g gaugeState) BatchesKnown() int { return len(g.n.listBatches()) }

func (g gaugeState) BatchesStewarded() int {
	count := 0
	for _, b := range g.n.listBatches() {
		if g.n.stewardOf(b) != nil {
			count++
		}
	}
	return count
}

func (g gaugeState) TasksRunning() int { return g.n.op.act.Running() }
func (g gaugeState) Slots() int        { return g.n.cfg.Slots }

func (g gaugeState) Usage() (blobs, results, quota int64) {
	u := g.n.Usage()
	return u.BlobBytes, u.ResultBytes, u.QuotaBytes
}

func (g gaugeState) Paused() bool { return g.n.ds != nil && g.n.pauseReason() != "" }
