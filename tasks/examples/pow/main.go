// Command pow is an example task: a SHA-256 proof-of-work search. It reads
// "data=TEXT bits=N start=S end=E" on stdin and looks for the smallest nonce in [S, E) such
// that sha256(TEXT ":" decimal(nonce)) is below the target 2^(256-N), that is, starts with N
// zero bits. It writes "nonce=... hash=<hex>" or "none", with a newline. data may not
// contain spaces; start defaults to 0 and end to start + 2^24.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strconv"
	"strings"
)

func main() {
	in, err := io.ReadAll(io.LimitReader(os.Stdin, 4096))
	if err != nil {
		fail(err)
	}
	var data string
	var nbits, start, end uint64
	haveEnd := false
	for _, f := range strings.Fields(string(in)) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			fail(fmt.Errorf("%q is not key=value", f))
		}
		switch k {
		case "data":
			data = v
		case "bits":
			nbits, err = strconv.ParseUint(v, 10, 8)
		case "start":
			start, err = strconv.ParseUint(v, 10, 64)
		case "end":
			end, err = strconv.ParseUint(v, 10, 64)
			haveEnd = true
		default:
			err = fmt.Errorf("unknown key %q (want data, bits, start, end)", k)
		}
		if err != nil {
			fail(fmt.Errorf("%s: %w", k, err))
		}
	}
	if nbits == 0 || nbits > 64 {
		fail(fmt.Errorf("bits=%d: want 1 to 64", nbits))
	}
	if !haveEnd {
		end = start + 1<<24
	}
	buf := []byte(data + ":")
	prefix := len(buf)
	for n := start; n < end; n++ {
		buf = strconv.AppendUint(buf[:prefix], n, 10)
		sum := sha256.Sum256(buf)
		if leadingZeros(sum[:]) >= int(nbits) {
			fmt.Printf("nonce=%d hash=%s\n", n, hex.EncodeToString(sum[:]))
			return
		}
	}
	fmt.Println("none")
}

func leadingZeros(b []byte) int {
	n := 0
	for _, c := range b {
		if c != 0 {
			return n + bits.LeadingZeros8(c)
		}
		n += 8
	}
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pow:", err)
	os.Exit(2)
}
