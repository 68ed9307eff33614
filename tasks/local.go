package tasks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"allforone/protocol"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// ErrBadRun means a local run could not start: the module, the inputs folder, the batch
// file or the output folder is unusable. Nothing ran; fix the command line.
var ErrBadRun = errors.New("cannot start the local run")

// maxFailuresListed bounds the failures a summary lists, so a batch of a million failing
// tasks does not fill memory; Failed still counts them all.
const maxFailuresListed = protocol.MaxListedFailures

// LocalSandbox runs a local run's tasks: the runner pool (tasks/runner), which `allforone
// run --local` uses, or the in-process Executor.
type LocalSandbox interface {
	Compile(ctx context.Context, id cid.Cid, module []byte) error
	Run(ctx context.Context, job Job) (Result, error)
	Slots() int
}

// LocalOptions configure a local run.
type LocalOptions struct {
	Executor LocalSandbox     // runs the tasks, Executor.Slots() at a time
	OutDir   string           // each task's output is written here under the task's name
	OnStart  func(total int)  // called once the tasks are known and the module compiled; may be nil
	OnDone   func(TaskReport) // called after each task, one call at a time; may be nil
}

// TaskReport is the outcome of one task of a local run.
type TaskReport struct {
	Index       int
	Name        string        // output file name
	Err         error         // nil on success
	Duration    time.Duration // time in the sandbox
	OutputBytes int
}

// LocalSummary is what a local run did. It is also the JSON that `allforone run --local
// --json` prints.
type LocalSummary struct {
	Tasks       int           `json:"tasks"`
	Succeeded   int           `json:"succeeded"`
	Failed      int           `json:"failed"`
	NotRun      int           `json:"not_run,omitempty"` // canceled before they ran
	Seconds     float64       `json:"seconds"`           // wall time of the whole run
	TaskSeconds float64       `json:"task_seconds"`      // sum of the tasks' times in the sandbox
	Slots       int           `json:"slots"`
	Module      string        `json:"module"` // content ID
	OutDir      string        `json:"out"`
	Failures    []TaskFailure `json:"failures"` // by index; at most 1000
	Truncated   bool          `json:"failures_truncated,omitempty"`
}

// TaskFailure is one failed task in a summary.
type TaskFailure struct {
	Index    int     `json:"index"`
	Task     string  `json:"task"`
	Kind     string  `json:"kind"` // see FailureKind
	Error    string  `json:"error"`
	ExitCode *uint32 `json:"exit_code,omitempty"`
}

var (
	errInput = errors.New("cannot read the task's input")
	errWrite = errors.New("cannot write the task's output")
)

// localTask is one task of a local run: its name and how to get its input.
type localTask struct {
	index int
	name  string
	input func(ctx context.Context) ([]byte, error)
}

// localBatch is everything a local run needs besides the options.
type localBatch struct {
	module []byte
	args   []string
	env    map[string]string
	limits Limits
	total  int
	tasks  iter.Seq[localTask]
}

// RunLocalDir runs module (a .wasm file) once per file of inputsDir, with the file's bytes on
// stdin, and writes each output to opts.OutDir under the input's file name: `allforone run
// --local --module M --inputs DIR --out DIR`. Inputs are read as tasks start, so memory stays
// bounded however many there are. Task i's random seed is derived from the module's content
// ID and i, the same in every local run.
func RunLocalDir(ctx context.Context, opts LocalOptions, modulePath, inputsDir string, limits Limits) (*LocalSummary, error) {
	module, err := readInputFile(modulePath)
	if err != nil {
		return nil, fmt.Errorf("%w: module: %v", ErrBadRun, err)
	}
	names, err := InputFiles(inputsDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRun, err)
	}
	if err := checkOutDir(opts.OutDir, inputsDir); err != nil {
		return nil, err
	}
	tasks := func(yield func(localTask) bool) {
		for i, n := range names {
			path := filepath.Join(inputsDir, n)
			if !yield(localTask{index: i, name: n, input: func(context.Context) ([]byte, error) { return readInputFile(path) }}) {
				return
			}
		}
	}
	return runLocal(ctx, opts, localBatch{module: module, limits: limits, total: len(names), tasks: tasks})
}

