// Command primes is an example task: it reads two decimal numbers "a b" on stdin and writes
// the number of primes p with a <= p < b, in decimal with a newline. It uses a segmented
// sieve, so memory stays small for any range below 2^62.
package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

const maxB = 1 << 62

func main() {
	in, err := io.ReadAll(io.LimitReader(os.Stdin, 256))
	if err != nil {
		fail(err)
	}
	f := strings.Fields(strings.ReplaceAll(string(in), ",", " "))
	if len(f) != 2 {
		fail(fmt.Errorf("input %q: want two numbers \"a b\" (count primes in [a, b))", strings.TrimSpace(string(in))))
	}
	a, err1 := strconv.ParseUint(f[0], 10, 64)
	b, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || a > b || b > maxB {
		fail(fmt.Errorf("input %q: want 0 <= a <= b <= 2^62", strings.TrimSpace(string(in))))
	}
	fmt.Println(countPrimes(a, b))
}

// countPrimes counts primes in [a, b) with a segmented sieve of Eratosthenes.
func countPrimes(a, b uint64) uint64 {
	if b <= 2 {
		return 0
	}
	a = max(a, 2)
	base := smallPrimes(uint64(math.Sqrt(float64(b))) + 1)
	const segment = 1 << 18
	composite := make([]bool, segment)
	var count uint64
	for lo := a; lo < b; lo += segment {
		hi := min(lo+segment, b)
		seg := composite[:hi-lo]
		clear(seg)
		for _, p := range base {
			if p*p >= hi {
				break
			}
			start := max(p*p, (lo+p-1)/p*p)
			for m := start; m < hi; m += p {
				seg[m-lo] = true
			}
		}
		for _, c := range seg {
			if !c {
				count++
			}
		}
	}
	return count
}

// smallPrimes returns the primes below n.
func smallPrimes(n uint64) []uint64 {
	sieve := make([]bool, n+1)
	var ps []uint64
	for i := uint64(2); i <= n; i++ {
		if sieve[i] {
			continue
		}
		ps = append(ps, i)
		for m := i * i; m <= n; m += i {
			sieve[m] = true
		}
	}
	return ps
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "primes:", err)
	os.Exit(2)
}
