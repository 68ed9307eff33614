// Package mandel renders Mandelbrot tiles and assembles them into one image. The
// mandelbrot example task is a thin main around Render; Assemble puts its outputs together.
//
// A tile spec is text of key=value pairs separated by spaces, for example
//
//	w=2048 h=2048 tile=128 iter=500 x=-0.5 y=0 scale=3 i=17
//
// w and h are the image size in pixels, tile the tile edge in pixels, iter the iteration
// limit, (x, y) the centre of the view in the complex plane, scale the view's width, and i
// the tile index in row-major order. Every key except i has a default, and i comes last so
// that a batch of tiles is one range input with the prefix "w=2048 ... i=".
package mandel

import (
	"fmt"
	"image"
	"strconv"
	"strings"
)

// Spec is one tile of a Mandelbrot image.
type Spec struct {
	Width, Height int     // image size in pixels
	Tile          int     // tile edge in pixels
	Iter          int     // iteration limit
	X, Y          float64 // centre of the view
	Scale         float64 // width of the view in the complex plane
	Index         int     // tile index, row-major
}

// Default is the spec with every default and tile 0.
func Default() Spec {
	return Spec{Width: 1024, Height: 1024, Tile: 128, Iter: 256, X: -0.5, Y: 0, Scale: 3}
}

// Limits on a spec, so a task cannot be asked for an absurd image.
const (
	MaxSide = 1 << 16
	MaxIter = 1 << 24
)

// ParseSpec parses a tile spec (see the package comment).
func ParseSpec(s string) (Spec, error) {
	sp := Default()
	seenIndex := false
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Spec{}, fmt.Errorf("%q is not key=value", f)
		}
		var err error
		switch k {
		case "w":
			sp.Width, err = strconv.Atoi(v)
		case "h":
			sp.Height, err = strconv.Atoi(v)
		case "tile":
			sp.Tile, err = strconv.Atoi(v)
		case "iter":
			sp.Iter, err = strconv.Atoi(v)
		case "x":
			sp.X, err = strconv.ParseFloat(v, 64)
		case "y":
			sp.Y, err = strconv.ParseFloat(v, 64)
		case "scale":
			sp.Scale, err = strconv.ParseFloat(v, 64)
		case "i":
			sp.Index, err = strconv.Atoi(v)
			seenIndex = true
		default:
			return Spec{}, fmt.Errorf("unknown key %q (want w, h, tile, iter, x, y, scale, i)", k)
		}
		if err != nil {
			return Spec{}, fmt.Errorf("%s: %w", k, err)
		}
	}
	if !seenIndex {
		return Spec{}, fmt.Errorf("no tile index: add i=N")
	}
	return sp, sp.Validate()
}

// Validate checks the spec's ranges.
func (s Spec) Validate() error {
	switch {
	case s.Width < 1 || s.Width > MaxSide || s.Height < 1 || s.Height > MaxSide:
		return fmt.Errorf("image %dx%d: each side must be 1 to %d", s.Width, s.Height, MaxSide)
	case s.Tile < 1 || s.Tile > MaxSide:
		return fmt.Errorf("tile %d: must be 1 to %d", s.Tile, MaxSide)
	case s.Iter < 1 || s.Iter > MaxIter:
		return fmt.Errorf("iter %d: must be 1 to %d", s.Iter, MaxIter)
	case !(s.Scale > 0):
		return fmt.Errorf("scale %g: must be positive", s.Scale)
	case s.Index < 0 || s.Index >= s.NumTiles():
		return fmt.Errorf("tile index %d: must be 0 to %d", s.Index, s.NumTiles()-1)
	}
	return nil
}

// Cols is the number of tile columns.
func (s Spec) Cols() int { return (s.Width + s.Tile - 1) / s.Tile }

// NumTiles is the number of tiles of the image.
func (s Spec) NumTiles() int { return s.Cols() * ((s.Height + s.Tile - 1) / s.Tile) }

// Rect is the tile's rectangle in image coordinates (edge tiles are clipped).
func (s Spec) Rect() image.Rectangle {
	x0, y0 := (s.Index%s.Cols())*s.Tile, (s.Index/s.Cols())*s.Tile
	return image.Rect(x0, y0, min(x0+s.Tile, s.Width), min(y0+s.Tile, s.Height))
}

// Prefix is the spec as text without the tile index, ending in "i=": the prefix of a range
// input whose values are the tile indices.
func (s Spec) Prefix() string {
	return fmt.Sprintf("w=%d h=%d tile=%d iter=%d x=%s y=%s scale=%s i=", s.Width, s.Height, s.Tile, s.Iter,
		strconv.FormatFloat(s.X, 'g', -1, 64), strconv.FormatFloat(s.Y, 'g', -1, 64), strconv.FormatFloat(s.Scale, 'g', -1, 64))
}

// String is the spec as text, parseable by ParseSpec.
func (s Spec) String() string { return s.Prefix() + strconv.Itoa(s.Index) }
