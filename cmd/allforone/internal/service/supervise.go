package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// SuperviseOptions configure Supervise. Zero durations take the defaults.
type SuperviseOptions struct {
	// Command makes a fresh command for every start; Supervise sets its output and its
	// cancellation.
	Command func(ctx context.Context) *exec.Cmd
	// LogFile receives the command's output (appended). When it is over LogMaxBytes at a
	// start, it is renamed to LogFile + ".1" first, replacing an older one.
	LogFile     string
	LogMaxBytes int64 // default 10 MiB
	// MinBackoff is the wait before the first restart; it doubles after every failure up to
	// MaxBackoff, and starts again at MinBackoff after a run longer than StableAfter.
	MinBackoff  time.Duration // default 5s
	MaxBackoff  time.Duration // default 5m
	StableAfter time.Duration // default 10m
	// StopTimeout is how long the command may take to exit after ctx ends (it is asked to
	// stop, then killed). Default 90s.
	StopTimeout time.Duration
	// Logf reports starts and failures; nil discards them.
	Logf func(format string, args ...any)
}

func (o *SuperviseOptions) defaults() {
	if o.LogMaxBytes == 0 {
		o.LogMaxBytes = 10 << 20
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 5 * time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.StableAfter == 0 {
		o.StableAfter = 10 * time.Minute
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 90 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Supervise runs the command until it exits successfully, starting it again after every
// failure with a growing backoff. When ctx ends it stops the command and returns nil. It
// returns an error only when the command cannot be started at all or the log cannot be
// opened.
func Supervise(ctx context.Context, o SuperviseOptions) error {
	o.defaults()
	backoff := o.MinBackoff
	for {
		cmd := o.Command(ctx)
		log, err := openLog(o.LogFile, o.LogMaxBytes)
		if err != nil {
			return err
		}
		// say reports to Logf and to the log, so that an unattended supervisor leaves a trace.
		say := func(format string, args ...any) {
			o.Logf(format, args...)
			fmt.Fprintf(log, "allforone service: "+format+"\n", args...)
		}
		cmd.Stdout, cmd.Stderr = log, log
		cmd.Cancel = func() error { return interrupt(cmd.Process) }
		cmd.WaitDelay = o.StopTimeout
		say("starting %s", strings.Join(cmd.Args, " "))
		started := time.Now()
		if err := startDetached(cmd); err != nil {
			say("cannot start %s: %v", cmd.Path, err)
			log.Close()
			return fmt.Errorf("start %s: %w", cmd.Path, err)
		}
		err = cmd.Wait()
		ran := time.Since(started)
		switch {
		case ctx.Err() != nil:
			say("stopped %s", cmd.Path)
			log.Close()
			return nil
		case err == nil:
			say("%s exited successfully; not starting it again", cmd.Path)
			log.Close()
			return nil
		}
		if ran > o.StableAfter {
			backoff = o.MinBackoff
		}
		say("%s failed after %s (%v); starting it again in %s", cmd.Path, ran.Round(time.Millisecond), err, backoff)
		log.Close()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, o.MaxBackoff)
	}
}

// openLog opens the log for appending, first moving a log over max bytes to path.1.
// An empty path discards the output.
func openLog(path string, max int64) (io.WriteCloser, error) {
	if path == "" {
		return nopCloser{io.Discard}, nil
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > max {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, fmt.Errorf("rotate log %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return f, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

var errNoProcess = errors.New("no process")
