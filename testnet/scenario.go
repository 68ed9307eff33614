package testnet

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// A scenario file (YAML, see scenarios/README.md) describes a testnet run: how many nodes,
// which batch to submit, and a timeline of faults.

//go:embed scenarios/*.yaml
var shippedScenarios embed.FS

// Scenario is a parsed scenario file.
type Scenario struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Nodes       int      `yaml:"nodes"`
	Private     bool     `yaml:"private"`
	Slots       int      `yaml:"slots"`      // task slots per node; 0: the daemon's default
	TaskDelay   Duration `yaml:"task_delay"` // added to every task on every node
	Batch       Plan     `yaml:"batch"`
	// Duration makes a soak: the batch is submitted again each time it finishes, until this
	// much time has passed since the first submission.
	Duration Duration `yaml:"duration"`
	Timeline []Event  `yaml:"timeline"`
	Settle   Duration `yaml:"settle"`  // how long to wait for K holders after the batches end
	Timeout  Duration `yaml:"timeout"` // the whole run
	Seed     uint64   `yaml:"seed"`    // for random choices; 0: 1
	// MinUpShare, when set, fails the run if at any sample fewer than this share of the
	// nodes no fault held down were up (Report.UpShareMin); soak sets 0.9.
	MinUpShare float64   `yaml:"min_up_share"`
	Short      *Shortcut `yaml:"short"`

	dir string // the file's folder: module paths are relative to it
}

// Plan is the batch a scenario submits.
type Plan struct {
	// Module is an embedded example (mandelbrot, primes, pi, pow), echo (the minimal test
	// module: output = input), or a .wasm file path relative to the scenario file.
	Module      string     `yaml:"module"`
	Range       PlanRange  `yaml:"range"`
	Redundancy  uint32     `yaml:"redundancy"`  // R; default 1
	Replication uint32     `yaml:"replication"` // K; default 3
	Submitter   int        `yaml:"submitter"`   // node index; default 0
	Limits      PlanLimits `yaml:"limits"`
}

// PlanRange is the batch's inputs: one task per integer i in [start, end), whose input is
// prefix + decimal(i) + suffix.
type PlanRange struct {
	Start  int64  `yaml:"start"`
	End    int64  `yaml:"end"`
	Prefix string `yaml:"prefix"`
	Suffix string `yaml:"suffix"`
}

// PlanLimits are the per-task limits; zero fields take defaults.
type PlanLimits struct {
	MemoryMiB      uint32   `yaml:"memory_mb"`        // default 64
	Timeout        Duration `yaml:"timeout"`          // default 30s
	MaxOutputBytes uint64   `yaml:"max_output_bytes"` // default 1 MiB
}

// Shortcut is the short version of a scenario, for `go test` and `testnet run --short`:
// the fields it sets replace the scenario's.
type Shortcut struct {
	Nodes     int       `yaml:"nodes"`
	Tasks     int64     `yaml:"tasks"`  // range end - start
	Module    string    `yaml:"module"` // with Prefix: another batch.module and range.prefix
	Prefix    *string   `yaml:"prefix"`
	TaskDelay *Duration `yaml:"task_delay"`
	Duration  *Duration `yaml:"duration"`
	Timeline  []Event   `yaml:"timeline"`
}

// Event is one entry of the timeline: a trigger and exactly one action.
type Event struct {
	// At is when it happens: a time after the first submission ("5s") or a share of the
	// batch's tasks accepted ("50%"). Default: at submission.
	At Trigger `yaml:"at"`
	// Every repeats the event at this interval from At, until Until (default: until every
	// batch has finished).
	Every Duration `yaml:"every"`
	Until *Trigger `yaml:"until"`

	Kill      string     `yaml:"kill"`      // target: kill -9 (SIGKILL) the chosen nodes
	Restart   string     `yaml:"restart"`   // target, or "killed": start them again on their data dirs
	Partition *Partition `yaml:"partition"` // cut the swarm into groups
	Heal      bool       `yaml:"heal"`      // end the partition
	Slow      string     `yaml:"slow"`      // target: every task takes Delay longer

	Count    int      `yaml:"count"`    // kill, slow: how many nodes (default 1)
	Fraction float64  `yaml:"fraction"` // kill, slow: this share of the running nodes instead
	Delay    Duration `yaml:"delay"`    // slow: added to every task
	// For is how long the fault lasts: killed nodes restart after it, a partition heals, a
	// slow node is fast again. Without it, killed nodes stay down and a partition lasts
	// until a heal event (or the end of the run).
	For Duration `yaml:"for"`
}

// Targets an event may name, besides a node index.
const (
	TargetRandom    = "random"    // running nodes chosen at random
	TargetSteward   = "steward"   // the batch's primary steward
	TargetSubmitter = "submitter" // the node that submitted the batch
	TargetHolder    = "holder"    // a node that holds results of the batch
	TargetWorker    = "worker"    // a node that is neither steward nor submitter, running tasks if any is
	TargetKilled    = "killed"    // restart: every node the scenario killed that is still down
)

