package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"allforone/tasks"
)

// ErrRunnerUnavailable means no runner process could be started (the binary is missing,
// was replaced by another version, or does not answer). No task ran; the pool tries
// again after a backoff. It is not the task's fault.
var ErrRunnerUnavailable = errors.New("task runner cannot start")

// proc is one runner process and the goroutine that reads its frames.
type proc struct {
	cmd    *exec.Cmd
	pid    int
	stdin  io.WriteCloser
	frames chan frame    // from the reader goroutine
	dead   chan struct{} // closed once the process has exited and its frames are read
	stderr *tailWriter   // the runner's own stderr (Go panics, refusals), for errors

	mu       sync.Mutex
	exitErr  error         // why it exited; set before dead is closed
	cpuAtEnd time.Duration // CPU time it used, set before dead is closed
	killed   bool          // the pool killed it
	stopped  bool          // suspended (SIGSTOP)
}

// startProc starts a runner and waits for its hello.
func startProc(ctx context.Context, cfg *Config) (*proc, error) {
	cmd := exec.Command(cfg.Binary, Arg)
	cmd.Env = append(os.Environ(), EnvVar+"="+ProtocolVersion)
	cmd.SysProcAttr = sysProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, stdin: stdin, frames: make(chan frame, 16), dead: make(chan struct{}),
		stderr: &tailWriter{max: 2 << 10}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.pid = cmd.Process.Pid
	go p.read(bufio.NewReaderSize(stdout, 64<<10))

	var init []byte
	init = appendBytes(init, 1, []byte(cfg.CacheDir))
	if cfg.IdlePriority {
		init = appendUint(init, 2, 1)
	}
	init = appendUint(init, 3, uint64(cfg.MaxCompiledModules))
	if err := writeFrame(stdin, msgInit, init); err != nil {
		p.kill()
		return nil, fmt.Errorf("send init: %w (runner said: %s)", err, p.stderr.String())
	}
	t := time.NewTimer(cfg.StartTimeout)
	defer t.Stop()
	select {
	case f := <-p.frames:
		if f.typ != msgHello {
			p.kill()
			return nil, fmt.Errorf("runner answered with a frame of type %d, not hello", f.typ)
		}
		h, _ := decodeFields(f.payload)
		if w := h.str(2); w != "" {
			cfg.Logger.Warn("runner priority not lowered", "pid", p.pid, "err", w)
		}
		return p, nil
	case <-p.dead:
		return nil, fmt.Errorf("runner exited at start: %v: %s", p.exitErr, p.stderr.String())
	case <-t.C:
		p.kill()
		return nil, fmt.Errorf("runner did not answer within %s", cfg.StartTimeout)
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
}

// read forwards frames until the pipe ends, then reaps the process.
func (p *proc) read(r io.Reader) {
	defer close(p.dead)
	defer close(p.frames)
	var rerr error
	for {
		f, err := readFrame(r)
		if err != nil {
			rerr = err
			break
		}
		p.frames <- f
	}
	werr := p.cmd.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.cmd.ProcessState; st != nil {
		p.cpuAtEnd = st.UserTime() + st.SystemTime()
	}
	switch {
	case werr != nil:
		p.exitErr = werr
	case !errors.Is(rerr, io.EOF):
		p.exitErr = rerr
	default:
		p.exitErr = errors.New("runner exited")
	}
}

// send writes one frame to the runner.
func (p *proc) send(typ byte, payload []byte) error {
	if err := writeFrame(p.stdin, typ, payload); err != nil {
		return fmt.Errorf("write to runner %d: %w", p.pid, err)
	}
	return nil
}

// kill ends the runner (SIGKILL, TerminateProcess) and waits until it is reaped.
func (p *proc) kill() {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	_ = p.cmd.Process.Kill() // an exited process is fine
	_ = p.stdin.Close()
	for range p.frames { // drain so the reader can finish
	}
	<-p.dead
}

// alive reports whether the process has not exited.
func (p *proc) alive() bool {
	select {
	case <-p.dead:
		return false
	default:
		return true
	}
}

// cpu is the CPU time the runner has used so far (its final figure once it has exited);
// ok is false where the OS does not tell.
func (p *proc) cpu() (time.Duration, bool) {
	if !p.alive() {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.cpuAtEnd, true
	}
	return readCPU(p.pid)
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(b), nil
}

func (t *tailWriter) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}

func (t *tailWriter) String() string { return string(t.Bytes()) }

// errCrashed is the failure of a task whose runner died without being killed by the pool.
func errCrashed(p *proc, stderr []byte) error {
	p.mu.Lock()
	why := p.exitErr
	p.mu.Unlock()
	detail := fmt.Sprintf("the task's runner process (pid %d) died: %v", p.pid, why)
	if s := p.stderr.String(); s != "" {
		detail += ": " + lastLine(s)
	}
	return &tasks.TaskError{Kind: tasks.ErrCrashed, Detail: detail, Stderr: stderr}
}

func lastLine(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:]
		}
	}
	return s
}
