package sandbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ErrPausedTooLong is why a suspended task is handed back.
var ErrPausedTooLong = errors.New("work was paused for longer than the task's lease: the task is handed back for another peer")

// Suspender is what a Pause suspends and resumes: a Sandbox.
type Suspender interface {
	Suspend() error // tasks.ErrNoSuspend where running tasks cannot be suspended
	Resume() error
}

// Pause is the suspension of the running tasks. The zero value is ready; Loop drives it.
type Pause struct {
	mu        sync.Mutex
	since     time.Time // when the running tasks were suspended; zero while they run
	wake      chan struct{}
	noSuspend bool // the sandbox cannot suspend: tasks go on (logged once)
}

// Wake makes Loop look at the preferences now.
func (p *Pause) Wake() {
	select {
	case p.wakeCh() <- struct{}{}:
	default:
	}
}

func (p *Pause) wakeCh() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wake == nil {
		p.wake = make(chan struct{}, 1)
	}
	return p.wake
}

// Loop suspends s while reason says a suspending preference pauses work (a reason that is
// not "") and resumes it when it no longer does; it looks every second and on Wake. It
// resumes s when ctx ends, so that closing the sandbox can end the runners.
func (p *Pause) Loop(ctx context.Context, s Suspender, reason func() string, log *slog.Logger) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	wake := p.wakeCh()
	defer func() {
		_ = s.Resume() // stopping the node kills the runners either way
	}()
	for {
		why := reason()
		p.mu.Lock()
		suspended := !p.since.IsZero()
		p.mu.Unlock()
		switch {
		case why != "" && !suspended:
			err := s.Suspend()
			p.mu.Lock()
			if err == nil {
				p.since = time.Now()
			} else if !p.noSuspend {
				p.noSuspend = true
				log.Info("running tasks cannot be suspended here: they finish, and no new ones start while paused", "err", err)
			}
			p.mu.Unlock()
			if err == nil {
				log.Info("running tasks suspended", "because", why)
			}
		case why == "" && suspended:
			if err := s.Resume(); err != nil {
				log.Warn("resume task runners", "err", err)
			}
			p.mu.Lock()
			p.since = time.Time{}
			p.mu.Unlock()
			log.Info("running tasks resumed")
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// For is how long running tasks have been suspended (0 when they are not).
func (p *Pause) For() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.since.IsZero() {
		return 0
	}
	return time.Since(p.since)
}

// Guard returns a context for a task's run that ends (with ErrPausedTooLong) once the
// tasks have been suspended for longer than lease: then the task is handed back. stop
// releases the guard.
func (p *Pause) Guard(ctx context.Context, lease time.Duration) (_ context.Context, stop func()) {
	gctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(lease/20, 50*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-gctx.Done():
				return
			case <-t.C:
				if p.For() > lease {
					cancel(ErrPausedTooLong)
					return
				}
			}
		}
	})
	return gctx, func() { close(done); wg.Wait(); cancel(nil) }
}

// suspendedSince marks the tasks suspended since t (tests).
func (p *Pause) suspendedSince(t time.Time) {
	p.mu.Lock()
	p.since = t
	p.mu.Unlock()
}
