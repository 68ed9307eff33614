package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"allforone/node"
	"allforone/tasks"

	"github.com/urfave/cli/v3"
)

// Flags of `allforone submit` beyond those shared with run.
const (
	flagReplicas = "replicas"
	flagKeep     = "keep"
	flagWait     = "wait"
	flagName     = "name"
)

// flagInputsRoot widens (or narrows) the folder a batch file may name files under; shared
// with run.
const flagInputsRoot = "inputs-root"

// inputsRootFlag is --inputs-root, for submit and run.
func inputsRootFlag() cli.Flag {
	return &cli.StringFlag{Name: flagInputsRoot, Usage: "with --manifest: the batch file may name files under `DIR` (default: only under the batch file's own folder)", Sources: env(flagInputsRoot)}
}

func submitCmd() *cli.Command {
	return &cli.Command{
		Name:      "submit",
		Usage:     "hand a batch of WebAssembly tasks to the swarm",
		UsageText: "allforone submit --module task.wasm --inputs DIR [--replicas R] [--keep K] [--wait] [--out DIR]\nallforone submit --manifest batch.json [--wait] [--out DIR]",
		Description: "The module and input files are checked first (sizes by stat, at most 256 MiB each),\n" +
			"then streamed to the running daemon, which stores them, signs the batch, hands it to\n" +
			"its stewards and announces it; then this machine may go offline. Prints the batch ID.\n" +
			"Files of at most 1 KiB travel inline in the announced manifest (up to 32 KiB in all).\n" +
			"A batch file may name files under its own folder only, or under --inputs-root.\n" +
			"With --wait it shows progress until the batch finishes; with --out it then writes\n" +
			"every output under its input's name, as `run --local` does.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagModule, Usage: "the task module, a WASI preview 1 `FILE` (.wasm)", Sources: env(flagModule)},
			&cli.StringFlag{Name: flagInputs, Usage: "`DIR` with one input file per task", Sources: env(flagInputs)},
			&cli.StringFlag{Name: flagManifest, Usage: "batch `FILE` (JSON) instead of --module and --inputs", Sources: env(flagManifest)},
			inputsRootFlag(),
			&cli.StringFlag{Name: flagName, Usage: "a label for the batch", Sources: env(flagName)},
			&cli.Uint32Flag{Name: flagReplicas, Usage: "R: peers that run each task; a strict majority must agree", Value: tasks.DefaultRedundancy, Sources: env(flagReplicas)},
			&cli.Uint32Flag{Name: flagKeep, Usage: "K: peers that keep each accepted result", Value: tasks.DefaultReplication, Sources: env(flagKeep)},
			&cli.DurationFlag{Name: flagTimeout, Usage: "CPU-time limit per task (a volunteer's runner also caps its wall time at 10x this)", Value: tasks.DefaultTaskTimeout, Sources: env(flagTimeout)},
			&cli.Uint32Flag{Name: flagMemory, Usage: "memory limit per task in MB", Value: tasks.DefaultTaskMemoryMiB, Sources: env(flagMemory)},
			&cli.Uint64Flag{Name: flagMaxOutput, Usage: "output limit per task in bytes", Value: tasks.DefaultTaskMaxOutput, Sources: env(flagMaxOutput)},
			&cli.BoolFlag{Name: flagWait, Usage: "wait until the batch finishes, showing progress", Sources: env(flagWait)},
			&cli.StringFlag{Name: flagOut, Usage: "with --wait: write the outputs to `DIR`", Sources: env(flagOut)},
			stallFlag(),
		},
		Action: submitAction,
	}
}

