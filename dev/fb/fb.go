// Package fb draws the kernel console on a linear framebuffer, the one a
// boot loader hands over (GRUB's Multiboot framebuffer, a UEFI GOP mode):
// text in a built-in 6x13 bitmap font in 7x13 cells, light grey on black,
// with newline, carriage return, tab, backspace, line wrap and scrolling
// (a quarter screen at a time: jump).
//
// Putc runs where the kernel console runs: in handler context, with
// interrupts off, possibly before the Go runtime is initialized. So
// nothing here allocates, the state is one zero-initialized package
// variable, the font is a table the linker fills in (font.go), and there
// is no lock: the kernel prints on one CPU with interrupts disabled.
//
// The console keeps the character of every cell (cells) and redraws only
// the cells that change, so scrolling never reads the framebuffer (device
// memory mapped uncached, slow to read) and writes only the cells whose
// character moves.
package fb

//go:generate go run mkfont.go

import (
	"unsafe"

	"beelzebox/mm"
)

// Font and cell geometry (font.go has the glyphs).
const (
	glyphW = 6  // glyph pixels per row
	cellW  = 7  // advance: glyph and one blank column
	cellH  = 13 // rows per glyph and per line
	glyphs = 96 // ASCII 0x20-0x7e, then U+FFFD
	// replacement is the glyph of bytes the font has no glyph for.
	replacement = glyphs - 1
)

// Bounds of the text grid: 2240x1664 pixels of text; a larger screen
// uses its top left part.
const (
	MaxCols = 320
	MaxRows = 128
)

const tabStop = 8

// Colours. Grey and black have equal red, green and blue, so they look
// the same whatever order the framebuffer keeps its channels in.
const (
	fgGrey = 0xaa
	bgGrey = 0x00
)

// escape-sequence states: the kernel and guests may print ANSI/ECMA-48
// control sequences meant for a serial terminal; the framebuffer console
// swallows them instead of drawing their bytes.
const (
	escNone = iota
	escStart
	escCSI
)

type console struct {
	base                 uintptr // first pixel's address
	pitch, width, height uint32  // bytes per line, pixels
	bytesPP              uint32  // 3 or 4
	cols, rows           int
	col, row             int
	esc                  int
	present              bool
	cells                [MaxRows][MaxCols]byte // glyph index shown in each cell
}

var con console

// Init starts the framebuffer console on the framebuffer at physical
// address addr: pitch bytes per line, width x height pixels, bpp 32
// (4 bytes a pixel) or 24 (3 bytes). It maps the framebuffer (uncached,
// with mm.MapMMIO, so mm.Init must have run), clears the screen and
// reports whether the console is on. A framebuffer it cannot use (other
// depths, smaller than one cell, a pitch shorter than a line, outside
// the kernel's device zone) leaves it off. It does not allocate.
func Init(addr uint64, pitch, width, height, bpp uint32) bool {
	size := uint64(pitch) * uint64(height)
	if !inDeviceZone(addr, size) || !usable(pitch, width, height, bpp) {
		return false
	}
	base := mm.MapMMIO(addr, size)
	return initAt(base, pitch, width, height, bpp)
}

// Device memory the kernel maps at its physical address (mm.MapMMIO) must
// lie in the zone for it, above the kernel image (linked at 16 MiB) and
// below 4 GiB (mm/zones.go); above 4 GiB start the Go runtime's mappings.
const (
	deviceZoneLo = 16 << 20
	deviceZoneHi = 4 << 30
)

// inDeviceZone reports whether [addr, addr+size) may be identity-mapped.
func inDeviceZone(addr, size uint64) bool {
	return addr >= deviceZoneLo && size <= deviceZoneHi && addr <= deviceZoneHi-size
}

// usable reports whether a framebuffer of this shape can carry the
// console.
func usable(pitch, width, height, bpp uint32) bool {
	if bpp != 24 && bpp != 32 {
		return false
	}
	return width >= cellW && height >= cellH && uint64(pitch) >= uint64(width)*uint64(bpp/8)
}

// initAt starts the console on a framebuffer mapped at base.
func initAt(base uintptr, pitch, width, height, bpp uint32) bool {
	if base == 0 || !usable(pitch, width, height, bpp) {
		con.present = false
		return false
	}
	c := &con
	c.present = false
	c.base, c.pitch, c.width, c.height, c.bytesPP = base, pitch, width, height, bpp/8
	c.cols = min(int(width/cellW), MaxCols)
	c.rows = min(int(height/cellH), MaxRows)
	c.col, c.row, c.esc = 0, 0, escNone
	for y := uint32(0); y < height; y++ {
		for x := uint32(0); x < width; x++ {
			c.pixel(x, y, bgGrey)
		}
	}
	for r := range c.cells {
		for i := range c.cells[r] {
			c.cells[r][i] = 0 // glyph 0 is the space
		}
	}
	c.present = true
	return true
}

