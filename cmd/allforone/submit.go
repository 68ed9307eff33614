package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

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

func submitCmd() *cli.Command {
	return &cli.Command{
		Name:      "submit",
		Usage:     "hand a batch of WebAssembly tasks to the swarm",
		UsageText: "allforone submit --module task.wasm --inputs DIR [--replicas R] [--keep K] [--wait] [--out DIR]\nallforone submit --manifest batch.json [--wait] [--out DIR]",
		Description: "The running daemon stores the module and inputs, signs the batch, hands it to its\n" +
			"stewards and announces it; then this machine may go offline. Prints the batch ID.\n" +
			"With --wait it shows progress until the batch finishes; with --out it then writes\n" +
			"every output under its input's name, as `run --local` does.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagModule, Usage: "the task module, a WASI preview 1 `FILE` (.wasm)", Sources: env(flagModule)},
			&cli.StringFlag{Name: flagInputs, Usage: "`DIR` with one input file per task", Sources: env(flagInputs)},
			&cli.StringFlag{Name: flagManifest, Usage: "batch `FILE` (JSON) instead of --module and --inputs", Sources: env(flagManifest)},
			&cli.StringFlag{Name: flagName, Usage: "a label for the batch", Sources: env(flagName)},
			&cli.Uint32Flag{Name: flagReplicas, Usage: "R: peers that run each task; a strict majority must agree", Value: tasks.DefaultRedundancy, Sources: env(flagReplicas)},
			&cli.Uint32Flag{Name: flagKeep, Usage: "K: peers that keep each accepted result", Value: tasks.DefaultReplication, Sources: env(flagKeep)},
			&cli.DurationFlag{Name: flagTimeout, Usage: "CPU-time limit per task (a volunteer's runner also caps its wall time at 10x this)", Value: tasks.DefaultTaskTimeout, Sources: env(flagTimeout)},
			&cli.Uint32Flag{Name: flagMemory, Usage: "memory limit per task in MB", Value: tasks.DefaultTaskMemoryMiB, Sources: env(flagMemory)},
			&cli.Uint64Flag{Name: flagMaxOutput, Usage: "output limit per task in bytes", Value: tasks.DefaultTaskMaxOutput, Sources: env(flagMaxOutput)},
			&cli.BoolFlag{Name: flagWait, Usage: "wait until the batch finishes, showing progress", Sources: env(flagWait)},
			&cli.StringFlag{Name: flagOut, Usage: "with --wait: write the outputs to `DIR`", Sources: env(flagOut)},
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
	req, err := submitRequest(spec)
	if err != nil {
		return usageError{err}
	}
	c, err := client(cmd)
	if err != nil {
		return err
	}
	res, err := c.Submit(ctx, req)
	if err != nil {
		return apiErr(err)
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
	if err != nil {
		return err
	}
	out := struct {
		node.BatchStatus
		Written int `json:"written,omitempty"`
	}{BatchStatus: st}
	if dir := cmd.String(flagOut); dir != "" {
		if out.Written, err = writeResults(ctx, c, res.BatchID, dir); err != nil {
			return err
		}
	}
	if err := printOut(cmd, out, func(p *printer) { printStatus(p, st) }); err != nil {
		return err
	}
	return batchOutcome(st)
}

// submitSpec reads the batch from --manifest or from --module and --inputs.
func submitSpec(cmd *cli.Command) (*tasks.BatchSpec, error) {
	module, inputs, manifest := cmd.String(flagModule), cmd.String(flagInputs), cmd.String(flagManifest)
	switch {
	case manifest != "" && (module != "" || inputs != ""):
		return nil, usagef("--manifest and --module/--inputs exclude each other: the batch file names the module and inputs")
	case manifest != "":
		spec, err := tasks.LoadBatchFile(manifest)
		if err != nil {
			return nil, usageError{err}
		}
		if cmd.IsSet(flagReplicas) {
			spec.Redundancy = cmd.Uint32(flagReplicas)
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
	spec := &tasks.BatchSpec{
		Name: cmd.String(flagName), ModulePath: module, Limits: limits,
		Redundancy: cmd.Uint32(flagReplicas), Replication: cmd.Uint32(flagKeep),
	}
	if spec.Name == "" {
		spec.Name = filepath.Base(module)
	}
	for _, n := range names {
		spec.Inputs = append(spec.Inputs, tasks.BatchInput{File: filepath.Join(inputs, n)})
	}
	return spec, nil
}

// submitRequest reads the module and input files of spec into an API submission.
func submitRequest(spec *tasks.BatchSpec) (node.SubmitRequest, error) {
	module, err := os.ReadFile(spec.ModulePath)
	if err != nil {
		return node.SubmitRequest{}, fmt.Errorf("module: %w", err)
	}
	req := node.SubmitRequest{
		Name: spec.Name, Module: module, Args: spec.Args, Env: spec.Env,
		MemoryPages: spec.Limits.MemoryPages, TimeoutMS: uint64(spec.Limits.Timeout.Milliseconds()),
		MaxOutputBytes: spec.Limits.MaxOutputBytes, Redundancy: spec.Redundancy, Replication: spec.Replication,
		MaxReplicas: spec.MaxReplicas, Adaptive: spec.AdaptiveReplication,
		DeadlineSec: uint64(spec.Deadline / time.Second),
	}
	for _, in := range spec.Inputs {
		switch {
		case in.Range != nil:
			req.Inputs = append(req.Inputs, node.SubmitInput{Range: in.Range})
		case in.File != "":
			data, err := os.ReadFile(in.File)
			if err != nil {
				return req, fmt.Errorf("input: %w", err)
			}
			req.Inputs = append(req.Inputs, node.SubmitInput{Name: filepath.Base(in.File), Data: data})
		default:
			req.Inputs = append(req.Inputs, node.SubmitInput{Data: in.Inline})
		}
	}
	for i := range spec.NumTasks() {
		req.OutputNames = append(req.OutputNames, spec.TaskName(i)+spec.OutputExt)
	}
	return req, nil
}

// batchOutcome is the exit status of a finished batch: failure when a task failed.
func batchOutcome(st node.BatchStatus) error {
	if st.State == tasks.BatchFailed {
		return fmt.Errorf("%d of %d tasks failed (no quorum): tasks %v", st.Failed, st.Total, st.FailedTasks)
	}
	return nil
}
