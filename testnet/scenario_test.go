package testnet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestShippedScenariosParse(t *testing.T) {
	names := ShippedScenarios()
	for _, want := range []string{"churn", "steward-loss", "submitter-loss", "partition", "swarm50"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("no shipped scenario %s in %v", want, names)
		}
	}
	for _, name := range names {
		sc, err := LoadScenario(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sc.Name != name || sc.Description == "" || len(sc.Timeline) == 0 || sc.Short == nil {
			t.Errorf("%s: want a name, a description, a timeline and a short version: %+v", name, sc)
		}
		if _, err := sc.request(0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		full := sc.Tasks()
		if err := sc.Shorten(); err != nil {
			t.Errorf("%s short: %v", name, err)
		}
		if sc.Tasks() >= full || sc.Nodes > 12 {
			t.Errorf("%s short: %d nodes, %d tasks (full %d) is not short", name, sc.Nodes, sc.Tasks(), full)
		}
	}
}

func TestParseScenario(t *testing.T) {
	sc, err := ParseScenario([]byte(`
name: x
nodes: 6
batch: {module: echo, range: {start: 0, end: 10}, redundancy: 2, replication: 2, submitter: 5}
timeline:
  - {at: 1500ms, kill: random, fraction: 0.5, for: 2s}
  - {at: 50%, partition: [[0, 1, 2], [3, 4, 5]], for: 1s}
  - {at: 60%, partition: steward}
  - {at: 70%, heal: true}
  - {at: 2s, every: 500ms, until: 90%, slow: worker, count: 2, delay: 100ms}
  - {at: 100%, restart: killed}
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	tl := sc.Timeline
	if tl[0].At.Time != 1500*time.Millisecond || tl[0].Fraction != 0.5 || tl[0].For.D() != 2*time.Second || tl[0].Action() != "kill" {
		t.Errorf("event 0: %+v", tl[0])
	}
	if !tl[1].At.IsShare || tl[1].At.Progress != 0.5 || len(tl[1].Partition.Groups) != 2 {
		t.Errorf("event 1: %+v", tl[1])
	}
	if tl[2].Partition.Mode != "steward" || !tl[3].Heal || tl[4].Until.Progress != 0.9 || tl[5].Restart != TargetKilled {
		t.Errorf("events: %+v", tl)
	}
	if sc.Batch.Range.Prefix != "task " || sc.Settle.D() != time.Minute || sc.Seed != 1 {
		t.Errorf("defaults not applied: %+v", sc)
	}
	req, err := sc.request(1)
	if err != nil || req.Name != "x #2" || req.Redundancy != 2 || req.Inputs[0].Range.End != 10 {
		t.Errorf("request: %+v, %v", req, err)
	}
}

func TestParseScenarioErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{`nodes: 3
typo: 1`, "field typo not found"},
		{`nodes: 0`, "nodes: 0"},
		{`nodes: 2`, "replication 3"},
		{`nodes: 3
batch: {module: nosuch}`, "not echo, an example"},
		{`nodes: 3
batch: {module: missing.wasm}`, "missing.wasm"},
		{`nodes: 3
timeline: [{at: 5s}]`, "exactly one action"},
		{`nodes: 3
timeline: [{at: 5s, kill: random, heal: true}]`, "exactly one action"},
		{`nodes: 3
timeline: [{at: soon, kill: random}]`, `"soon"`},
		{`nodes: 3
timeline: [{at: 150%, kill: random}]`, "0% to 100%"},
		{`nodes: 3
timeline: [{kill: leader}]`, `"leader" is not a target`},
		{`nodes: 3
timeline: [{kill: "7"}]`, "node 7 of a 3-node"},
		{`nodes: 3
timeline: [{kill: steward, count: 2}]`, "count and fraction are for random"},
		{`nodes: 3
timeline: [{slow: random}]`, "give the delay"},
		{`nodes: 3
timeline: [{partition: [[0], [1]]}]`, "node 2 is in no partition group"},
		{`nodes: 3
timeline: [{partition: [[0, 1], [1, 2]]}]`, "node 1 is in partition groups 0 and 1"},
		{`nodes: 3
timeline: [{heal: true, for: 1s}]`, "for is for kill"},
		{`nodes: 3
timeline: [{kill: random, every: 10ms}]`, "too often"},
		{`nodes: 3
timeline: [{kill: random, until: 5s}]`, "until is for repeated"},
		{`nodes: 3
timeline: [{kill: random, fraction: 2}]`, "count"},
		{`nodes: 3
timeline: [{kill: random, every: 1s, for: 1x}]`, "not a duration"},
	} {
		_, err := ParseScenario([]byte(tc.yaml), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to say %q", tc.yaml, err, tc.want)
		}
	}
}

func TestLoadScenarioNames(t *testing.T) {
	if _, err := LoadScenario("churn.yaml"); err != nil {
		t.Errorf("a shipped scenario with its extension: %v", err)
	}
	if _, err := LoadScenario("no-such-scenario"); err == nil || !strings.Contains(err.Error(), "churn") {
		t.Errorf("an unknown name should list the shipped ones: %v", err)
	}
	// A directory named like a shipped scenario in the working directory does not hide it
	// (`testnet soak` once failed so in /tmp, next to a data dir called churn).
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir(filepath.Join(dir, "churn"), 0o700); err != nil {
		t.Fatal(err)
	}
	if sc, err := LoadScenario("churn"); err != nil || sc.Name != "churn" {
		t.Errorf("shipped churn beside a directory named churn: %v", err)
	}
	// A file of that name is read as a scenario file.
	if err := os.WriteFile(filepath.Join(dir, "mine"), []byte("name: mine\nnodes: 3\nbatch: {module: echo, range: {start: 0, end: 10}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if sc, err := LoadScenario("mine"); err != nil || sc.Name != "mine" {
		t.Errorf("a scenario file in the working directory: %+v %v", sc, err)
	}
}
