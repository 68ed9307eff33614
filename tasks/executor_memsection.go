package tasks

import "encoding/binary"

// declaredMemoryPages returns the initial size, in pages, of the memory a module defines,
// read from its memory section (0 when it defines none). The executor checks it against
// the memory limits before wazero allocates anything. ok is false when the binary is too
// malformed to tell; wazero then rejects it when compiling.
func declaredMemoryPages(module []byte) (pages uint32, ok bool) {
	const header = 8 // magic and version
	if len(module) < header {
		return 0, false
	}
	b := module[header:]
	for len(b) > 0 {
		id := b[0]
		size, n := binary.Uvarint(b[1:])
		if n <= 0 || size > uint64(len(b)-1-n) {
			return 0, false
		}
		body := b[1+n : 1+n+int(size)]
		b = b[1+n+int(size):]
		if id != 5 { // memory section
			continue
		}
		count, n := binary.Uvarint(body)
		if n <= 0 || count == 0 {
			return 0, n > 0
		}
		if len(body) < n+1 {
			return 0, false
		}
		initial, m := binary.Uvarint(body[n+1:]) // after the limits flag byte
		if m <= 0 {
			return 0, false
		}
		return uint32(min(initial, MaxMemoryPages+1)), true // more than the maximum is invalid anyway
	}
	return 0, true
}
