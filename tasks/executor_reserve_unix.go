//go:build unix

package tasks

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mmapMemory is a private anonymous mapping of the whole limit, made with MAP_NORESERVE:
// the kernel hands out pages as the module first touches them, so the mapping costs
// address space, not memory. Growing is a reslice.
type mmapMemory struct {
	mem []byte
}

// reserve maps size bytes, or falls back to a slice when the mapping fails (a low
// RLIMIT_AS, for instance).
func reserve(size uint64) reservation {
	if size == 0 || size > uint64(^uint(0)>>1) {
		return &sliceMemory{limit: size}
	}
	mem, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|mapNoReserve)
	if err != nil {
		return &sliceMemory{limit: size}
	}
	return &mmapMemory{mem: mem}
}

func (m *mmapMemory) grow(size uint64) ([]byte, error) {
	if size > uint64(len(m.mem)) {
		return nil, fmt.Errorf("grow to %d bytes past the reservation of %d", size, len(m.mem))
	}
	return m.mem[:size:size], nil
}

func (m *mmapMemory) free() {
	if m.mem != nil {
		_ = unix.Munmap(m.mem) // unmapping our own mapping cannot fail in a way we can act on
		m.mem = nil
	}
}
