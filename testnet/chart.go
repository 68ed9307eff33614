package testnet

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The chart of a run: tasks accepted over time (and the nodes running) in the upper panel,
// tasks accepted per second in the lower one, every event a coloured vertical line with its
// name on top. It is drawn from the report alone, so a saved --json report can be charted
// again.

const (
	chartW, chartH = 960, 520
	marginL        = 64
	marginR        = 56
	marginT        = 70 // event labels
	marginB        = 64 // x axis and legend
	panelGap       = 28
	headroom       = 1.08 // the upper panel's scales reach this much above their maximum
)

var (
	colBackground = color.RGBA{255, 255, 255, 255}
	colAxis       = color.RGBA{60, 60, 60, 255}
	colGrid       = color.RGBA{228, 228, 228, 255}
	colDone       = color.RGBA{31, 102, 196, 255}
	colRate       = color.RGBA{120, 170, 230, 255}
	colLive       = color.RGBA{150, 150, 150, 255}
	colText       = color.RGBA{30, 30, 30, 255}
	eventColours  = map[string]color.RGBA{
		KindKill:      {214, 39, 40, 255},
		KindRestart:   {44, 160, 44, 255},
		KindPartition: {255, 127, 14, 255},
		KindHeal:      {23, 190, 207, 255},
		KindSlow:      {148, 103, 189, 255},
		KindFast:      {188, 189, 34, 255},
	}
	legendOrder = []string{KindKill, KindRestart, KindPartition, KindHeal, KindSlow, KindFast}
)

// WriteChart draws the report's chart as a PNG.
func (r *Report) WriteChart(w io.Writer) error {
	return png.Encode(w, r.chart())
}

type canvas struct{ *image.RGBA }

func (r *Report) chart() *image.RGBA {
	c := canvas{image.NewRGBA(image.Rect(0, 0, chartW, chartH))}
	draw.Draw(c, c.Bounds(), &image.Uniform{colBackground}, image.Point{}, draw.Src)

	end := 1.0
	for _, p := range r.Throughput {
		end = max(end, p.Seconds)
	}
	for _, e := range r.Events {
		end = max(end, e.Seconds)
	}
	top := float64(max(r.TasksTotal, 1))
	rateTop := 1
	for _, p := range r.Throughput {
		rateTop = max(rateTop, p.Rate)
	}
	plotW := chartW - marginL - marginR
	plotH := chartH - marginT - marginB - panelGap
	upper := image.Rect(marginL, marginT, marginL+plotW, marginT+plotH*7/10)
	lower := image.Rect(marginL, upper.Max.Y+panelGap, marginL+plotW, chartH-marginB)
	x := func(t float64) int { return upper.Min.X + int(math.Round(t/end*float64(plotW))) }
	y := func(v, vmax float64, p image.Rectangle) int {
		return p.Max.Y - int(math.Round(v/vmax*float64(p.Dy())))
	}

	// Grids and axes.
	xs := ticks(end)
	for _, t := range xs {
		c.vline(x(t), upper.Min.Y, upper.Max.Y, colGrid)
		c.vline(x(t), lower.Min.Y, lower.Max.Y, colGrid)
		c.textCentered(x(t), lower.Max.Y+16, strconv.FormatFloat(t, 'f', -1, 64), colText)
	}
	c.textCentered(marginL+plotW/2, lower.Max.Y+32, "seconds since the first submission", colText)
	for _, v := range ticks(top) {
		c.hline(upper.Min.X, upper.Max.X, y(v, top*headroom, upper), colGrid)
		c.textRight(upper.Min.X-6, y(v, top*headroom, upper)+4, strconv.FormatFloat(v, 'f', -1, 64), colDone)
	}
	for _, v := range ticks(float64(rateTop)) {
		c.hline(lower.Min.X, lower.Max.X, y(v, float64(rateTop), lower), colGrid)
		c.textRight(lower.Min.X-6, y(v, float64(rateTop), lower)+4, strconv.FormatFloat(v, 'f', -1, 64), colRate)
	}
	nodes := float64(max(r.Nodes, 1))
	for _, v := range ticks(nodes) {
		c.text(upper.Max.X+6, y(v, nodes*headroom, upper)+4, strconv.FormatFloat(v, 'f', -1, 64), colLive)
	}
	c.text(upper.Min.X+6, upper.Min.Y+16, "tasks accepted", colDone)
	c.textRight(upper.Max.X-6, upper.Min.Y+16, "nodes up", colLive)
	c.text(lower.Min.X+6, lower.Min.Y+16, "tasks accepted per second", colRate)
	c.rect(upper, colAxis)
	c.rect(lower, colAxis)

	// Per-second throughput as bars.
	barW := max(1, plotW/max(len(r.Throughput), 1)-1)
	for _, p := range r.Throughput {
		if p.Rate > 0 && p.Seconds > 0 {
			x1 := x(p.Seconds)
			c.fill(image.Rect(x1-barW, y(float64(p.Rate), float64(rateTop), lower), x1, lower.Max.Y), colRate)
		}
	}
	// Nodes up and tasks accepted as lines.
	for k := 1; k < len(r.Throughput); k++ {
		a, b := r.Throughput[k-1], r.Throughput[k]
		ya, yb := y(float64(a.Live), nodes*headroom, upper), y(float64(b.Live), nodes*headroom, upper)
		c.line(x(a.Seconds), ya, x(b.Seconds), ya, colLive, 1)
		c.line(x(b.Seconds), ya, x(b.Seconds), yb, colLive, 1)
		c.line(x(a.Seconds), y(float64(a.Done), top*headroom, upper), x(b.Seconds), y(float64(b.Done), top*headroom, upper), colDone, 2)
	}

	// Events: a line through both panels, the name above, staggered on three rows.
	lastX := [3]int{-1000, -1000, -1000}
	for _, e := range r.Events {
		col := eventColours[e.Kind]
		ex := x(e.Seconds)
		c.vlineDashed(ex, upper.Min.Y, lower.Max.Y, col)
		label := e.Kind
		if _, err := strconv.Atoi(e.Target); e.Target != "" && err != nil && e.Kind != KindRestart {
			label += " " + e.Target // a role: steward, submitter, holder, ...
		}
		if len(e.Nodes) > 1 && e.Kind != KindPartition {
			label += fmt.Sprintf(" x%d", len(e.Nodes))
		}
		w := font.MeasureString(basicfont.Face7x13, label).Ceil()
		for row := range lastX {
			if ex-w/2 > lastX[row]+4 {
				c.textCentered(ex, marginT-10-row*14, label, col)
				lastX[row] = ex + w/2
				break
			}
		}
	}

	// Title and legend.
	c.text(marginL, 16, fmt.Sprintf("%s: %d nodes, %d tasks, %d lost, %d under-replicated", r.Scenario, r.Nodes, r.TasksTotal, r.TasksLost, r.UnderReplicated), colText)
	lx := marginL
	for _, k := range legendOrder {
		c.fill(image.Rect(lx, chartH-18, lx+14, chartH-8), eventColours[k])
		c.text(lx+18, chartH-8, k, colText)
		lx += 18 + font.MeasureString(basicfont.Face7x13, k).Ceil() + 16
	}
	return c.RGBA
}