func submitAction(ctx context.Context, cmd *cli.Command) error {
	spec, err := submitSpec(cmd)
	if err != nil {
		return err
	}
	if cmd.String(flagOut) != "" && !cmd.Bool(flagWait) {
		return usagef("--out needs --wait (or fetch later with `allforone results BATCH --out DIR`)")
	}
	// Everything that can be checked here is, before anything is uploaded.
	plan, err := planSubmission(spec)
	if err != nil {
		return usageError{err}
	}
	c, err := client(cmd)
	if err != nil {
		return err
	}
	req, err := plan.upload(ctx, c)
	if err != nil {
		return apiErr(err)
	}
	res, err := c.Submit(ctx, req)
	if err != nil {
		return apiErr(err)
	}
	if !cmd.Bool(flagJSON) {
		for _, w := range res.Waiting { // accepted, but it will wait: say so now
			fmt.Fprintf(os.Stderr, "warning: %s\n  fix: %s\n", w.Reason, w.Fix)
		}
	}
	if !cmd.Bool(flagWait) {
		return printOut(cmd, res, func(p *printer) {
			p.f("%s", res.BatchID)
			p.f("%d tasks handed to %d stewards; follow it with `allforone status %s`", res.Tasks, len(res.Stewards), res.BatchID)
		})
	}
	if !cmd.Bool(flagJSON) {
		fmt.Fprintf(os.Stderr, "batch %s: %d tasks\n", res.BatchID, res.Tasks)
	}
	st, err := waitBatch(ctx, cmd, c, res.BatchID)
	var stalled stalledError
	if errors.As(err, &stalled) {
		if perr := printOut(cmd, st, func(p *printer) { printStatus(p, st) }); perr != nil {
			return perr
		}
		return err
	}
	if err != nil {
		return apiErr(err)
	}
	out := struct {
		node.BatchStatus
		Written int `json:"written,omitempty"`
	}{BatchStatus: st}
	var werr error // results that could not be written, after the status
	if dir := cmd.String(flagOut); dir != "" {
		out.Written, werr = writeResults(ctx, c, res.BatchID, dir)
	}
	if err := printOut(cmd, out, func(p *printer) { printStatus(p, st) }); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	return batchOutcome(st)
}

// submitSpec reads the batch from --manifest or from --module and --inputs.
func submitSpec(cmd *cli.Command) (*tasks.BatchSpec, error) {
	if err := checkFlagRange(flagReplicas, uint64(cmd.Uint32(flagReplicas)), 1, tasks.MaxRedundancy); err != nil {
		return nil, err
	}
	if err := checkFlagRange(flagKeep, uint64(cmd.Uint32(flagKeep)), 1, tasks.MaxReplication); err != nil {
		return nil, err
	}
	module, inputs, manifest := cmd.String(flagModule), cmd.String(flagInputs), cmd.String(flagManifest)
	switch {
	case manifest != "" && (module != "" || inputs != ""):
		return nil, usagef("--manifest and --module/--inputs exclude each other: the batch file names the module and inputs")
	case manifest == "" && cmd.String(flagInputsRoot) != "":
		return nil, usagef("--inputs-root applies to a batch file (--manifest): --module and --inputs name their files themselves")
	case manifest != "":
		spec, err := tasks.LoadBatchFileUnder(manifest, cmd.String(flagInputsRoot))
		if err != nil {
			return nil, usageError{err}
		}
		if cmd.IsSet(flagReplicas) {
			spec.Redundancy = cmd.Uint32(flagReplicas)
			if spec.MaxReplicas < spec.Redundancy { // the file's bound was for its own R
				spec.MaxReplicas = spec.Redundancy + 2
			}
		}
		if cmd.IsSet(flagKeep) {
			spec.Replication = cmd.Uint32(flagKeep)
		}
		return spec, nil
	case module == "" || inputs == "":
		return nil, usagef("say what to submit: --module FILE and --inputs DIR, or --manifest FILE")
	}
	limits, err := runLimits(cmd)
	if err != nil {
		return nil, err
	}
	names, err := tasks.InputFiles(inputs)
	if err != nil {
		return nil, usageError{err}
	}
	if err := tasks.CheckTaskCount(int64(len(names))); err != nil {
		return nil, usagef("--inputs %s: %w", inputs, err)
	}
	spec := &tasks.BatchSpec{
		Name: cmd.String(flagName), ModulePath: module, Limits: limits,
		Redundancy: cmd.Uint32(flagReplicas), Replication: cmd.Uint32(flagKeep),
	}
	spec.MaxReplicas = spec.Redundancy + 2
	if spec.Name == "" {
		spec.Name = filepath.Base(module)
	}
	for _, n := range names {
		spec.Inputs = append(spec.Inputs, tasks.BatchInput{File: filepath.Join(inputs, n)})
	}
	return spec, nil
}

// batchOutcome is the exit status of a finished batch: failure when a task failed.
func batchOutcome(st node.BatchStatus) error {
	switch {
	case st.State != tasks.BatchFailed:
		return nil
	case st.Failed == 0:
		return fmt.Errorf("batch %s passed its deadline with %d of %d tasks done", st.BatchID, st.Done, st.Total)
	}
	return fmt.Errorf("%s", failedSummary(st))
}
