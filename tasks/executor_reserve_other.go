//go:build !unix && !windows

package tasks

// reserve: no reservation on this platform (wasip1, plan9): a growing slice.
func reserve(size uint64) reservation { return &sliceMemory{limit: size} }
