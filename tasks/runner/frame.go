package runner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"allforone/tasks"
)

// The pipe protocol between a node and its runners. Every message is one frame:
//
//	u32 little-endian length of the rest | u8 type | payload
//
// and the payload is protobuf wire format (fields below, written with protowire; unknown
// fields are skipped), so a field can be added without breaking older peers of the same
// protocol version. The node writes to the runner's stdin; the runner writes to its stdout.
//
//	init      1  node -> runner   1 cache dir, 2 idle priority (varint 0/1), 3 compiled modules kept
//	hello     2  runner -> node   1 protocol version, 2 priority warning (string)
//	job       3  node -> runner   1 module CID, 2 input, 3 arg (repeated), 4 env "K=V" (repeated),
//	                              5 memory pages, 6 output limit, 7 seed (32 bytes)
//	need      4  runner -> node   (empty) the job's module is not compiled here: send it
//	module    5  node -> runner   1 module CID, 2 module bytes
//	compiled  6  runner -> node   failure fields, all absent on success
//	stderr    7  runner -> node   1 bytes the task wrote to stderr, as it writes them
//	result    8  runner -> node   1 output, 2 stderr tail, 3 duration (ns), and the failure fields
//
// Failure fields: 10 kind (see kindCodes), 11 detail, 12 exit code, 13 underlying error text.
// The module's bytes cross the pipe once per runner (need/module); a runner then keeps the
// compiled module, and a fresh runner compiles it from the shared on-disk cache.

// ProtocolVersion is the pipe protocol's version; the runner refuses another (a binary
// replaced by an upgrade) with a clear message.
const ProtocolVersion = "1"

const (
	msgInit     byte = 1
	msgHello    byte = 2
	msgJob      byte = 3
	msgNeed     byte = 4
	msgModule   byte = 5
	msgCompiled byte = 6
	msgStderr   byte = 7
	msgResult   byte = 8
)

// maxFrame bounds a frame: a module (256 MiB), an input or an output (64 MiB) with room.
const maxFrame = 1 << 30

// frame is one decoded frame.
type frame struct {
	typ     byte
	payload []byte
}

func writeFrame(w io.Writer, typ byte, payload []byte) error {
	if len(payload)+1 > maxFrame {
		return fmt.Errorf("frame of %d bytes is over the limit of %d", len(payload)+1, maxFrame)
	}
	buf := make([]byte, 5, 5+len(payload))
	binary.LittleEndian.PutUint32(buf, uint32(len(payload)+1))
	buf[4] = typ
	_, err := w.Write(append(buf, payload...))
	return err
}

func readFrame(r io.Reader) (frame, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := binary.LittleEndian.Uint32(hdr[:4])
	if n < 1 || n > maxFrame {
		return frame{}, fmt.Errorf("frame length %d is out of range", n)
	}
	payload := make([]byte, n-1)
	if _, err := io.ReadFull(r, payload); err != nil {
		return frame{}, fmt.Errorf("frame of %d bytes cut short: %w", n, err)
	}
	return frame{typ: hdr[4], payload: payload}, nil
}

// fields is a decoded payload: each field number's values in order (bytes, or varints).
type fields map[protowire.Number][]any

func decodeFields(b []byte) (fields, error) {
	f := fields{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			f[num] = append(f[num], v)
			b = b[m:]
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			f[num] = append(f[num], v)
			b = b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			b = b[m:]
		}
	}
	return f, nil
}

func (f fields) bytes(n protowire.Number) []byte {
	if vs := f[n]; len(vs) > 0 {
		if b, ok := vs[len(vs)-1].([]byte); ok {
			return b
		}
	}
	return nil
}

func (f fields) str(n protowire.Number) string { return string(f.bytes(n)) }

func (f fields) uint(n protowire.Number) uint64 {
	if vs := f[n]; len(vs) > 0 {
		if v, ok := vs[len(vs)-1].(uint64); ok {
			return v
		}
	}
	return 0
}

func (f fields) strs(n protowire.Number) []string {
	var out []string
	for _, v := range f[n] {
		if b, ok := v.([]byte); ok {
			out = append(out, string(b))
		}
	}
	return out
}

func appendBytes(b []byte, n protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendUint(b []byte, n protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// Failure kind codes on the wire.
var kindCodes = []error{
	1: tasks.ErrInvalidModule, 2: tasks.ErrTimeout, 3: tasks.ErrMemoryLimit, 4: tasks.ErrOutputTooLarge,
	5: tasks.ErrTrap, 6: tasks.ErrExitCode, 7: tasks.ErrCompileBudget, 8: tasks.ErrCrashed,
}

// kindOther marks an error that is not the task's fault; its text is in the detail field.
const kindOther = 100

// appendFailure encodes err (nil: nothing).
func appendFailure(b []byte, err error) []byte {
	if err == nil {
		return b
	}
	var te *tasks.TaskError
	if !errors.As(err, &te) {
		b = appendUint(b, 10, kindOther)
		return appendBytes(b, 11, []byte(err.Error()))
	}
	code := uint64(kindOther)
	for i, k := range kindCodes {
		if k != nil && errors.Is(te.Kind, k) {
			code = uint64(i)
		}
	}
	b = appendUint(b, 10, code)
	b = appendBytes(b, 11, []byte(te.Detail))
	b = appendUint(b, 12, uint64(te.ExitCode))
	if te.Err != nil {
		b = appendBytes(b, 13, []byte(te.Err.Error()))
	}
	return b
}

// failure decodes the failure fields; nil when there are none.
func (f fields) failure(stderr []byte) error {
	code := f.uint(10)
	switch {
	case code == 0:
		return nil
	case code >= uint64(len(kindCodes)) || kindCodes[code] == nil:
		return fmt.Errorf("runner: %s", f.str(11))
	}
	te := &tasks.TaskError{Kind: kindCodes[code], Detail: f.str(11), ExitCode: uint32(f.uint(12)), Stderr: stderr}
	if s := f.str(13); s != "" {
		te.Err = errors.New(s)
	}
	return te
}

func encodeJob(j tasks.Job, limits tasks.Limits) []byte {
	var b []byte
	b = appendBytes(b, 1, j.ModuleID.Bytes())
	b = appendBytes(b, 2, j.Input)
	for _, a := range j.Args {
		b = appendBytes(b, 3, []byte(a))
	}
	for k, v := range j.Env {
		b = appendBytes(b, 4, []byte(k+"="+v))
	}
	b = appendUint(b, 5, uint64(limits.MemoryPages))
	b = appendUint(b, 6, limits.MaxOutputBytes)
	return appendBytes(b, 7, j.Seed[:])
}

func encodeResult(res tasks.Result, err error) []byte {
	var b []byte
	b = appendBytes(b, 1, res.Output)
	b = appendBytes(b, 2, res.Stderr)
	b = appendUint(b, 3, uint64(res.Duration))
	return appendFailure(b, err)
}

func decodeResult(payload []byte) (tasks.Result, error, error) {
	f, err := decodeFields(payload)
	if err != nil {
		return tasks.Result{}, nil, fmt.Errorf("runner sent a bad result: %w", err)
	}
	res := tasks.Result{Output: f.bytes(1), Stderr: f.bytes(2), Duration: time.Duration(f.uint(3))}
	return res, f.failure(res.Stderr), nil
}
