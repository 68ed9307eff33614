package wasmtest

// wasiSig returns the signature of a WASI preview 1 function used by the modules here.
func wasiSig(fn string) FuncType {
	i, l := I32, I64
	switch fn {
	case "fd_write", "fd_read":
		return FuncType{[]byte{i, i, i, i}, []byte{i}}
	case "proc_exit":
		return FuncType{[]byte{i}, nil}
	case "clock_time_get":
		return FuncType{[]byte{i, l, i}, []byte{i}}
	case "environ_sizes_get", "args_sizes_get", "random_get":
		return FuncType{[]byte{i, i}, []byte{i}}
	case "path_open":
		return FuncType{[]byte{i, i, i, i, i, l, l, i, i}, []byte{i}}
	}
	panic("wasmtest: unknown WASI function " + fn)
}

// command is a WASI command skeleton: type 0 is () -> (), imports[k] is function k, and
// _start (the next function index) is body. Memory is one page unless mem is set.
func command(imports []string, mem *Memory, body []byte, data ...Data) Module {
	m := Module{Types: []FuncType{{}}}
	for k, fn := range imports {
		m.Types = append(m.Types, wasiSig(fn))
		m.Imports = append(m.Imports, Import{Module: "wasi_snapshot_preview1", Name: fn, Type: uint32(k + 1)})
	}
	if mem == nil {
		mem = &Memory{Min: 1}
	}
	start := uint32(len(imports))
	m.Memory = mem
	m.Funcs = []Func{{Type: 0, Body: body}}
	m.Exports = []Export{{Name: "_start", Kind: 0, Index: start}, {Name: "memory", Kind: 2, Index: 0}}
	m.Data = data
	return m
}

// Echo copies stdin to stdout in 63 KiB chunks and exits 0: the minimal useful task.
func Echo() []byte {
	const buf, size = 1024, 65536 - 1024
	body := Code(
		[]byte{OpBlock, BlockEmpty, OpLoop, BlockEmpty},
		I32Const(0), I32Const(0), I32Const(1), I32Const(8), Call(0), []byte{OpDrop}, // fd_read(0, iov@0, 1, &n@8)
		I32Const(8), I32Load(0), []byte{OpI32Eqz}, BrIf(1), // EOF: leave
		I32Const(20), I32Const(8), I32Load(0), I32Store(0), // write iov len = n
		I32Const(1), I32Const(16), I32Const(1), I32Const(12), Call(1), []byte{OpDrop}, // fd_write(1, iov@16, 1, &w@12)
		Br(0),
		[]byte{OpEnd, OpEnd},
	)
	return command([]string{"fd_read", "fd_write"}, nil, body,
		Data{Offset: 0, Bytes: LE32(buf, size)}, Data{Offset: 16, Bytes: LE32(buf, 0)}).Encode()
}

// Trap executes unreachable.
func Trap() []byte {
	return command(nil, nil, []byte{OpUnreachable}).Encode()
}

// Loop never returns.
func Loop() []byte {
	return command(nil, nil, Code([]byte{OpLoop, BlockEmpty}, Br(0), []byte{OpEnd})).Encode()
}

// StartLoop never finishes instantiating: its start section runs an endless loop.
func StartLoop() []byte {
	m := command(nil, nil, nil)
	m.Funcs = append(m.Funcs, Func{Type: 0, Body: Code([]byte{OpLoop, BlockEmpty}, Br(0), []byte{OpEnd})})
	start := uint32(1)
	m.Start = &start
	return m.Encode()
}

// MemoryBomb grows memory by 1 MiB at a time and traps when a grow is refused.
func MemoryBomb() []byte {
	body := Code(
		[]byte{OpLoop, BlockEmpty},
		I32Const(16), MemoryGrow(), I32Const(-1), []byte{OpI32Eq},
		[]byte{OpIf, BlockEmpty, OpUnreachable, OpEnd},
		Br(0),
		[]byte{OpEnd},
	)
	return command(nil, nil, body).Encode()
}

// BigMemory declares an initial memory of pages pages and exits 0.
func BigMemory(pages uint32) []byte {
	return command(nil, &Memory{Min: pages}, nil).Encode()
}

