package statuspage

import (
	"fmt"
	"html"
	"strings"
	"unicode/utf8"
)

// Badge is a shields.io-style flat badge: a grey label and a coloured
// message.
type Badge struct {
	Label, Message, Color string
}

// Badge colours, as shields.io names them.
const (
	brightGreen = "#4c1"
	green       = "#97ca00"
	yellow      = "#dfb317"
	orange      = "#fe7d37"
	red         = "#e05d44"
	grey        = "#9f9f9f"
	labelGrey   = "#555"
)

// maxBadgeText is the most characters a badge's label or message shows.
const maxBadgeText = 64

// SVG renders the badge. Text widths are DejaVu Sans's at 11 px, the font
// named first, and textLength holds the text to that width in any other.
func (b Badge) SVG() []byte {
	label, message := clipText(b.Label), clipText(b.Message)
	lw, mw := textWidth(label), textWidth(message) // tenths of a pixel
	// 5 px of padding on each side of each text.
	lbox, mbox := (lw+5)/10+10, (mw+5)/10+10
	width := lbox + mbox
	title := html.EscapeString(label + ": " + message)
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s">`, width, title)
	fmt.Fprintf(&s, `<title>%s</title>`, title)
	s.WriteString(`<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`)
	fmt.Fprintf(&s, `<clipPath id="r"><rect width="%d" height="20" rx="3" fill="#fff"/></clipPath>`, width)
	fmt.Fprintf(&s, `<g clip-path="url(#r)"><rect width="%d" height="20" fill="%s"/><rect x="%d" width="%d" height="20" fill="%s"/><rect width="%d" height="20" fill="url(#s)"/></g>`,
		lbox, labelGrey, lbox, mbox, html.EscapeString(b.Color), width)
	s.WriteString(`<g fill="#fff" text-anchor="middle" font-family="DejaVu Sans,Verdana,Geneva,sans-serif" text-rendering="geometricPrecision" font-size="110">`)
	text := func(x, w int, t string) {
		t = html.EscapeString(t)
		fmt.Fprintf(&s, `<text aria-hidden="true" x="%d" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" textLength="%d">%s</text>`, x, w, t)
		fmt.Fprintf(&s, `<text x="%d" y="140" transform="scale(.1)" fill="#fff" textLength="%d">%s</text>`, x, w, t)
	}
	text(lbox*5, lw, label)
	text(lbox*10+mbox*5, mw, message)
	s.WriteString(`</g></svg>`)
	return []byte(s.String())
}

// clipText shortens t to maxBadgeText characters, and takes out control
// characters, which XML does not allow.
func clipText(t string) string {
	t = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, t)
	if utf8.RuneCountInString(t) > maxBadgeText {
		t = string([]rune(t)[:maxBadgeText-1]) + "…"
	}
	return t
}

// textWidth is the width of t in DejaVu Sans at 11 px, in tenths of a
// pixel.
func textWidth(t string) int {
	w := 0
	for _, r := range t {
		switch {
		case r >= 0x20 && r <= 0x7e:
			w += int(asciiWidths[r-0x20])
		case r >= 0xa0 && r <= 0xff:
			w += int(latin1Widths[r-0xa0])
		default:
			w += wideWidth
		}
	}
	return w
}

// The advance widths of DejaVu Sans's glyphs at 11 px, in tenths of a
// pixel, from the font's own metrics; wideWidth stands for any other
// character (that of 'W').
var (
	asciiWidths = [...]uint8{
		35, 44, 51, 92, 70, 105, 86, 30, 43, 43, 55, 92, 35, 40, 35, 37,
		70, 70, 70, 70, 70, 70, 70, 70, 70, 70, 37, 37, 92, 92, 92, 58,
		110, 75, 75, 77, 85, 70, 63, 85, 83, 32, 32, 72, 61, 95, 82, 87,
		66, 87, 76, 70, 67, 81, 75, 109, 75, 67, 75, 43, 37, 43, 92, 55,
		55, 67, 70, 60, 70, 68, 39, 70, 70, 31, 31, 64, 31, 107, 70, 67,
		70, 70, 45, 57, 43, 70, 65, 90, 65, 65, 58, 70, 37, 70, 92,
	}
	latin1Widths = [...]uint8{
		35, 44, 70, 70, 70, 70, 37, 55, 55, 110, 52, 67, 92, 40, 110, 55,
		55, 92, 44, 44, 55, 70, 70, 35, 55, 44, 52, 67, 107, 107, 107, 58,
		75, 75, 75, 75, 75, 75, 107, 77, 70, 70, 70, 70, 32, 32, 32, 32,
		85, 82, 87, 87, 87, 87, 87, 92, 87, 81, 81, 81, 81, 67, 67, 69,
		67, 67, 67, 67, 67, 67, 108, 60, 68, 68, 68, 68, 31, 31, 31, 31,
		67, 70, 67, 67, 67, 67, 67, 92, 67, 70, 70, 70, 70, 65, 70, 65,
	}
)

const wideWidth = 109