var targets = []string{TargetRandom, TargetSteward, TargetSubmitter, TargetHolder, TargetWorker}

// Partition says how to cut the swarm: explicit groups of node indexes, or a mode:
// "halves" (the lower and upper half of the indexes), or a target alone against the rest
// ("steward", "submitter", "random", "worker", "holder" or a node index).
type Partition struct {
	Mode   string
	Groups [][]int
}

// UnmarshalYAML reads a mode (a scalar) or a list of groups.
func (p *Partition) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		p.Mode = n.Value
		return nil
	}
	return n.Decode(&p.Groups)
}

// Trigger is an event time: an offset after the first submission, or a progress point.
type Trigger struct {
	Time     time.Duration
	Progress float64 // 0..1; set when the trigger is a percentage
	IsShare  bool
}

// UnmarshalYAML reads "5s", "1m30s" or "50%".
func (t *Trigger) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseTrigger(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*t = v
	return nil
}

func parseTrigger(s string) (Trigger, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f > 100 {
			return Trigger{}, fmt.Errorf("%q: a progress point is a percentage from 0%% to 100%%", s)
		}
		return Trigger{Progress: f / 100, IsShare: true}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return Trigger{}, fmt.Errorf("%q: give a time after submission like 5s, or a progress point like 50%%", s)
	}
	return Trigger{Time: d}, nil
}

// String formats the trigger as it is written.
func (t Trigger) String() string {
	if t.IsShare {
		return strconv.FormatFloat(100*t.Progress, 'f', -1, 64) + "%"
	}
	return t.Time.String()
}

// Duration is a time.Duration written as "5s" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration like 500ms, 5s or 2m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseScenario reads a scenario from YAML; dir is where relative module paths start.
func ParseScenario(data []byte, dir string) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	sc := &Scenario{dir: dir}
	if err := dec.Decode(sc); err != nil {
		return nil, fmt.Errorf("not a valid scenario (YAML, see testnet/scenarios/README.md): %w", err)
	}
	sc.defaults()
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return sc, nil
}

// LoadScenario reads a scenario file, or a shipped scenario by name ("churn").
// A bare name that is no regular file here (absent, or a directory of that name) names a
// shipped scenario.
func LoadScenario(nameOrPath string) (*Scenario, error) {
	st, serr := os.Stat(nameOrPath)
	if (serr != nil || st.IsDir()) && !strings.ContainsRune(nameOrPath, os.PathSeparator) {
		return ShippedScenario(nameOrPath)
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	sc, err := ParseScenario(data, filepath.Dir(nameOrPath))
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", nameOrPath, err)
	}
	return sc, nil
}

// ShippedScenario returns a scenario of testnet/scenarios by name ("churn").
func ShippedScenario(name string) (*Scenario, error) {
	data, err := shippedScenarios.ReadFile("scenarios/" + strings.TrimSuffix(name, ".yaml") + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no scenario file %s and no shipped scenario of that name: use one of %s, or a path", name, strings.Join(ShippedScenarios(), ", "))
	}
	sc, err := ParseScenario(data, ".")
	if err != nil {
		return nil, fmt.Errorf("shipped scenario %s: %w", name, err)
	}
	return sc, nil
}