// RunLocalBatch runs a batch file on this machine: it builds the batch's manifest (checking
// it as a submit would), then runs every task, writing outputs to opts.OutDir under the
// names BatchSpec.TaskName gives, plus OutputExt. Input files are loaded into memory as
// blobs. Limits come from the batch; the executor's caps bound them.
func RunLocalBatch(ctx context.Context, opts LocalOptions, spec *BatchSpec) (*LocalSummary, error) {
	blobs := NewBlobStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	m, err := spec.Manifest(ctx, blobs, ManifestOptions{Swarm: "local", Now: time.Now(), Nonce: []byte("local-run")})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRun, err)
	}
	if err := checkOutDir(opts.OutDir, ""); err != nil {
		return nil, err
	}
	module, err := blobs.Get(ctx, m.Module.CID)
	if err != nil {
		return nil, fmt.Errorf("%w: module: %v", ErrBadRun, err)
	}
	tasks := func(yield func(localTask) bool) {
		names, stop := iter.Pull2(spec.TaskNames()) // in step with the manifest's tasks
		defer stop()
		for t := range m.Tasks(m.Module.CID) {
			in := t.Input
			_, name, _ := names()
			lt := localTask{index: t.Index, name: name + spec.OutputExt, input: func(ctx context.Context) ([]byte, error) {
				return ResolveInput(ctx, blobs, in)
			}}
			if !yield(lt) {
				return
			}
		}
	}
	return runLocal(ctx, opts, localBatch{module: module, args: m.Args, env: m.Env, limits: m.Limits, total: m.NumTasks(), tasks: tasks})
}

// checkOutDir creates the output folder and refuses the inputs folder as output folder.
func checkOutDir(out, inputs string) error {
	if out == "" {
		return fmt.Errorf("%w: no output folder: set --out", ErrBadRun)
	}
	if inputs != "" {
		a, _ := filepath.Abs(out)
		b, _ := filepath.Abs(inputs)
		if a == b {
			return fmt.Errorf("%w: the output folder is the inputs folder: outputs would overwrite inputs, choose another --out", ErrBadRun)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("%w: output folder: %v", ErrBadRun, err)
	}
	return nil
}

// runLocal compiles the module, then runs the tasks on the executor's slots.
func runLocal(ctx context.Context, opts LocalOptions, b localBatch) (*LocalSummary, error) {
	e := opts.Executor
	id := ContentID(b.module)
	if err := e.Compile(ctx, id, b.module); err != nil {
		return nil, fmt.Errorf("%w: module: %w", ErrBadRun, err)
	}
	if opts.OnStart != nil {
		opts.OnStart(b.total)
	}
	sum := &LocalSummary{Tasks: b.total, Slots: e.Slots(), Module: id.String(), OutDir: opts.OutDir, Failures: []TaskFailure{}}
	start := time.Now()
	var mu sync.Mutex // guards sum and serialises OnDone
	report := func(r TaskReport) {
		mu.Lock()
		defer mu.Unlock()
		sum.TaskSeconds += r.Duration.Seconds()
		switch {
		case r.Err == nil:
			sum.Succeeded++
		case ctx.Err() != nil && FailureKind(r.Err) == KindCanceled:
			return // counted as not run
		default:
			sum.Failed++
			if len(sum.Failures) < maxFailuresListed {
				sum.Failures = append(sum.Failures, failureOf(r))
			} else {
				sum.Truncated = true
			}
		}
		if opts.OnDone != nil {
			opts.OnDone(r)
		}
	}

	queue := make(chan localTask)
	var wg sync.WaitGroup
	for range e.Slots() {
		wg.Go(func() {
			for t := range queue {
				report(runLocalTask(ctx, e, opts.OutDir, id, b, t))
			}
		})
	}
	send := func(t localTask) bool {
		select {
		case queue <- t:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for t := range b.tasks {
		if !send(t) {
			break
		}
	}
	close(queue)
	wg.Wait()

	slices.SortFunc(sum.Failures, func(a, b TaskFailure) int { return cmp.Compare(a.Index, b.Index) })
	sum.NotRun = sum.Tasks - sum.Succeeded - sum.Failed
	sum.Seconds = time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("local run stopped with %d tasks not run: %w", sum.NotRun, err)
	}
	return sum, nil
}

func failureOf(r TaskReport) TaskFailure {
	f := TaskFailure{Index: r.Index, Task: r.Name, Kind: FailureKind(r.Err), Error: r.Err.Error()}
	var te *TaskError
	if errors.As(r.Err, &te) && errors.Is(te.Kind, ErrExitCode) {
		code := te.ExitCode
		f.ExitCode = &code
	}
	return f
}

// runLocalTask runs one task and writes its output, replacing the file atomically; a failed
// task removes a stale output of the same name so the folder never shows an old result.
func runLocalTask(ctx context.Context, e LocalSandbox, outDir string, id cid.Cid, b localBatch, t localTask) TaskReport {
	r := TaskReport{Index: t.index, Name: t.name}
	out := filepath.Join(outDir, t.name)
	fail := func(err error) TaskReport {
		r.Err = err
		_ = os.Remove(out) // a missing file is fine
		return r
	}
	input, err := t.input(ctx)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", errInput, err))
	}
	res, err := e.Run(ctx, Job{
		ModuleID: id, Module: b.module, Input: input, Args: b.args, Env: b.env, Limits: b.limits,
		Seed: TaskSeed(TaskID(id, t.index)),
	})
	r.Duration = res.Duration
	if err != nil {
		return fail(err)
	}
	r.OutputBytes = len(res.Output)
	if err := writeFileAtomic(out, res.Output); err != nil {
		return fail(fmt.Errorf("%w: %v", errWrite, err))
	}
	return r
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}
