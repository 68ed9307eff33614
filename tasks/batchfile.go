package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults for task limits, shared by batch files and `allforone run --local` flags.
const (
	DefaultTaskMemoryMiB = 256            // linear memory per task, MiB
	DefaultTaskTimeout   = time.Minute    // wall time per task
	DefaultTaskMaxOutput = 16 << 20       // stdout per task, bytes
	DefaultRedundancy    = 2              // R
	DefaultReplication   = 3              // K
	DefaultBatchDeadline = 24 * time.Hour // from creation
	maxBatchFileSize     = 1 << 20        // a batch file is small; its inputs are files
)

// InlineBudget is how many bytes of small input files a batch carries inline in its
// manifest (each at most MaxInlineInput); files beyond it become blobs (see README).
const InlineBudget = 32 << 10

// BatchSpec is a parsed batch file: what a person writes to describe a batch. See README.md
// for the JSON format. Paths in it are resolved relative to the batch file's folder.
type BatchSpec struct {
	Name                string
	ModulePath          string
	Inputs              []BatchInput // in order; a folder expands to one entry per file
	Args                []string
	Env                 map[string]string
	Limits              Limits
	Redundancy          uint32
	Replication         uint32
	MaxReplicas         uint32
	AdaptiveReplication bool
	Deadline            time.Duration // after creation
	OutputExt           string        // appended to every output file name in local runs
}

// BatchInput is one entry of a batch's input list: a file, an inline value or a range.
type BatchInput struct {
	File   string // path of a file whose bytes are one task's input
	Inline []byte // one task's input; nil if unused
	Range  *Range // one task per integer
}

// batchFile is the JSON form; see README.md.
type batchFile struct {
	Name                string            `json:"name"`
	Module              string            `json:"module"`
	Inputs              json.RawMessage   `json:"inputs"`
	Range               *jsonRange        `json:"range"`
	Args                []string          `json:"args"`
	Env                 map[string]string `json:"env"`
	Limits              jsonLimits        `json:"limits"`
	Redundancy          *uint32           `json:"redundancy"`
	Replication         *uint32           `json:"replication"`
	MaxReplicas         *uint32           `json:"max_replicas"`
	AdaptiveReplication bool              `json:"adaptive_replication"`
	Deadline            string            `json:"deadline"`
	OutputExt           string            `json:"output_ext"`
}

type jsonRange struct {
	Start  int64  `json:"start"`
	End    int64  `json:"end"`
	Prefix string `json:"prefix"`
	Suffix string `json:"suffix"`
}

type jsonLimits struct {
	MemoryMiB      uint32 `json:"memory_mb"`
	Timeout        string `json:"timeout"`
	MaxOutputBytes uint64 `json:"max_output_bytes"`
}

type jsonInput struct {
	File   *string    `json:"file"`
	Inline *string    `json:"inline"`
	Range  *jsonRange `json:"range"`
}

// LoadBatchFile reads and checks a batch file. Errors name the file and say what to fix.
// The module and the input files it names must lie under the batch file's folder (see
// LoadBatchFileUnder).
func LoadBatchFile(path string) (*BatchSpec, error) { return LoadBatchFileUnder(path, "") }

// LoadBatchFileUnder is LoadBatchFile with the files the batch file may name confined to
// root instead of the batch file's folder (root "" means that folder). Relative paths are
// still relative to the batch file's folder. A path that leaves root — absolute, through
// "..", or through a symbolic link that points outside — is refused: a batch file written by
// someone else must not make `submit` read (and publish) a file its user did not mean to
// share. A batch file without a "name" is named after the file, without ".json".
func LoadBatchFileUnder(path, root string) (*BatchSpec, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("batch file: %w", err)
	}
	if info.Size() > maxBatchFileSize {
		return nil, fmt.Errorf("batch file %s: %d bytes is over %d: list inputs as a folder or a range", path, info.Size(), maxBatchFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("batch file: %w", err)
	}
	if len(data) > maxBatchFileSize { // it grew since the stat
		return nil, fmt.Errorf("batch file %s: %d bytes is over %d: list inputs as a folder or a range", path, len(data), maxBatchFileSize)
	}
	paths, err := newPathRule(filepath.Dir(path), root)
	if err != nil {
		return nil, fmt.Errorf("batch file %s: %w", path, err)
	}
	spec, err := parseBatchFile(data, paths)
	if err != nil {
		return nil, fmt.Errorf("batch file %s: %w", path, err)
	}
	if spec.Name == "" {
		spec.Name = strings.TrimSuffix(filepath.Base(path), ".json")
	}
	return spec, nil
}