// Active reports whether the framebuffer console is on.
func Active() bool { return con.present }

// Size returns the text grid, columns and rows (0, 0 when off).
func Size() (cols, rows int) {
	if !con.present {
		return 0, 0
	}
	return con.cols, con.rows
}

// Putc draws one byte of console output: printable ASCII as its glyph,
// '\n' as a new line (carriage return included, as a terminal's
// onlcr), '\r', '\t' (to the next multiple of 8 columns), '\b' (one
// column left, nothing erased, as a terminal's cursor), ESC sequences
// swallowed, other control bytes and DEL ignored, a UTF-8 sequence as one
// replacement glyph. It does nothing
// before Init. It does not allocate.
func Putc(b byte) {
	c := &con
	if !c.present {
		return
	}
	switch c.esc {
	case escStart:
		c.esc = escNone
		if b == '[' {
			c.esc = escCSI
		}
		return
	case escCSI:
		// Parameter and intermediate bytes 0x20-0x3f, final byte
		// 0x40-0x7e (ECMA-48 §5.4).
		if b >= 0x40 && b <= 0x7e || b < 0x20 {
			c.esc = escNone
		}
		return
	}
	switch {
	case b == '\n':
		c.newline()
	case b == '\r':
		c.col = 0
	case b == '\t':
		next := (c.col/tabStop + 1) * tabStop
		if next >= c.cols {
			c.newline()
			return
		}
		c.col = next
	case b == '\b':
		if c.col > 0 {
			c.col--
		}
	case b == 0x1b:
		c.esc = escStart
	case b >= 0x20 && b <= 0x7e:
		c.put(b - 0x20)
	case b >= 0xc0:
		// A UTF-8 lead byte shows as one replacement glyph; the
		// continuation bytes (0x80-0xbf) that follow draw nothing.
		c.put(replacement)
	}
}

// put draws glyph g at the cursor and advances it, wrapping at the right
// edge.
func (c *console) put(g byte) {
	if c.col >= c.cols {
		c.newline()
	}
	c.setCell(c.row, c.col, g)
	c.col++
}

// newline moves the cursor to the start of the next line, scrolling when
// it is on the last one.
func (c *console) newline() {
	c.col = 0
	if c.row+1 < c.rows {
		c.row++
		return
	}
	n := c.jump()
	c.scroll(n)
	c.row = c.rows - n
}

// jump is how many lines a scroll moves (jump scrolling, as terminals do
// for fast output): a quarter of the screen, one line on screens of
// fewer than 8 rows. A scroll redraws about a screenful of cells, which
// on a framebuffer mapped uncached costs milliseconds per line; in
// steps of a quarter screen the console keeps up with test output.
func (c *console) jump() int { return max(1, c.rows/4) }

// scroll moves every line up by n and blanks the last n, redrawing only
// the cells whose glyph changes.
func (c *console) scroll(n int) {
	for r := 0; r+n < c.rows; r++ {
		for i := 0; i < c.cols; i++ {
			c.setCell(r, i, c.cells[r+n][i])
		}
	}
	for r := c.rows - n; r < c.rows; r++ {
		for i := 0; i < c.cols; i++ {
			c.setCell(r, i, 0)
		}
	}
}

// setCell shows glyph g in cell (r, i), drawing only if it changes.
func (c *console) setCell(r, i int, g byte) {
	if c.cells[r][i] == g {
		return
	}
	c.cells[r][i] = g
	c.drawGlyph(uint32(i*cellW), uint32(r*cellH), g)
}

// drawGlyph draws a whole cell (glyph and its blank column) with its top
// left pixel at (x, y).
func (c *console) drawGlyph(x, y uint32, g byte) {
	glyph := &font[g]
	for dy := uint32(0); dy < cellH; dy++ {
		bits := glyph[dy]
		for dx := uint32(0); dx < cellW; dx++ {
			v := uint8(bgGrey)
			if dx < glyphW && bits&(0x80>>dx) != 0 {
				v = fgGrey
			}
			c.pixel(x+dx, y+dy, v)
		}
	}
}

// pixel sets one pixel to grey level v in every channel.
func (c *console) pixel(x, y uint32, v uint8) {
	p := c.base + uintptr(y)*uintptr(c.pitch) + uintptr(x)*uintptr(c.bytesPP)
	if c.bytesPP == 4 {
		*(*uint32)(unsafe.Pointer(p)) = uint32(v)<<16 | uint32(v)<<8 | uint32(v)
		return
	}
	*(*uint8)(unsafe.Pointer(p)) = v
	*(*uint8)(unsafe.Pointer(p + 1)) = v
	*(*uint8)(unsafe.Pointer(p + 2)) = v
}
