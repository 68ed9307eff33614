package mandel

import (
	"bytes"
	"image"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	s, err := ParseSpec("w=300 h=200 tile=128 iter=50 x=-1 y=0.5 scale=2 i=5")
	if err != nil {
		t.Fatal(err)
	}
	if s.Cols() != 3 || s.NumTiles() != 6 || s.Rect() != image.Rect(256, 128, 300, 200) {
		t.Errorf("spec %+v: cols %d tiles %d rect %v", s, s.Cols(), s.NumTiles(), s.Rect())
	}
	again, err := ParseSpec(s.String())
	if err != nil || again != s {
		t.Errorf("String does not round-trip: %q -> %+v, %v", s.String(), again, err)
	}
	for in, says := range map[string]string{
		"w=10":             "no tile index",
		"w=10 i=99":        "tile index 99",
		"w=x i=0":          "w:",
		"zoom=2 i=0":       `unknown key "zoom"`,
		"i=0 iter=0":       "iter 0",
		"i=0 scale=-1":     "scale -1",
		"garbage":          "not key=value",
		"i=0 w=0 h=10":     "each side",
		"i=0 tile=1000000": "tile 1000000",
	} {
		if _, err := ParseSpec(in); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("ParseSpec(%q): got %v, want %q", in, err, says)
		}
	}
}

func TestAssembleNative(t *testing.T) {
	spec := Spec{Width: 100, Height: 70, Tile: 32, Iter: 50, X: -0.5, Scale: 3}
	tiles := map[int][]byte{}
	for i := range spec.NumTiles() {
		s := spec
		s.Index = i
		b, err := EncodeTile(s)
		if err != nil {
			t.Fatal(err)
		}
		tiles[i] = b
	}
	var out bytes.Buffer
	if err := AssemblePNG(&out, spec, func(i int) ([]byte, error) { return tiles[i], nil }); err != nil {
		t.Fatal(err)
	}
	img, err := Assemble(spec, func(i int) ([]byte, error) { return tiles[i], nil })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Pix, RenderImage(spec).Pix) {
		t.Error("assembled tiles differ from rendering the image in one tile")
	}
	small := spec
	small.Tile = 16
	if _, err := Assemble(small, func(i int) ([]byte, error) { return tiles[0], nil }); err == nil || !strings.Contains(err.Error(), "same spec") {
		t.Errorf("tiles of another spec: got %v", err)
	}
}