func parseBatchFile(data []byte, paths *pathRule) (*BatchSpec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f batchFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a valid batch file (JSON, see tasks/README.md): %w", err)
	}
	if f.Module == "" {
		return nil, errors.New(`"module" is missing: name the .wasm file to run`)
	}
	module, err := paths.resolve("module", f.Module)
	if err != nil {
		return nil, err
	}
	spec := &BatchSpec{
		Name:                f.Name,
		ModulePath:          module,
		Args:                f.Args,
		Env:                 f.Env,
		Redundancy:          orDefault(f.Redundancy, DefaultRedundancy),
		Replication:         orDefault(f.Replication, DefaultReplication),
		AdaptiveReplication: f.AdaptiveReplication,
		Deadline:            DefaultBatchDeadline,
		OutputExt:           f.OutputExt,
	}
	spec.MaxReplicas = orDefault(f.MaxReplicas, spec.Redundancy+2)
	if strings.ContainsAny(f.OutputExt, `/\`) {
		return nil, fmt.Errorf(`"output_ext" %q: must not contain a path separator`, f.OutputExt)
	}
	if spec.Limits, err = f.Limits.parse(); err != nil {
		return nil, err
	}
	if f.Deadline != "" {
		if spec.Deadline, err = time.ParseDuration(f.Deadline); err != nil || spec.Deadline <= 0 {
			return nil, fmt.Errorf(`"deadline" %q: want a positive duration such as "24h"`, f.Deadline)
		}
	}
	if spec.Inputs, err = parseInputs(f.Inputs, paths); err != nil {
		return nil, err
	}
	if f.Range != nil {
		spec.Inputs = append(spec.Inputs, BatchInput{Range: f.Range.toRange()})
	}
	if len(spec.Inputs) == 0 {
		return nil, errors.New(`no inputs: set "inputs" (a folder or a list) or "range"`)
	}
	// Count by arithmetic: a range of any size costs nothing until it runs.
	var total int64
	for i, in := range spec.Inputs {
		n := int64(1)
		if in.Range != nil {
			if err := in.Range.Check(); err != nil {
				return nil, fmt.Errorf("input %d: %w", i, err)
			}
			n = in.Range.Count()
		}
		total = AddTasks(total, n)
	}
	if err := CheckTaskCount(total); err != nil {
		return nil, fmt.Errorf("inputs: %w", err)
	}
	if err := checkNames(spec.Inputs); err != nil {
		return nil, err
	}
	return spec, nil
}

func orDefault(v *uint32, def uint32) uint32 {
	if v == nil {
		return def
	}
	return *v
}

func (r jsonRange) toRange() *Range {
	return &Range{Start: r.Start, End: r.End, Prefix: []byte(r.Prefix), Suffix: []byte(r.Suffix)}
}

func (l jsonLimits) parse() (Limits, error) {
	out := Limits{MemoryPages: DefaultTaskMemoryMiB * 16, Timeout: DefaultTaskTimeout, MaxOutputBytes: DefaultTaskMaxOutput}
	if l.MemoryMiB != 0 {
		if l.MemoryMiB > MaxMemoryPages/16 {
			return Limits{}, fmt.Errorf(`"limits.memory_mb" %d: at most %d (4 GiB)`, l.MemoryMiB, MaxMemoryPages/16)
		}
		out.MemoryPages = l.MemoryMiB * 16
	}
	if l.Timeout != "" {
		d, err := time.ParseDuration(l.Timeout)
		if err != nil || d < time.Millisecond || d > MaxTimeout {
			return Limits{}, fmt.Errorf(`"limits.timeout" %q: want a duration from "1ms" to "24h", such as "30s"`, l.Timeout)
		}
		out.Timeout = d.Truncate(time.Millisecond)
	}
	if l.MaxOutputBytes != 0 {
		if l.MaxOutputBytes > MaxOutputLimit {
			return Limits{}, fmt.Errorf(`"limits.max_output_bytes" %d: at most %d`, l.MaxOutputBytes, MaxOutputLimit)
		}
		out.MaxOutputBytes = l.MaxOutputBytes
	}
	return out, nil
}

// parseInputs reads "inputs": a folder name, or a list of file names and objects.
func parseInputs(raw json.RawMessage, paths *pathRule) ([]BatchInput, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var dir string
	if err := json.Unmarshal(raw, &dir); err == nil {
		return folderInputs(dir, paths)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New(`"inputs": want a folder name or a list of file names and {"inline": ...} / {"range": ...} objects`)
	}
	var out []BatchInput
	file := func(name string) error {
		p, err := paths.resolve("input", name)
		if err == nil {
			out = append(out, BatchInput{File: p})
		}
		return err
	}
	for i, item := range list {
		var name string
		if err := json.Unmarshal(item, &name); err == nil {
			if err := file(name); err != nil {
				return nil, fmt.Errorf(`"inputs" item %d: %w`, i, err)
			}
			continue
		}
		var in jsonInput
		dec := json.NewDecoder(bytes.NewReader(item))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return nil, fmt.Errorf(`"inputs" item %d: %v: want a file name or an object with one of "file", "inline", "range"`, i, err)
		}
		switch {
		case in.File != nil && in.Inline == nil && in.Range == nil:
			if err := file(*in.File); err != nil {
				return nil, fmt.Errorf(`"inputs" item %d: %w`, i, err)
			}
		case in.Inline != nil && in.File == nil && in.Range == nil:
			out = append(out, BatchInput{Inline: []byte(*in.Inline)})
		case in.Range != nil && in.File == nil && in.Inline == nil:
			out = append(out, BatchInput{Range: in.Range.toRange()})
		default:
			return nil, fmt.Errorf(`"inputs" item %d: set exactly one of "file", "inline", "range"`, i)
		}
	}
	return out, nil
}

// folderInputs lists the regular files of the folder dir names (not dot files, not
// subfolders), sorted by name: one task each. The folder and every file in it must lie
// under the batch file's root; a symbolic link in it that points outside is refused.
func folderInputs(dir string, paths *pathRule) ([]BatchInput, error) {
	full, err := paths.resolve("inputs folder", dir)
	if err != nil {
		return nil, err
	}
	names, err := InputFiles(full)
	if err != nil {
		return nil, err
	}
	out := make([]BatchInput, len(names))
	for i, n := range names {
		p, err := paths.resolve("input", filepath.Join(full, n))
		if err != nil {
			return nil, fmt.Errorf("inputs folder %s: %w", dir, err)
		}
		out[i] = BatchInput{File: p}
	}
	return out, nil
}

// InputFiles lists the names of the regular files in dir, sorted, skipping dot files and
// folders: the tasks of `run --local --inputs dir`.
func InputFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("inputs folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := os.Stat(filepath.Join(dir, e.Name())) // follows symlinks
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		names = append(names, e.Name())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("inputs folder %s has no files: put one input file per task in it", dir)
	}
	slices.Sort(names)
	return names, nil
}

// NumTasks is the number of tasks of the batch, counted without overflow (a spec loaded by
// LoadBatchFile has at most MaxTasks).
func (s *BatchSpec) NumTasks() int {
	var n int64
	for _, in := range s.Inputs {
		n = AddTasks(n, in.count())
	}
	return int(min(n, math.MaxInt))
}

// count is the number of tasks the input stands for.
func (in BatchInput) count() int64 {
	if in.Range != nil {
		return in.Range.Count()
	}
	return 1
}

// TaskName is the output file name of task i in a local run of the batch, without
// OutputExt: a file input's base name, "inline-<i>" for an inline value, and the decimal
// value for a range task. It returns "" past the last task. It walks the input list; to
// name every task in order, use TaskNames.
func (s *BatchSpec) TaskName(i int) string {
	var first int64 // task index of the current input's first task
	for _, in := range s.Inputs {
		n := in.count()
		if int64(i)-first < n {
			return in.taskName(int64(i), int64(i)-first)
		}
		first = AddTasks(first, n)
	}
	return ""
}

// TaskNames yields every task's index and TaskName in order, in constant time per task.
func (s *BatchSpec) TaskNames() iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		i := int64(0)
		for _, in := range s.Inputs {
			for k := range in.count() {
				if !yield(int(i), in.taskName(i, k)) {
					return
				}
				i++
			}
		}
	}
}

// taskName names the k-th task of the input, which is task i of the batch.
func (in BatchInput) taskName(i, k int64) string {
	switch {
	case in.Range != nil:
		return strconv.FormatInt(in.Range.Start+k, 10)
	case in.File != "":
		return filepath.Base(in.File)
	default:
		return "inline-" + strconv.FormatInt(i, 10)
	}
}

// checkNames refuses two inputs with the same output name. It looks at each input once
// (a range is compared by its bounds, never expanded).
func checkNames(inputs []BatchInput) error {
	seen := map[string]int{}
	var task int64
	var ranges []*Range
	for i, in := range inputs {
		if in.Range != nil {
			ranges = append(ranges, in.Range)
			task = AddTasks(task, in.Range.Count())
			continue
		}
		name := in.taskName(task, 0)
		task = AddTasks(task, 1)
		if j, dup := seen[name]; dup {
			return fmt.Errorf("inputs %d and %d both write the output %q: rename one", j, i, name)
		}
		seen[name] = i
	}
	if len(ranges) == 0 {
		return nil
	}
	for name, i := range seen {
		v, err := strconv.ParseInt(name, 10, 64)
		if err != nil || strconv.FormatInt(v, 10) != name {
			continue // "07" or "+7" is not the name of range task 7
		}
		for _, r := range ranges {
			if v >= r.Start && v < r.End {
				return fmt.Errorf("input %d (%q) has the same output name as a range task: rename the file", i, name)
			}
		}
	}
	return nil
}
