package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"

	"allforone/tasks"
)

// EnvVar is the environment variable that makes the allforone binary (or a test binary
// that calls MainIfRunner in TestMain) a runner. Its value is the pipe protocol version.
const EnvVar = "ALLFORONE_RUNNER"

// Arg is the hidden argument a runner is started with, so it is recognisable in ps.
const Arg = "__runner"

// MainIfRunner turns this process into a task runner, and exits when it is done, if it was
// started as one (EnvVar is set); otherwise it returns at once. cmd/allforone's main calls
// it first thing, and so does the TestMain of every package whose tests start runners.
func MainIfRunner() {
	v, ok := os.LookupEnv(EnvVar)
	if !ok {
		return
	}
	if v != ProtocolVersion {
		fmt.Fprintf(os.Stderr, "allforone runner: the node speaks runner protocol %q, this binary %q: the allforone binary was replaced (an upgrade?) while the daemon runs; restart the daemon\n", v, ProtocolVersion)
		os.Exit(3)
	}
	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "allforone runner:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// syncWriter serialises frames on the runner's stdout: the task's stderr frames come from
// the task while it runs.
type syncWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (s *syncWriter) send(typ byte, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeFrame(s.w, typ, payload); err != nil {
		return err
	}
	return s.w.Flush()
}

// stderrFrames sends every write of the task to its stderr as a frame, so the node keeps
// the tail even of a task it kills.
type stderrFrames struct{ out *syncWriter }

func (s stderrFrames) Write(p []byte) (int, error) {
	if len(p) > 4<<10 {
		p = p[len(p)-4<<10:] // the node keeps only the last 4 KiB anyway
	}
	if err := s.out.send(msgStderr, appendBytes(nil, 1, p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// serve is the runner: it reads frames from in until it closes, and runs one job at a
// time. A closed stdin means the node is gone: the reader exits the process at once,
// whatever the task is doing (the watchdog that keeps runners from outliving their node
// where the OS has no parent-death signal).
func serve(in io.Reader, stdout io.Writer) error {
	out := &syncWriter{w: bufio.NewWriterSize(stdout, 64<<10)}
	frames := make(chan frame, 4)
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			f, err := readFrame(r)
			if err != nil {
				os.Exit(0) // the node closed the pipe or died
			}
			frames <- f
		}
	}()
	first := <-frames
	if first.typ != msgInit {
		return fmt.Errorf("first frame is of type %d, not init", first.typ)
	}
	init, err := decodeFields(first.payload)
	if err != nil {
		return fmt.Errorf("init frame: %w", err)
	}
	var hello []byte
	hello = appendBytes(hello, 1, []byte(ProtocolVersion))
	if init.uint(2) == 1 {
		if err := setIdlePriority(); err != nil {
			hello = appendBytes(hello, 2, []byte(err.Error()))
		}
	}
	e, err := tasks.NewExecutor(tasks.ExecutorConfig{
		CacheDir:            init.str(1),
		Slots:               1,
		MaxMemoryBytes:      tasks.MaxMemoryPages * tasks.PageSize,
		MaxTimeout:          tasks.MaxTimeout, // the node enforces the time limits
		MaxOutputBytes:      tasks.MaxOutputLimit,
		MaxCompiledModules:  int(init.uint(3)),
		NoTerminationChecks: true,
	})
	if err != nil {
		return err
	}
	if err := out.send(msgHello, hello); err != nil {
		return err
	}
	ctx := context.Background()
	for f := range frames {
		switch f.typ {
		case msgModule:
			if _, err := compileFrame(ctx, e, f.payload, out); err != nil {
				return err
			}
		case msgJob:
			if err := runJob(ctx, e, f.payload, frames, out); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected frame of type %d", f.typ)
		}
	}
	return nil
}

// compileFrame compiles the module of a module frame and answers with a compiled frame.
// It returns the compile error that it sent, and an error if it could not.
func compileFrame(ctx context.Context, e *tasks.Executor, payload []byte, out *syncWriter) (error, error) {
	f, err := decodeFields(payload)
	if err != nil {
		return nil, fmt.Errorf("module frame: %w", err)
	}
	_, id, err := cid.CidFromBytes(f.bytes(1))
	if err != nil {
		return nil, fmt.Errorf("module frame: module ID: %w", err)
	}
	var cerr error
	if module := f.bytes(2); module == nil {
		cerr = tasks.ErrNotCompiled
	} else {
		cerr = e.Compile(ctx, id, module)
	}
	return cerr, out.send(msgCompiled, appendFailure(nil, cerr))
}

// runJob runs one job frame, asking for the module first if it is not compiled here.
func runJob(ctx context.Context, e *tasks.Executor, payload []byte, frames <-chan frame, out *syncWriter) error {
	f, err := decodeFields(payload)
	if err != nil {
		return fmt.Errorf("job frame: %w", err)
	}
	_, id, err := cid.CidFromBytes(f.bytes(1))
	if err != nil {
		return fmt.Errorf("job frame: module ID: %w", err)
	}
	job := tasks.Job{
		ModuleID: id, Input: f.bytes(2), Args: f.strs(3),
		Limits:     tasks.Limits{MemoryPages: uint32(f.uint(5)), Timeout: tasks.MaxTimeout, MaxOutputBytes: f.uint(6)},
		StderrCopy: stderrFrames{out},
	}
	if env := f.strs(4); len(env) > 0 {
		job.Env = make(map[string]string, len(env))
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			job.Env[k] = v
		}
	}
	copy(job.Seed[:], f.bytes(7))
	res, err := e.Run(ctx, job)
	if errors.Is(err, tasks.ErrNotCompiled) {
		if err := out.send(msgNeed, nil); err != nil {
			return err
		}
		m, ok := <-frames
		if !ok || m.typ != msgModule {
			return fmt.Errorf("asked for a module, got a frame of type %d", m.typ)
		}
		cerr, serr := compileFrame(ctx, e, m.payload, out)
		if serr != nil || cerr != nil {
			return serr // a failed compile ends the job: the compiled frame said so
		}
		res, err = e.Run(ctx, job)
	}
	return out.send(msgResult, encodeResult(res, err))
}
