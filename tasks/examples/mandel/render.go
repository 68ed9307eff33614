package mandel

import (
	"bytes"
	"image"
	"image/png"
	"math"
)

// Render computes the tile as 8-bit grey: black inside the set, brighter the longer a point
// takes to escape. It uses only IEEE double arithmetic that WebAssembly defines exactly, so
// the wasm build gives the same pixels everywhere.
func Render(s Spec) *image.Gray {
	r := s.Rect()
	img := image.NewGray(r)
	step := s.Scale / float64(s.Width)
	left := s.X - s.Scale/2
	top := s.Y + step*float64(s.Height)/2
	for py := r.Min.Y; py < r.Max.Y; py++ {
		ci := top - step*(float64(py)+0.5)
		for px := r.Min.X; px < r.Max.X; px++ {
			cr := left + step*(float64(px)+0.5)
			img.Pix[img.PixOffset(px, py)] = shade(escape(cr, ci, s.Iter), s.Iter)
		}
	}
	return img
}

// RenderImage computes the whole image of s (its Index and Tile are ignored) natively: what
// assembling all of its tiles gives.
func RenderImage(s Spec) *image.Gray {
	s.Index, s.Tile = 0, max(s.Width, s.Height)
	return Render(s)
}

// escape is the number of iterations before z = z² + c leaves the radius-2 disc, or iter.
func escape(cr, ci float64, iter int) int {
	var zr, zi, zr2, zi2 float64
	for n := 0; n < iter; n++ {
		zi = 2*zr*zi + ci
		zr = zr2 - zi2 + cr
		zr2, zi2 = zr*zr, zi*zi
		if zr2+zi2 > 4 {
			return n
		}
	}
	return iter
}

func shade(n, iter int) uint8 {
	if n >= iter {
		return 0
	}
	return uint8(math.Sqrt(float64(n)/float64(iter)) * 255)
}

// EncodeTile renders the tile as a PNG.
func EncodeTile(s Spec) ([]byte, error) {
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&b, Render(s)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
