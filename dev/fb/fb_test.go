package fb

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// screen is a framebuffer in host memory.
type screen struct {
	t                         *testing.T
	buf                       []byte
	pitch, width, height, bpp uint32
}

const padByte = 0x5a // bytes past a line's pixels, which the console must not touch

func newScreen(t *testing.T, width, height, bpp, pad uint32) *screen {
	t.Helper()
	s := &screen{t: t, width: width, height: height, bpp: bpp}
	s.pitch = width*bpp/8 + pad
	s.buf = make([]byte, s.pitch*height)
	for i := range s.buf {
		s.buf[i] = padByte
	}
	con = console{}
	if !initAt(uintptr(unsafe.Pointer(&s.buf[0])), s.pitch, width, height, bpp) {
		t.Fatalf("initAt refused %dx%d at %d bpp, pitch %d", width, height, bpp, s.pitch)
	}
	t.Cleanup(func() {
		con = console{}
		runtime.KeepAlive(s.buf)
	})
	return s
}

func (s *screen) print(text string) {
	for i := 0; i < len(text); i++ {
		Putc(text[i])
	}
}

// grey returns the grey level of pixel (x, y), failing the test if its
// channels differ.
func (s *screen) grey(x, y uint32) uint8 {
	p := s.buf[y*s.pitch+x*s.bpp/8:]
	if p[0] != p[1] || p[1] != p[2] || s.bpp == 32 && p[3] != 0 {
		s.t.Fatalf("pixel (%d,%d) = % x: not a grey this console draws", x, y, p[:s.bpp/8])
	}
	return p[0]
}

// text reads the screen back: each cell matched against the font, '?'
// where no glyph matches, '\ufffd' shown as '#', trailing blanks cut.
func (s *screen) text() []string {
	cols, rows := Size()
	var lines []string
	for r := 0; r < rows; r++ {
		var line []byte
		for i := 0; i < cols; i++ {
			line = append(line, s.cellChar(r, i))
		}
		lines = append(lines, strings.TrimRight(string(line), " "))
	}
	return lines
}

func (s *screen) cellChar(r, i int) byte {
	var rows [cellH]uint8
	for dy := 0; dy < cellH; dy++ {
		for dx := 0; dx < cellW; dx++ {
			switch s.grey(uint32(i*cellW+dx), uint32(r*cellH+dy)) {
			case fgGrey:
				if dx == glyphW {
					s.t.Fatalf("cell (%d,%d): the gap column is drawn", r, i)
				}
				rows[dy] |= 0x80 >> dx
			case bgGrey:
			default:
				s.t.Fatalf("cell (%d,%d): pixel neither foreground nor background", r, i)
			}
		}
	}
	for g := range font {
		if font[g] == rows {
			if g == replacement {
				return '#'
			}
			return byte(0x20 + g)
		}
	}
	return '?'
}

func lines(l ...string) []string { return l }

func checkText(t *testing.T, s *screen, want []string) {
	t.Helper()
	got := s.text()
	for len(want) < len(got) {
		want = append(want, "")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(got, "|\n"), strings.Join(want, "|\n"))
	}
}

// TestFontIsBasicfont checks the generated table against its source.
func TestFontIsBasicfont(t *testing.T) {
	face := basicfont.Face7x13
	if face.Width != glyphW || face.Advance != cellW || face.Ascent+face.Descent != cellH {
		t.Fatalf("basicfont metrics changed: %+v", face)
	}
	for g := 0; g < glyphs; g++ {
		r := rune(0x20 + g)
		if g == replacement {
			r = '\ufffd'
		}
		_, mask, mp, _, ok := face.Glyph(fixed.Point26_6{}, r)
		if !ok {
			t.Fatalf("basicfont has no %U", r)
		}
		for y := 0; y < cellH; y++ {
			for x := 0; x < glyphW; x++ {
				_, _, _, a := mask.At(mp.X+x, mp.Y+y).RGBA()
				if want, got := a >= 0x8000, font[g][y]&(0x80>>x) != 0; got != want {
					t.Fatalf("glyph %U row %d column %d: %v, basicfont %v", r, y, x, got, want)
				}
			}
		}
	}
	if font['A'-0x20] == font['B'-0x20] || font['A'-0x20] == font[0] {
		t.Error("glyphs not distinct")
	}
}

func TestPrintAndReadBack(t *testing.T) {
	for _, bpp := range []uint32{32, 24} {
		t.Run(map[uint32]string{32: "32bpp", 24: "24bpp"}[bpp], func(t *testing.T) {
			s := newScreen(t, 70, 52, bpp, 12) // 10 columns, 4 rows
			if c, r := Size(); c != 10 || r != 4 || !Active() {
				t.Fatalf("Size = %d, %d, Active %v", c, r, Active())
			}
			s.print("Hi, {fb}!\n~`|\\")
			checkText(t, s, lines("Hi, {fb}!", "~`|\\"))
			// Padding past each line's pixels is the hardware's, not
			// ours: untouched.
			for y := uint32(0); y < s.height; y++ {
				for _, b := range s.buf[y*s.pitch+s.width*bpp/8 : (y+1)*s.pitch] {
					if b != padByte {
						t.Fatalf("line %d: padding written", y)
					}
				}
			}
		})
	}
}

func TestInitClearsTheWholeScreen(t *testing.T) {
	// 75x30: 10 columns and 2 rows, with 5 and 4 pixels of margin.
	s := newScreen(t, 75, 30, 32, 0)
	for y := uint32(0); y < s.height; y++ {
		for x := uint32(0); x < s.width; x++ {
			if g := s.grey(x, y); g != bgGrey {
				t.Fatalf("pixel (%d,%d) = %#x after Init", x, y, g)
			}
		}
	}
	s.print(strings.Repeat("W", 40))
	for y := uint32(0); y < s.height; y++ { // the margins stay background
		for x := uint32(70); x < s.width; x++ {
			if s.grey(x, y) != bgGrey {
				t.Fatalf("margin pixel (%d,%d) drawn", x, y)
			}
		}
	}
}

