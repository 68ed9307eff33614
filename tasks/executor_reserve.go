package tasks

// Linear memory reserved once. A task's memory is one reservation of address space as large
// as its memory limit (reserve, below); growing the memory commits more of it in place, so
// nothing is copied and old and new buffers never coexist: a task's host memory is about
// what it touched, at most its limit. Platforms without a reservation (reserveFallback)
// grow a Go slice geometrically, as before.

// reservation is address space for one linear memory.
type reservation interface {
	// grow makes the first size bytes usable (size <= the reserved size) and returns them.
	grow(size uint64) ([]byte, error)
	// free releases the whole reservation; the bytes must not be used afterwards.
	free()
}

// sliceMemory is the fallback: a Go slice that grows geometrically up to limit.
type sliceMemory struct {
	buf   []byte
	limit uint64
}

func (s *sliceMemory) grow(size uint64) ([]byte, error) {
	if size <= uint64(cap(s.buf)) {
		s.buf = s.buf[:size]
		return s.buf, nil
	}
	newCap := max(size, min(2*uint64(cap(s.buf)), s.limit))
	nb := make([]byte, size, newCap)
	copy(nb, s.buf)
	s.buf = nb
	return s.buf, nil
}

func (s *sliceMemory) free() { s.buf = nil }
