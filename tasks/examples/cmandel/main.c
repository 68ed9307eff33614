/* cmandel: the C example task. It reads "W H ITER" from stdin (an image of W x H pixels
 * over the whole Mandelbrot set, at most ITER iterations per pixel) and prints the total
 * iteration count and a checksum of the escape counts, e.g. "pixels=65536 iterations=... sum=...".
 * Plain C99 and libc, so the same file builds natively (cc -O2) and for the sandbox:
 *
 *   clang --target=wasm32-wasi -O2 -o cmandel.wasm main.c
 */
#include <stdio.h>
#include <stdint.h>

int main(void) {
	long w, h, iter;
	if (scanf("%ld %ld %ld", &w, &h, &iter) != 3 || w < 1 || h < 1 || iter < 1 ||
	    w > 100000 || h > 100000) {
		fprintf(stderr, "cmandel: want \"W H ITER\" on stdin, e.g. \"256 256 1000\"\n");
		return 2;
	}
	uint64_t total = 0, sum = 0;
	for (long py = 0; py < h; py++) {
		double ci = -1.5 + 3.0 * (double)py / (double)h;
		for (long px = 0; px < w; px++) {
			double cr = -2.25 + 3.0 * (double)px / (double)w;
			double zr = 0, zi = 0;
			long n = 0;
			while (n < iter && zr * zr + zi * zi <= 4.0) {
				double t = zr * zr - zi * zi + cr;
				zi = 2.0 * zr * zi + ci;
				zr = t;
				n++;
			}
			total += (uint64_t)n;
			sum = sum * 31 + (uint64_t)n;
		}
	}
	printf("pixels=%ld iterations=%llu sum=%llu\n", w * h, (unsigned long long)total, (unsigned long long)sum);
	return 0;
}