func TestWrapAndScroll(t *testing.T) {
	s := newScreen(t, 35, 39, 32, 0) // 5 columns, 3 rows
	s.print("abcdefg")
	checkText(t, s, lines("abcde", "fg"))
	s.print("\n1\n2\n")
	// Four lines went past three rows: "abcde" scrolled off, the cursor
	// is on a fresh last line.
	checkText(t, s, lines("1", "2", ""))
	s.print("3")
	checkText(t, s, lines("1", "2", "3"))
	// Exactly filling a line does not scroll until the next character.
	s.print("4567")
	checkText(t, s, lines("1", "2", "34567"))
	s.print("8")
	checkText(t, s, lines("2", "34567", "8"))
}

// TestJumpScroll: on a screen of 8 rows or more a scroll moves a quarter
// of it, and the cursor continues on the first blank line.
func TestJumpScroll(t *testing.T) {
	s := newScreen(t, 35, 8*13, 32, 0) // 5 columns, 8 rows: jumps of 2
	s.print("0\n1\n2\n3\n4\n5\n6\n7")
	checkText(t, s, lines("0", "1", "2", "3", "4", "5", "6", "7"))
	s.print("\n8")
	checkText(t, s, lines("2", "3", "4", "5", "6", "7", "8", ""))
	s.print("\n9\na")
	checkText(t, s, lines("4", "5", "6", "7", "8", "9", "a", ""))
}

func TestControlBytes(t *testing.T) {
	s := newScreen(t, 140, 52, 32, 0) // 20 columns, 4 rows
	s.print("a\tb\tc\n")
	checkText(t, s, lines("a       b       c"))
	s.print("xyz\b\bQ\rR\n")
	checkText(t, s, lines("a       b       c", "RQz"))
	// A tab past the last stop moves to the next line.
	s.print("0123456789abcdefg\tZ")
	checkText(t, s, lines("a       b       c", "RQz", "0123456789abcdefg", "Z"))
	// Backspace stops at the left edge.
	s = newScreen(t, 140, 52, 32, 0)
	s.print("\b\bX")
	checkText(t, s, lines("X"))
}

func TestEscapesAndUTF8(t *testing.T) {
	s := newScreen(t, 140, 26, 24, 3)
	// Colour and cursor sequences are swallowed; a UTF-8 "é" (two bytes)
	// and "→" (three) are one replacement glyph each; other control
	// bytes and DEL draw nothing.
	s.print("\x1b[1;31mred\x1b[0m caf\xc3\xa9 \xe2\x86\x92\x01\x7f.\n")
	checkText(t, s, lines("red caf# #."))
}

func TestPutcBeforeInitAndBadShapes(t *testing.T) {
	con = console{}
	t.Cleanup(func() { con = console{} })
	Putc('x') // no framebuffer: must not touch memory
	if Active() {
		t.Fatal("active without Init")
	}
	buf := make([]byte, 4096)
	base := uintptr(unsafe.Pointer(&buf[0]))
	for _, c := range []struct{ pitch, width, height, bpp uint32 }{
		{64, 16, 16, 16}, // 16 bpp: not handled
		{64, 16, 16, 8},
		{60, 16, 16, 32}, // pitch shorter than a line
		{64, 6, 16, 32},  // narrower than a cell
		{64, 16, 12, 32}, // lower than a cell
	} {
		if initAt(base, c.pitch, c.width, c.height, c.bpp) || Active() {
			t.Errorf("initAt accepted %+v", c)
		}
	}
	for _, addr := range []uint64{0, 0xb8000, 0xfff00000, 1 << 32} {
		// 0, VGA text memory, ending past 4 GiB, above 4 GiB: none may be
		// identity-mapped (Init returns before it maps anything).
		if Init(addr, 4096, 1024, 768, 32) {
			t.Errorf("Init accepted a framebuffer at %#x", addr)
		}
	}
	if !inDeviceZone(0xfd000000, 4096*768) || !inDeviceZone(0x80000000, 4096*768) {
		t.Error("usual framebuffer addresses (QEMU VGA, OVMF GOP) refused")
	}
	runtime.KeepAlive(buf)
	if cols, rows := Size(); cols != 0 || rows != 0 {
		t.Errorf("Size when off = %d, %d", cols, rows)
	}
}

func TestGridIsBounded(t *testing.T) {
	s := newScreen(t, (MaxCols+3)*cellW, (MaxRows+2)*cellH, 32, 0)
	if c, r := Size(); c != MaxCols || r != MaxRows {
		t.Fatalf("Size = %d, %d, want %d, %d", c, r, MaxCols, MaxRows)
	}
	s.print(strings.Repeat("x", MaxCols+1))
	if got := s.text(); got[0] != strings.Repeat("x", MaxCols) || got[1] != "x" {
		t.Errorf("wrap at MaxCols: %q, %q", got[0][:10], got[1])
	}
}

func TestPutcDoesNotAllocate(t *testing.T) {
	s := newScreen(t, 70, 39, 32, 0)
	text := "line\tof text\x1b[0m\xc3\xa9\b\n"
	allocs := testing.AllocsPerRun(20, func() {
		for i := 0; i < len(text); i++ {
			Putc(text[i])
		}
	})
	if allocs != 0 {
		t.Errorf("Putc allocates: %v per run", allocs)
	}
	_ = s
}
