package mandel

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
)

// Assemble decodes every tile of the image described by s (its Index is ignored) with
// tile(i), which returns the PNG that the mandelbrot task wrote for tile i, and returns the
// whole image. A missing tile or one of the wrong size is an error naming the tile.
func Assemble(s Spec, tile func(i int) ([]byte, error)) (*image.Gray, error) {
	s.Index = 0
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	img := image.NewGray(image.Rect(0, 0, s.Width, s.Height))
	for i := range s.NumTiles() {
		s.Index = i
		data, err := tile(i)
		if err != nil {
			return nil, fmt.Errorf("assemble: tile %d: %w", i, err)
		}
		t, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("assemble: tile %d: not a PNG: %w", i, err)
		}
		want := s.Rect()
		if t.Bounds().Size() != want.Size() {
			return nil, fmt.Errorf("assemble: tile %d is %v, want %v: was it rendered with the same spec?", i, t.Bounds().Size(), want.Size())
		}
		draw.Draw(img, want, t, t.Bounds().Min, draw.Src)
	}
	return img, nil
}

// AssemblePNG is Assemble followed by PNG encoding to w.
func AssemblePNG(w io.Writer, s Spec, tile func(i int) ([]byte, error)) error {
	img, err := Assemble(s, tile)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("assemble: encode PNG: %w", err)
	}
	return nil
}
