package storm

// Plots as plain SVG (no plotting dependency): line plots with linear or log axes
// (latency CDFs, boot completion time against N) and grouped bars (throughput).

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Series is one line of a plot.
type Series struct {
	Name string
	X, Y []float64
}

// LinePlot is a plot of lines.
type LinePlot struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Series                []Series
	Markers               bool // draw a dot at each point
	YMin                  *float64
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

const (
	plotW, plotH                    = 720, 420
	marginL, marginR, marginT, marB = 70, 170, 40, 55
)

type axis struct {
	lo, hi float64
	log    bool
	px0    float64
	px1    float64
}

func (a axis) pos(v float64) float64 {
	if a.log {
		v, lo, hi := math.Log10(math.Max(v, 1e-12)), math.Log10(a.lo), math.Log10(a.hi)
		return a.px0 + (v-lo)/(hi-lo)*(a.px1-a.px0)
	}
	return a.px0 + (v-a.lo)/(a.hi-a.lo)*(a.px1-a.px0)
}

// ticks returns tick values for the axis.
func (a axis) ticks() []float64 {
	var out []float64
	if a.log {
		for e := math.Floor(math.Log10(a.lo)); e <= math.Ceil(math.Log10(a.hi)); e++ {
			v := math.Pow(10, e)
			if v >= a.lo*0.999 && v <= a.hi*1.001 {
				out = append(out, v)
			}
		}
		return out
	}
	step := niceStep((a.hi - a.lo) / 5)
	for v := math.Ceil(a.lo/step) * step; v <= a.hi+step/1000; v += step {
		out = append(out, v)
	}
	return out
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*e >= raw {
			return m * e
		}
	}
	return 10 * e
}

func fmtTick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%g", v)
	case math.Abs(v) >= 1:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	default:
		return fmt.Sprintf("%g", v)
	}
}

func bounds(vals []float64, log bool) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if log && v <= 0 {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if math.IsInf(lo, 1) {
		return 1, 10
	}
	if log {
		lo = math.Pow(10, math.Floor(math.Log10(lo)))
		hi = math.Pow(10, math.Ceil(math.Log10(hi)))
		if lo == hi {
			hi = lo * 10
		}
		return lo, hi
	}
	if lo == hi {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 5)
	return math.Floor(lo/step) * step, math.Ceil(hi/step) * step
}

func svgHead(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	fmt.Fprintf(b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginL, html.EscapeString(title))
}

func axes(b *strings.Builder, x, y axis, xl, yl string, xticks, yticks []float64, xlabels []string) {
	x0, x1, y0, y1 := x.px0, x.px1, y.px0, y.px1
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", x0, y1, x1-x0, y0-y1)
	for i, t := range xticks {
		px := x.pos(t)
		label := fmtTick(t)
		if xlabels != nil {
			label = xlabels[i]
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px, y0, px, y1)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px, y0+16, html.EscapeString(label))
	}
	for _, t := range yticks {
		py := y.pos(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, py, x1, py)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, py+4, fmtTick(t))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", (x0+x1)/2, plotH-12, html.EscapeString(xl))
	fmt.Fprintf(b, `<text x="16" y="%.1f" text-anchor="middle" transform="rotate(-90 16 %.1f)">%s</text>`+"\n", (y0+y1)/2, (y0+y1)/2, html.EscapeString(yl))
}

func legend(b *strings.Builder, names []string) {
	for i, n := range names {
		y := marginT + 10 + i*18
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="14" height="10" fill="%s"/>`+"\n", plotW-marginR+12, y-9, palette[i%len(palette)])
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", plotW-marginR+30, y, html.EscapeString(n))
	}
}

// SVG renders the plot.
func (p LinePlot) SVG() string {
	var xs, ys []float64
	for _, s := range p.Series {
		xs = append(xs, s.X...)
		ys = append(ys, s.Y...)
	}
	xlo, xhi := bounds(xs, p.LogX)
	ylo, yhi := bounds(ys, p.LogY)
	if p.YMin != nil {
		ylo = *p.YMin
	}
	x := axis{lo: xlo, hi: xhi, log: p.LogX, px0: marginL, px1: plotW - marginR}
	y := axis{lo: ylo, hi: yhi, log: p.LogY, px0: plotH - marB, px1: marginT}
	var b strings.Builder
	svgHead(&b, p.Title)
	axes(&b, x, y, p.XLabel, p.YLabel, x.ticks(), y.ticks(), nil)
	var names []string
	for i, s := range p.Series {
		names = append(names, s.Name)
		col := palette[i%len(palette)]
		var pts []string
		for j := range s.X {
			if (p.LogX && s.X[j] <= 0) || (p.LogY && s.Y[j] <= 0) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.pos(s.X[j]), y.pos(s.Y[j])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(pts, " "))
		if p.Markers {
			for _, pt := range pts {
				xy := strings.Split(pt, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", xy[0], xy[1], col)
			}
		}
	}
	legend(&b, names)
	b.WriteString("</svg>\n")
	return b.String()
}

// BarPlot is a grouped bar chart: Values[s][g] is series s in group g (NaN: no bar).
type BarPlot struct {
	Title, YLabel string
	Groups        []string
	Series        []string
	Values        [][]float64
}

// SVG renders the chart.
func (p BarPlot) SVG() string {
	var all []float64
	for _, vs := range p.Values {
		for _, v := range vs {
			if !math.IsNaN(v) {
				all = append(all, v)
			}
		}
	}
	all = append(all, 0)
	_, yhi := bounds(all, false)
	x := axis{lo: 0, hi: float64(len(p.Groups)), px0: marginL, px1: plotW - marginR}
	y := axis{lo: 0, hi: yhi, px0: plotH - marB, px1: marginT}
	var b strings.Builder
	svgHead(&b, p.Title)
	var xt []float64
	for i := range p.Groups {
		xt = append(xt, float64(i)+0.5)
	}
	axes(&b, x, y, "", p.YLabel, xt, y.ticks(), p.Groups)
	gw := (x.px1 - x.px0) / float64(len(p.Groups))
	bw := gw * 0.8 / float64(len(p.Series))
	for s, vs := range p.Values {
		for g, v := range vs {
			if math.IsNaN(v) {
				continue
			}
			px := x.px0 + float64(g)*gw + gw*0.1 + float64(s)*bw
			py := y.pos(v)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", px, py, bw-2, y.px0-py, palette[s%len(palette)])
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", px+bw/2-1, py-3, fmtTick(math.Round(v*10)/10))
		}
	}
	legend(&b, p.Series)
	b.WriteString("</svg>\n")
	return b.String()
}
