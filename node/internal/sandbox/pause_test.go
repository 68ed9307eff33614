package sandbox

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A pause that outlasts a task's lease ends its run with ErrPausedTooLong (the worker then
// hands the lease back); a shorter one does not.
func TestPauseGuardHandsBackAfterTheLease(t *testing.T) {
	var p Pause
	ctx, stop := p.Guard(t.Context(), 200*time.Millisecond)
	p.suspendedSince(time.Now())
	select {
	case <-ctx.Done():
		if !errors.Is(context.Cause(ctx), ErrPausedTooLong) {
			t.Fatalf("cause %v, want ErrPausedTooLong", context.Cause(ctx))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a pause longer than the lease did not end the run")
	}
	stop()
	p.suspendedSince(time.Now())
	ctx, stop = p.Guard(t.Context(), time.Hour)
	defer stop()
	select {
	case <-ctx.Done():
		t.Fatalf("a short pause ended the run: %v", context.Cause(ctx))
	case <-time.After(200 * time.Millisecond):
	}
}
