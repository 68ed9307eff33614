package wasmtest

// Single-byte instructions and block types.
const (
	OpUnreachable byte = 0x00
	OpBlock       byte = 0x02
	OpLoop        byte = 0x03
	OpIf          byte = 0x04
	OpEnd         byte = 0x0b
	OpBr          byte = 0x0c
	OpBrIf        byte = 0x0d
	OpDrop        byte = 0x1a
	OpI32Eqz      byte = 0x45
	OpI32Eq       byte = 0x46
	BlockEmpty    byte = 0x40
)

// I32Const pushes v.
func I32Const(v int32) []byte { return append([]byte{0x41}, sleb(int64(v))...) }

// I64Const pushes v.
func I64Const(v int64) []byte { return append([]byte{0x42}, sleb(v)...) }

// Call calls function idx.
func Call(idx uint32) []byte { return append([]byte{0x10}, uleb(uint64(idx))...) }

// Br branches to the label depth levels out.
func Br(depth uint32) []byte { return append([]byte{OpBr}, uleb(uint64(depth))...) }

// BrIf branches to the label depth levels out if the top of the stack is non-zero.
func BrIf(depth uint32) []byte { return append([]byte{OpBrIf}, uleb(uint64(depth))...) }

// I32Load loads an i32 from the address on the stack (plus offset).
func I32Load(offset uint32) []byte { return append([]byte{0x28, 2}, uleb(uint64(offset))...) }

// I32Store stores an i32 (top) at the address below it (plus offset).
func I32Store(offset uint32) []byte { return append([]byte{0x36, 2}, uleb(uint64(offset))...) }

// MemoryGrow grows memory by the page count on the stack and pushes the old size or -1.
func MemoryGrow() []byte { return []byte{0x40, 0x00} }

// Code concatenates instructions.
func Code(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
