package sim

import (
	"fmt"
	"io"
	"time"
)

// Config is one simulation. Zero fields take the defaults of DefaultConfig where said.
type Config struct {
	// Nodes is the swarm's size (at least 10).
	Nodes int
	// Batches is how many batches are submitted, one every BatchEvery.
	Batches int
	// Tasks is how many tasks each batch has.
	Tasks int
	// Redundancy is each batch's R (executions that must agree); Replication its K
	// (stewards, and holders of each result).
	Redundancy, Replication int
	// Churn is the share of the nodes that leave per virtual minute (0.01: 1% a minute).
	// A node that leaves comes back after ChurnDown on average, or with ChurnGone's
	// probability never.
	Churn     float64
	ChurnDown time.Duration
	ChurnGone float64
	// NAT is the share of nodes behind NAT: they compute but serve no DHT and take no
	// role.
	NAT float64
	// PartitionAt cuts PartitionShare of the nodes off from the rest for PartitionFor
	// (0 PartitionFor: no partition).
	PartitionAt, PartitionFor time.Duration
	PartitionShare            float64
	// TaskTime is a task's mean time on a node of speed 1; TaskTimeout its limit (the
	// lease lasts protocol.LeaseDuration of it).
	TaskTime, TaskTimeout time.Duration
	// Loss is the most a node's links lose (each node draws its own rate up to it).
	Loss float64
	// MaxTime ends the simulation in virtual time if the batches are not finished by then.
	MaxTime time.Duration
	// Seed makes the run; the same seed gives the same run.
	Seed uint64
	// BatchEvery spaces the submissions.
	BatchEvery time.Duration
	// PrimariesLeave, when set, takes every batch's primary down (quietly: its peers
	// notice after detectLag) at this virtual time: the takeover, with nothing else going
	// on, for tests.
	PrimariesLeave time.Duration
	// PrimaryLeases fences the primary (node.Config.PrimaryLeases): a steward acts as
	// primary only while it holds a lease a majority of the batch's stewards voted for,
	// with an epoch. Without, a steward acts as primary while its own view says it is the
	// closest live steward.
	PrimaryLeases bool
	// Trace, when set, gets a line for each change of a batch's primaries (debugging).
	Trace io.Writer
}

// DefaultConfig is a simulation of n nodes with the defaults of `allforone testnet
// simulate`.
func DefaultConfig(n int) Config {
	return Config{
		Nodes: n, Batches: 10, Tasks: 500, Redundancy: 1, Replication: 3,
		Churn: 0.01, ChurnDown: 2 * time.Minute, ChurnGone: 0.1,
		NAT: 0.3, PartitionAt: time.Minute, PartitionFor: time.Minute, PartitionShare: 0.2,
		TaskTime: 20 * time.Second, TaskTimeout: 2 * time.Minute, Loss: 0.01,
		MaxTime: 2 * time.Hour, Seed: 1, BatchEvery: 2 * time.Second, PrimaryLeases: true,
	}
}

// Validate says what is wrong with c and what to give instead.
func (c Config) Validate() error {
	switch {
	case c.Nodes < 10 || c.Nodes > 1_000_000:
		return fmt.Errorf("nodes %d: give 10 to 1,000,000", c.Nodes)
	case c.Batches < 1 || c.Batches > 10_000:
		return fmt.Errorf("batches %d: give 1 to 10,000", c.Batches)
	case c.Tasks < 1 || c.Tasks > 100_000:
		return fmt.Errorf("tasks %d: give 1 to 100,000 per batch", c.Tasks)
	case c.Redundancy < 1 || c.Redundancy > 7:
		return fmt.Errorf("redundancy %d: give 1 to 7", c.Redundancy)
	case c.Replication < 1 || c.Replication > 20:
		return fmt.Errorf("replication %d: give 1 to 20", c.Replication)
	case c.Churn < 0 || c.Churn > 0.5:
		return fmt.Errorf("churn %g: give a share of the nodes per minute from 0 to 0.5", c.Churn)
	case c.ChurnGone < 0 || c.ChurnGone > 1:
		return fmt.Errorf("churn gone share %g: give 0 to 1", c.ChurnGone)
	case c.NAT < 0 || c.NAT > 0.9:
		return fmt.Errorf("nat %g: give a share from 0 to 0.9 (some nodes must serve the DHT)", c.NAT)
	case c.PartitionShare < 0 || c.PartitionShare > 0.5:
		return fmt.Errorf("partition share %g: give 0 to 0.5 (the cut-off minority)", c.PartitionShare)
	case c.Loss < 0 || c.Loss > 0.2:
		return fmt.Errorf("loss %g: give 0 to 0.2", c.Loss)
	case c.TaskTime <= 0 || c.TaskTimeout < 2*c.TaskTime:
		return fmt.Errorf("task time %v, timeout %v: give a task time > 0 and a timeout of at least twice it", c.TaskTime, c.TaskTimeout)
	case c.MaxTime <= 0 || c.BatchEvery < 0 || c.ChurnDown <= 0:
		return fmt.Errorf("max time %v, batch spacing %v, churn down time %v: give positive durations", c.MaxTime, c.BatchEvery, c.ChurnDown)
	}
	return nil
}
