package tasks

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// virtualMemory reserves the whole limit with VirtualAlloc(MEM_RESERVE) and commits it as
// the module grows (MEM_COMMIT of the prefix), so growing never copies.
type virtualMemory struct {
	addr      uintptr
	size      uint64
	committed uint64
}

// reserve reserves size bytes of address space, or falls back to a slice.
func reserve(size uint64) reservation {
	if size == 0 || size > uint64(^uintptr(0)>>1) {
		return &sliceMemory{limit: size}
	}
	addr, err := windows.VirtualAlloc(0, uintptr(size), windows.MEM_RESERVE, windows.PAGE_NOACCESS)
	if err != nil {
		return &sliceMemory{limit: size}
	}
	return &virtualMemory{addr: addr, size: size}
}

func (v *virtualMemory) grow(size uint64) ([]byte, error) {
	if size > v.size {
		return nil, fmt.Errorf("grow to %d bytes past the reservation of %d", size, v.size)
	}
	if size > v.committed {
		if _, err := windows.VirtualAlloc(v.addr, uintptr(size), windows.MEM_COMMIT, windows.PAGE_READWRITE); err != nil {
			return nil, fmt.Errorf("commit %d bytes: %w", size, err)
		}
		v.committed = size
	}
	base := *(*unsafe.Pointer)(unsafe.Pointer(&v.addr)) // memory outside Go's heap: the GC ignores it
	return unsafe.Slice((*byte)(base), size)[:size:size], nil
}

func (v *virtualMemory) free() {
	if v.addr != 0 {
		_ = windows.VirtualFree(v.addr, 0, windows.MEM_RELEASE) // our own reservation
		v.addr = 0
	}
}