// OutputFlood writes 1 KiB to stdout forever, ignoring errors.
func OutputFlood() []byte {
	body := Code(
		[]byte{OpLoop, BlockEmpty},
		I32Const(1), I32Const(0), I32Const(1), I32Const(8), Call(0), []byte{OpDrop},
		Br(0),
		[]byte{OpEnd},
	)
	return command([]string{"fd_write"}, nil, body, Data{Offset: 0, Bytes: LE32(64, 1024)}).Encode()
}

// Exit exits with code.
func Exit(code int32) []byte {
	return command([]string{"proc_exit"}, nil, Code(I32Const(code), Call(0))).Encode()
}

// Complain writes msg to stderr, then exits with code (code 0: it traps instead, so a
// test gets a trap with stderr too).
func Complain(msg string, code int32) []byte {
	const text = 64
	end := Code(I32Const(code), Call(1))
	if code == 0 {
		end = []byte{OpUnreachable}
	}
	body := Code(
		I32Const(2), I32Const(0), I32Const(1), I32Const(8), Call(0), []byte{OpDrop}, // fd_write(2, iov@0, 1, &n@8)
		end,
	)
	return command([]string{"fd_write", "proc_exit"}, nil, body,
		Data{Offset: 0, Bytes: LE32(text, uint32(len(msg)))}, Data{Offset: text, Bytes: []byte(msg)}).Encode()
}

// ProbeSize is the length of Probe's output.
const ProbeSize = 48

// Probe looks at everything a sandbox should hide and writes what it saw, ProbeSize bytes,
// little-endian: [0:8] wall clock (ns), [8:16] monotonic clock (ns), [16:20] environment
// variable count, [20:24] environment size, [24:28] errno of opening "etc/passwd" relative
// to fd 3 (the first preopen, if any), [28:32] argument count, [32:40] 8 random bytes,
// [40:48] the wall clock read again.
func Probe() []byte {
	const out = 256
	drop := []byte{OpDrop}
	body := Code(
		I32Const(0), I64Const(1), I32Const(out), Call(0), drop, // clock_time_get(realtime)
		I32Const(1), I64Const(1), I32Const(out+8), Call(0), drop, // clock_time_get(monotonic)
		I32Const(out+16), I32Const(out+20), Call(1), drop, // environ_sizes_get
		I32Const(out+24), // path_open(3, 0, "etc/passwd", 0, rights 0, 0, 0, &fd) -> errno
		I32Const(3), I32Const(0), I32Const(512), I32Const(10), I32Const(0), I64Const(0), I64Const(0), I32Const(0), I32Const(600),
		Call(2), I32Store(0),
		I32Const(out+28), I32Const(out+44), Call(3), drop, // args_sizes_get
		I32Const(out+32), I32Const(8), Call(4), drop, // random_get
		I32Const(0), I64Const(1), I32Const(out+40), Call(0), drop, // clock_time_get(realtime) again
		I32Const(1), I32Const(0), I32Const(1), I32Const(8), Call(5), drop, // fd_write(1, iov@0)
	)
	return command([]string{"clock_time_get", "environ_sizes_get", "path_open", "args_sizes_get", "random_get", "fd_write"}, nil, body,
		Data{Offset: 0, Bytes: LE32(out, ProbeSize)}, Data{Offset: 512, Bytes: []byte("etc/passwd")}).Encode()
}

// SharedMemory declares a shared memory (the threads proposal), which the sandbox refuses.
func SharedMemory() []byte {
	return command(nil, &Memory{Min: 1, Max: 1, Shared: true}, nil).Encode()
}

// ForeignImport imports a function from a module other than WASI, which the sandbox refuses.
func ForeignImport() []byte {
	m := command(nil, nil, nil)
	m.Types = append(m.Types, FuncType{Results: []byte{I64}})
	m.Imports = []Import{{Module: "env", Name: "host_time", Type: 1}}
	m.Exports[0].Index = 1
	return m.Encode()
}

// UnknownWASI imports a function that WASI preview 1 does not have.
func UnknownWASI() []byte {
	m := command(nil, nil, nil)
	m.Imports = []Import{{Module: "wasi_snapshot_preview1", Name: "sock_open_anything", Type: 0}}
	m.Exports[0].Index = 1
	return m.Encode()
}

// NoStart is a valid module that exports no _start (a library, not a command).
func NoStart() []byte {
	m := command(nil, nil, nil)
	m.Exports[0].Name = "main"
	return m.Encode()
}
