// Package examples embeds the example tasks, built for the sandbox (WASI preview 1), so a
// binary can run them with no Go toolchain: a Mandelbrot tile renderer, a prime counter, a
// SHA-256 proof-of-work search and a Monte Carlo estimate of pi, which are plain Go
// programs in the folder of their name, and cmandel, a Mandelbrot iteration count in C
// (cmandel/main.c, built with clang for wasm32-wasi). Each reads stdin and writes stdout;
// `go generate` rebuilds the modules in wasm/ (with the Go and clang versions recorded in
// wasm/GOVERSION and wasm/CLANGVERSION) and a test checks that the committed modules match
// their sources.
//
// Inputs and outputs:
//
//	mandelbrot  "w=2048 h=2048 tile=128 iter=500 i=17"  -> the tile as an 8-bit grey PNG
//	primes      "1000000 2000000"                       -> "70435\n" (primes in [a, b))
//	pow         "data=hello bits=20 start=0 end=9999999" -> "nonce=N hash=HEX\n" or "none\n"
//	pi          "samples=1000000 seed=7"                -> "samples=... inside=... pi=...\n"
//	cmandel     "256 256 1000"                          -> "pixels=65536 iterations=... sum=...\n"
package examples

import (
	_ "embed"
	"slices"
)

//go:generate go run ./internal/wasmbuild/gen -dir wasm mandelbrot=./mandelbrot primes=./primes pow=./pow pi=./pi
//go:generate go run ./internal/wasmbuild/gen -dir wasm cmandel=cmandel/main.c

//go:embed wasm/mandelbrot.wasm
var mandelbrotWasm string

//go:embed wasm/primes.wasm
var primesWasm string

//go:embed wasm/pow.wasm
var powWasm string

//go:embed wasm/pi.wasm
var piWasm string

//go:embed wasm/cmandel.wasm
var cmandelWasm string

// Mandelbrot is the Mandelbrot tile renderer module (see package mandel for its input).
func Mandelbrot() []byte { return []byte(mandelbrotWasm) }

// Primes is the prime counter module.
func Primes() []byte { return []byte(primesWasm) }

// Pow is the SHA-256 proof-of-work module.
func Pow() []byte { return []byte(powWasm) }

// Pi is the Monte Carlo pi module.
func Pi() []byte { return []byte(piWasm) }

// CMandel is the C example: the Mandelbrot iteration count of a W x H image.
func CMandel() []byte { return []byte(cmandelWasm) }

// Names lists the example modules, sorted.
func Names() []string { return []string{"cmandel", "mandelbrot", "pi", "pow", "primes"} }

// Module returns the example module called name, or false.
func Module(name string) ([]byte, bool) {
	if !slices.Contains(Names(), name) {
		return nil, false
	}
	switch name {
	case "mandelbrot":
		return Mandelbrot(), true
	case "primes":
		return Primes(), true
	case "pow":
		return Pow(), true
	case "cmandel":
		return CMandel(), true
	default:
		return Pi(), true
	}
}