// ShippedScenarios names the scenarios in testnet/scenarios, sorted.
func ShippedScenarios() []string {
	entries, _ := shippedScenarios.ReadDir("scenarios")
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (sc *Scenario) defaults() {
	if sc.Batch.Module == "" {
		sc.Batch.Module = "echo"
	}
	if sc.Batch.Redundancy == 0 {
		sc.Batch.Redundancy = 1
	}
	if sc.Batch.Replication == 0 {
		sc.Batch.Replication = 3
	}
	if sc.Batch.Range.End == 0 && sc.Batch.Range.Start == 0 {
		sc.Batch.Range.End = 100
	}
	if sc.Batch.Range.Prefix == "" && sc.Batch.Module == "echo" {
		sc.Batch.Range.Prefix = "task "
	}
	if sc.Settle == 0 {
		sc.Settle = Duration(time.Minute)
	}
	if sc.Timeout == 0 {
		sc.Timeout = Duration(10 * time.Minute)
	}
	if sc.Seed == 0 {
		sc.Seed = 1
	}
}

// Shorten applies the scenario's short version (a no-op when it has none).
func (sc *Scenario) Shorten() error {
	s := sc.Short
	if s == nil {
		return nil
	}
	if s.Nodes > 0 {
		sc.Nodes = s.Nodes
	}
	if s.Tasks > 0 {
		sc.Batch.Range.End = sc.Batch.Range.Start + s.Tasks
	}
	if s.Module != "" {
		sc.Batch.Module = s.Module
	}
	if s.Prefix != nil {
		sc.Batch.Range.Prefix = *s.Prefix
	}
	if s.TaskDelay != nil {
		sc.TaskDelay = *s.TaskDelay
	}
	if s.Duration != nil {
		sc.Duration = *s.Duration
	}
	if s.Timeline != nil {
		sc.Timeline = s.Timeline
	}
	sc.Short = nil
	return sc.Validate()
}

// Tasks is the number of tasks in one batch.
func (sc *Scenario) Tasks() int { return int(sc.Batch.Range.End - sc.Batch.Range.Start) }

// Validate checks the scenario and says what to fix.
func (sc *Scenario) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if sc.Nodes < 1 || sc.Nodes > 200 {
		bad("nodes: %d: use 1 to 200", sc.Nodes)
	}
	if sc.Slots < 0 || sc.Slots > 64 {
		bad("slots: %d: use 1 to 64, or leave it out for the daemon's default", sc.Slots)
	}
	b := sc.Batch
	if _, err := sc.module(); err != nil {
		errs = append(errs, err)
	}
	if n := b.Range.End - b.Range.Start; n < 1 || n > 1_000_000 {
		bad("batch.range: [%d, %d) has %d tasks: use 1 to 1000000", b.Range.Start, b.Range.End, n)
	}
	if b.Redundancy > 16 || b.Replication > 16 {
		bad("batch: redundancy %d and replication %d: use 1 to 16", b.Redundancy, b.Replication)
	}
	if int(b.Replication) > sc.Nodes || int(b.Redundancy) > sc.Nodes {
		bad("batch: replication %d and redundancy %d need at least as many nodes, not %d", b.Replication, b.Redundancy, sc.Nodes)
	}
	if b.Submitter < 0 || b.Submitter >= max(sc.Nodes, 1) {
		bad("batch.submitter: node %d of %d", b.Submitter, sc.Nodes)
	}
	for i, e := range sc.Timeline {
		if err := e.validate(sc.Nodes); err != nil {
			bad("timeline[%d]: %v", i, err)
		}
	}
	if sc.Short != nil && sc.Short.Timeline != nil {
		for i, e := range sc.Short.Timeline {
			if err := e.validate(max(sc.Short.Nodes, sc.Nodes)); err != nil {
				bad("short.timeline[%d]: %v", i, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Action names the event's action.
func (e *Event) Action() string {
	var acts []string
	if e.Kill != "" {
		acts = append(acts, "kill")
	}
	if e.Restart != "" {
		acts = append(acts, "restart")
	}
	if e.Partition != nil {
		acts = append(acts, "partition")
	}
	if e.Heal {
		acts = append(acts, "heal")
	}
	if e.Slow != "" {
		acts = append(acts, "slow")
	}
	if len(acts) != 1 {
		return ""
	}
	return acts[0]
}

func (e *Event) validate(nodes int) error {
	act := e.Action()
	if act == "" {
		return errors.New("give exactly one action: kill, restart, partition, heal or slow")
	}
	checkTarget := func(t string, extra ...string) error {
		if slices.Contains(targets, t) || slices.Contains(extra, t) {
			return nil
		}
		if i, err := strconv.Atoi(t); err == nil {
			if i < 0 || i >= nodes {
				return fmt.Errorf("%s: node %d of a %d-node testnet", act, i, nodes)
			}
			return nil
		}
		return fmt.Errorf("%s: %q is not a target: use %s, or a node index", act, t, strings.Join(append(targets, extra...), ", "))
	}
	var err error
	switch act {
	case "kill":
		err = checkTarget(e.Kill)
	case "slow":
		err = checkTarget(e.Slow)
		if err == nil && e.Delay <= 0 {
			err = errors.New("slow: give the delay added to every task, e.g. delay: 200ms")
		}
	case "restart":
		err = checkTarget(e.Restart, TargetKilled)
	case "partition":
		switch p := e.Partition; {
		case p.Groups != nil:
			_, err = groupIndex(nodes, p.Groups)
		case p.Mode != "halves":
			err = checkTarget(p.Mode)
		}
	}
	if err != nil {
		return err
	}
	if (e.Count != 0 || e.Fraction != 0) && act != "kill" && act != "slow" {
		return fmt.Errorf("%s: count and fraction are for kill and slow", act)
	}
	if t := e.Kill + e.Slow; (e.Count > 1 || e.Fraction != 0) && t != TargetRandom && t != TargetWorker && t != TargetHolder {
		return fmt.Errorf("%s %s: count and fraction are for random, worker and holder", act, t)
	}
	if e.Count < 0 || e.Fraction < 0 || e.Fraction > 1 || e.Count != 0 && e.Fraction != 0 {
		return fmt.Errorf("%s: give count (a number of nodes) or fraction (0 to 1), not both", act)
	}
	if e.Every != 0 && e.Every.D() < 100*time.Millisecond {
		return fmt.Errorf("every: %s is too often: use 100ms or more", e.Every.D())
	}
	if e.Until != nil && e.Every == 0 {
		return errors.New("until is for repeated events (every)")
	}
	if e.For != 0 && (act == "heal" || act == "restart") {
		return fmt.Errorf("%s: for is for kill, partition and slow", act)
	}
	return nil
}
