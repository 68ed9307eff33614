package wasmtest

import "bytes"

// Modules that cost their host something other than a trap: CPU for a while, resident
// memory, or a long compile. The runner tests use them.

// Spin counts an i64 down from n to zero, then writes "spun\n" and exits 0: about n
// iterations of CPU work with a known output.
func Spin(n int64) []byte {
	const local = 0
	body := Code(
		I64Const(n), []byte{0x21, local}, // local.set 0
		[]byte{OpLoop, BlockEmpty},
		[]byte{0x20, local}, I64Const(1), []byte{0x7d}, []byte{0x22, local}, // local.tee 0 (n-1)
		[]byte{0x50}, []byte{OpI32Eqz}, BrIf(0), // i64.eqz; loop while not zero
		[]byte{OpEnd},
		I32Const(1), I32Const(16), I32Const(1), I32Const(8), Call(0), []byte{OpDrop}, // fd_write(1, iov@16, 1, &w@8)
	)
	m := command([]string{"fd_write"}, nil, body, Data{Offset: 0, Bytes: []byte("spun\n")}, Data{Offset: 16, Bytes: LE32(0, 5)})
	m.Funcs[0].Locals = []byte{I64}
	return m.Encode()
}

// MemoryFiller grows memory 1 MiB at a time and fills each new MiB (memory.fill), so every
// page it gets becomes resident; it traps when a grow is refused.
func MemoryFiller() []byte {
	body := Code(
		[]byte{OpLoop, BlockEmpty},
		I32Const(16), MemoryGrow(), []byte{0x22, 0}, // local.tee 0: old size in pages, or -1
		I32Const(-1), []byte{OpI32Eq},
		[]byte{OpIf, BlockEmpty, OpUnreachable, OpEnd},
		[]byte{0x20, 0}, I32Const(16), []byte{0x74}, // dest = old pages << 16
		I32Const(0x5a), I32Const(1<<20), []byte{0xfc, 11, 0}, // memory.fill 1 MiB
		Br(0),
		[]byte{OpEnd},
	)
	m := command(nil, nil, body)
	m.Funcs[0].Locals = []byte{I32}
	return m.Encode()
}

// DeepNesting is a module whose _start is depth nested blocks: tiny to download, but the
// compiler's cost grows with the square of the depth.
func DeepNesting(depth int) []byte {
	body := append(bytes.Repeat([]byte{OpBlock, BlockEmpty}, depth), bytes.Repeat([]byte{OpEnd}, depth)...)
	return command(nil, nil, body).Encode()
}

// ManyLoops is a module whose _start is n empty loops in a row.
func ManyLoops(n int) []byte {
	return command(nil, nil, bytes.Repeat([]byte{OpLoop, BlockEmpty, OpEnd}, n)).Encode()
}

// BigBrTable is a module whose _start holds one br_table with n targets, repeated times
// times.
func BigBrTable(n, times int) []byte {
	one := Code([]byte{OpBlock, BlockEmpty}, I32Const(0), []byte{0x0e}, uleb(uint64(n)), bytes.Repeat([]byte{0}, n), []byte{0, OpEnd})
	return command(nil, nil, bytes.Repeat(one, times)).Encode()
}

// MemoryHog grows memory to mib MiB, filling every page (so they are resident), then spins
// forever holding them.
func MemoryHog(mib int32) []byte {
	body := Code(
		[]byte{OpBlock, BlockEmpty, OpLoop, BlockEmpty},
		[]byte{0x20, 1}, I32Const(mib), []byte{0x4e}, BrIf(1), // i >= mib: done (i32.ge_s)
		I32Const(16), MemoryGrow(), []byte{0x22, 0},
		I32Const(-1), []byte{OpI32Eq},
		[]byte{OpIf, BlockEmpty, OpUnreachable, OpEnd},
		[]byte{0x20, 0}, I32Const(16), []byte{0x74},
		I32Const(0x5a), I32Const(1<<20), []byte{0xfc, 11, 0},
		[]byte{0x20, 1}, I32Const(1), []byte{0x6a}, []byte{0x21, 1}, // i++
		Br(0),
		[]byte{OpEnd, OpEnd},
		[]byte{OpLoop, BlockEmpty}, Br(0), []byte{OpEnd},
	)
	m := command(nil, nil, body)
	m.Funcs[0].Locals = []byte{I32, I32}
	return m.Encode()
}

// OutputHog writes kib KiB to stdout in 1 KiB writes, then spins forever: host memory (the
// output buffer) that is not linear memory.
func OutputHog(kib int32) []byte {
	body := Code(
		[]byte{OpBlock, BlockEmpty, OpLoop, BlockEmpty},
		[]byte{0x20, 0}, I32Const(kib), []byte{0x4e}, BrIf(1), // i >= kib: done
		I32Const(1), I32Const(0), I32Const(1), I32Const(8), Call(0), []byte{OpDrop},
		[]byte{0x20, 0}, I32Const(1), []byte{0x6a}, []byte{0x21, 0}, // i++
		Br(0),
		[]byte{OpEnd, OpEnd},
		[]byte{OpLoop, BlockEmpty}, Br(0), []byte{OpEnd},
	)
	m := command([]string{"fd_write"}, nil, body, Data{Offset: 0, Bytes: LE32(64, 1024)})
	m.Funcs[0].Locals = []byte{I32}
	return m.Encode()
}
