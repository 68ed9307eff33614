package tasks

import (
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// cappedBuffer collects a task's stdout up to limit bytes. The write that would pass the
// limit fails, marks the buffer and calls onExceed, which stops the module.
type cappedBuffer struct {
	mu       sync.Mutex
	buf      []byte
	limit    uint64
	exceeded atomic.Bool
	onExceed func()
}

// Write appends p. The write that would pass the limit marks the buffer, calls onExceed
// and stops the module.
func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uint64(len(c.buf))+uint64(len(p)) > c.limit {
		if !c.exceeded.Swap(true) {
			c.onExceed()
		}
		// Unwind the module from inside the host call (wazero turns a host function's
		// panic into the call's error): without termination checks nothing else would stop
		// a module that ignores the failed write and keeps writing.
		panic(errOutputFlood)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *cappedBuffer) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf
}

// stderrTail is the size of the stderr tail kept for diagnostics.
const stderrTail = 4 << 10

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

// Write keeps p, dropping the oldest bytes beyond max; it never fails.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuffer) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}

// memoryLimiter is a per-task wazero memory allocator that enforces the task's memory limit
// below the node's runtime-wide cap, so that one compiled module serves tasks with different
// limits. A refused grow makes memory.grow return -1 to the module, exactly as the
// WebAssembly maximum would; the limiter remembers it so a failing task is reported as
// ErrMemoryLimit. The memory is reserved once up to the limit (executor_reserve.go), so
// growing never copies.
type memoryLimiter struct {
	limit   uint64      // bytes
	refused atomic.Bool // a grow past the limit was refused
	over    atomic.Bool // the module's initial memory alone is over the limit
}

// Allocate implements experimental.MemoryAllocator. max is the most the module may ever
// ask for (its declared maximum, or the runtime's).
func (l *memoryLimiter) Allocate(_, maxBytes uint64) experimental.LinearMemory {
	return &limitedMemory{l: l, max: maxBytes}
}

// limitedMemory backs one linear memory.
type limitedMemory struct {
	l   *memoryLimiter
	max uint64
	res reservation // nil until the first allocation
}

// Reallocate implements experimental.LinearMemory. Memory only grows; bytes past the old
// length are zero because they were never handed out.
func (m *limitedMemory) Reallocate(size uint64) []byte {
	if m.res == nil {
		if size > m.l.limit {
			// The initial allocation cannot fail (wazero requires it); it is within the
			// node's cap, and the executor fails the task before running it.
			m.l.over.Store(true)
			m.res = &sliceMemory{limit: size}
		} else {
			m.res = reserve(min(m.l.limit, max(m.max, size)))
		}
	} else if size > m.l.limit {
		m.l.refused.Store(true)
		return nil
	}
	buf, err := m.res.grow(size)
	if err != nil {
		m.l.refused.Store(true)
		return nil
	}
	return buf
}

// Free implements experimental.LinearMemory.
func (m *limitedMemory) Free() {
	if m.res != nil {
		m.res.free()
		m.res = nil
	}
}
