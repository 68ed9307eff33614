// Package wasmtest assembles small WebAssembly modules from bytes, for tests and benchmarks
// of the sandbox: well-behaved minimal tasks and hostile ones (traps, endless loops, memory
// bombs, output floods, probes of the clock, environment and file system). No toolchain is
// needed; each module is a few hundred bytes. Like net/http/httptest, it is test support
// that other packages' tests may import.
package wasmtest

import "encoding/binary"

// Value types.
const (
	I32 byte = 0x7f
	I64 byte = 0x7e
)

// FuncType is a function signature.
type FuncType struct{ Params, Results []byte }

// Import is an imported function.
type Import struct {
	Module, Name string
	Type         uint32 // index into Module.Types
}

// Func is a function defined by the module.
type Func struct {
	Type   uint32 // index into Module.Types
	Locals []byte // one value type per local
	Body   []byte // instructions, without the final end
}

// Memory is the module's linear memory.
type Memory struct {
	Min    uint32
	Max    uint32 // 0: none
	Shared bool   // threads proposal; needs Max
}

// Export is an exported function (Kind 0) or memory (Kind 2).
type Export struct {
	Name  string
	Kind  byte
	Index uint32
}

// Data is an active data segment for memory 0.
type Data struct {
	Offset uint32
	Bytes  []byte
}

// Module is a WebAssembly module to encode. Function indices count imports first.
type Module struct {
	Types   []FuncType
	Imports []Import
	Funcs   []Func
	Memory  *Memory
	Exports []Export
	Start   *uint32 // start section function index
	Data    []Data
}

// Encode returns the module in the WebAssembly binary format.
func (m Module) Encode() []byte {
	out := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	section := func(id byte, items int, body []byte) {
		if items == 0 {
			return
		}
		content := append(uleb(uint64(items)), body...)
		out = append(out, id)
		out = append(out, uleb(uint64(len(content)))...)
		out = append(out, content...)
	}
	var b []byte
	for _, t := range m.Types {
		b = append(b, 0x60)
		b = append(b, vec(t.Params)...)
		b = append(b, vec(t.Results)...)
	}
	section(1, len(m.Types), b)
	b = nil
	for _, im := range m.Imports {
		b = append(b, name(im.Module)...)
		b = append(b, name(im.Name)...)
		b = append(b, 0x00)
		b = append(b, uleb(uint64(im.Type))...)
	}
	section(2, len(m.Imports), b)
	b = nil
	for _, f := range m.Funcs {
		b = append(b, uleb(uint64(f.Type))...)
	}
	section(3, len(m.Funcs), b)
	if mem := m.Memory; mem != nil {
		var flags byte
		if mem.Max > 0 {
			flags |= 1
		}
		if mem.Shared {
			flags |= 2
		}
		b = append([]byte{flags}, uleb(uint64(mem.Min))...)
		if mem.Max > 0 {
			b = append(b, uleb(uint64(mem.Max))...)
		}
		section(5, 1, b)
	}
	b = nil
	for _, e := range m.Exports {
		b = append(b, name(e.Name)...)
		b = append(b, e.Kind)
		b = append(b, uleb(uint64(e.Index))...)
	}
	section(7, len(m.Exports), b)
	if m.Start != nil {
		out = append(out, 8)
		s := uleb(uint64(*m.Start))
		out = append(out, uleb(uint64(len(s)))...)
		out = append(out, s...)
	}
	b = nil
	for _, f := range m.Funcs {
		var body []byte
		if len(f.Locals) == 0 {
			body = uleb(0)
		} else {
			body = uleb(uint64(len(f.Locals)))
			for _, l := range f.Locals {
				body = append(body, 1, l)
			}
		}
		body = append(body, f.Body...)
		body = append(body, OpEnd)
		b = append(b, uleb(uint64(len(body)))...)
		b = append(b, body...)
	}
	section(10, len(m.Funcs), b)
	b = nil
	for _, d := range m.Data {
		b = append(b, 0x00)
		b = append(b, I32Const(int32(d.Offset))...)
		b = append(b, OpEnd)
		b = append(b, uleb(uint64(len(d.Bytes)))...)
		b = append(b, d.Bytes...)
	}
	section(11, len(m.Data), b)
	return out
}

func uleb(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func vec(b []byte) []byte { return append(uleb(uint64(len(b))), b...) }

func name(s string) []byte { return vec([]byte(s)) }

// LE32 is v in little-endian order, for data segments.
func LE32(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}
