// Command mandelbrot is an example task: it reads a tile spec on stdin (see package mandel,
// e.g. "w=2048 h=2048 tile=128 iter=500 i=17") and writes the tile as an 8-bit grey PNG on
// stdout. Build it for the sandbox with GOOS=wasip1 GOARCH=wasm (go generate in
// tasks/examples does); it also builds natively, which gives the benchmark's baseline.
package main

import (
	"fmt"
	"io"
	"os"

	"allforone/tasks/examples/mandel"
)

func main() {
	in, err := io.ReadAll(io.LimitReader(os.Stdin, 4096))
	if err != nil {
		fail(err)
	}
	spec, err := mandel.ParseSpec(string(in))
	if err != nil {
		fail(err)
	}
	out, err := mandel.EncodeTile(spec)
	if err != nil {
		fail(err)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mandelbrot:", err)
	os.Exit(2)
}