// ticks returns round values from 0 to top, about five of them.
func ticks(top float64) []float64 {
	if top <= 0 {
		return []float64{0}
	}
	raw := top / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	step = max(step, 1)
	var out []float64
	for v := 0.0; v <= top+step/1e9; v += step {
		out = append(out, v)
	}
	return out
}

func (c canvas) fill(r image.Rectangle, col color.RGBA) {
	draw.Draw(c, r, &image.Uniform{col}, image.Point{}, draw.Src)
}

func (c canvas) rect(r image.Rectangle, col color.RGBA) {
	c.hline(r.Min.X, r.Max.X, r.Min.Y, col)
	c.hline(r.Min.X, r.Max.X, r.Max.Y, col)
	c.vline(r.Min.X, r.Min.Y, r.Max.Y, col)
	c.vline(r.Max.X, r.Min.Y, r.Max.Y, col)
}

func (c canvas) hline(x0, x1, y int, col color.RGBA) {
	for x := x0; x <= x1; x++ {
		c.SetRGBA(x, y, col)
	}
}

func (c canvas) vline(x, y0, y1 int, col color.RGBA) {
	for y := y0; y <= y1; y++ {
		c.SetRGBA(x, y, col)
	}
}

func (c canvas) vlineDashed(x, y0, y1 int, col color.RGBA) {
	for y := y0; y <= y1; y++ {
		if (y-y0)%6 < 4 {
			c.SetRGBA(x, y, col)
		}
	}
}

// line draws a straight line of the given width (Bresenham).
func (c canvas) line(x0, y0, x1, y1 int, col color.RGBA, width int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		for k := range width {
			c.SetRGBA(x0, y0-k, col)
			c.SetRGBA(x0+k, y0, col)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func (c canvas) text(x, y int, s string, col color.RGBA) {
	d := font.Drawer{Dst: c.RGBA, Src: &image.Uniform{col}, Face: basicfont.Face7x13,
		Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func (c canvas) textCentered(x, y int, s string, col color.RGBA) {
	c.text(x-font.MeasureString(basicfont.Face7x13, s).Ceil()/2, y, s, col)
}

func (c canvas) textRight(x, y int, s string, col color.RGBA) {
	c.text(x-font.MeasureString(basicfont.Face7x13, s).Ceil(), y, s, col)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
