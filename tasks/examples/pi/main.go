// Command pi is an example task: a Monte Carlo estimate of pi. It reads "samples=N" and
// optionally "seed=S" on stdin, throws N random points into the unit square, and writes
// "samples=N inside=M pi=<estimate>" with a newline. Without a seed it draws one from the
// system's random source, which the sandbox seeds from the task ID: each task of a batch
// gets its own stream, and every peer that runs the task gets the same one.
package main

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

const maxSamples = 1 << 40

func main() {
	in, err := io.ReadAll(io.LimitReader(os.Stdin, 4096))
	if err != nil {
		fail(err)
	}
	var samples, seed uint64
	haveSeed := false
	for _, f := range strings.Fields(string(in)) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			fail(fmt.Errorf("%q is not key=value", f))
		}
		switch k {
		case "samples":
			samples, err = strconv.ParseUint(v, 10, 64)
		case "seed":
			seed, err = strconv.ParseUint(v, 10, 64)
			haveSeed = true
		default:
			err = fmt.Errorf("unknown key %q (want samples, seed)", k)
		}
		if err != nil {
			fail(fmt.Errorf("%s: %w", k, err))
		}
	}
	if samples == 0 || samples > maxSamples {
		fail(fmt.Errorf("samples=%d: want 1 to 2^40", samples))
	}
	if !haveSeed {
		var b [8]byte
		if _, err := crand.Read(b[:]); err != nil {
			fail(err)
		}
		seed = binary.LittleEndian.Uint64(b[:])
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var inside uint64
	for range samples {
		x, y := r.Float64(), r.Float64()
		if x*x+y*y < 1 {
			inside++
		}
	}
	fmt.Printf("samples=%d inside=%d pi=%.6f\n", samples, inside, 4*float64(inside)/float64(samples))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pi:", err)
	os.Exit(2)
}
