package vdso

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The image is built once per test binary through vdso.mk into a temporary
// directory; tests that need it skip when make or gcc is missing.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildSkip string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func tools(t *testing.T, names ...string) {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the vDSO is built and run on linux/amd64 hosts only (this is %s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not found on this machine: cannot build the vDSO (%v)", n, err)
		}
	}
}

// built returns the path of vdso.so built by vdso.mk.
func built(t *testing.T) string {
	t.Helper()
	tools(t, "make", "gcc", "readelf")
	buildOnce.Do(func() {
		// Read the sources the build uses (make and gcc read them in
		// processes of their own) so that go test's cache sees them.
		for _, f := range []string{"vdso.mk", "image/vdso.c", "image/vvar.h", "image/vdso.lds", "image/vdso.map",
			"testdata/harness.c", "testdata/loader.c", "testdata/ctime.c", "testdata/gotime/main.go"} {
			if _, buildErr = os.ReadFile(f); buildErr != nil {
				return
			}
		}
		buildDir, buildErr = os.MkdirTemp("", "vdso-test")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("make", "-s", "-f", "vdso.mk", "BUILD="+buildDir, "vdso")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("make -f vdso.mk: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "vdso", "vdso.so")
}

func parsed(t *testing.T) (*Image, []byte) {
	t.Helper()
	so, err := os.ReadFile(built(t))
	if err != nil {
		t.Fatal(err)
	}
	im, err := Parse(so)
	if err != nil {
		t.Fatalf("Parse of the built image: %v", err)
	}
	return im, so
}

func TestParseBuiltImage(t *testing.T) {
	im, so := parsed(t)
	if im.Size() == 0 || im.Size()%PageSize != 0 || im.Size() < uint64(len(so)) {
		t.Errorf("Size %d for a %d-byte file", im.Size(), len(so))
	}
	if uint64(len(im.Bytes())) != im.Size() || !bytes.Equal(im.Bytes()[:len(so)], so) {
		t.Errorf("Bytes is not the file padded to Size")
	}
	if rest := im.Bytes()[len(so):]; bytes.Count(rest, []byte{0}) != len(rest) {
		t.Errorf("padding is not zero")
	}
	seen := map[uint64]string{}
	for _, name := range Functions {
		off, ok := im.Symbol(name)
		if !ok || off == 0 || off >= im.Size() {
			t.Errorf("Symbol(%s) = %#x, %v", name, off, ok)
		}
		if other, dup := seen[off]; dup {
			t.Errorf("%s and %s at the same offset %#x", name, other, off)
		}
		seen[off] = name
	}
	if _, ok := im.Symbol("vvar_page"); ok {
		t.Errorf("vvar_page is exported")
	}
}

// TestReadelf checks the built image with binutils' view of it: versions,
// the note, the segments and no relocations.
func TestReadelf(t *testing.T) {
	path := built(t)
	out, err := exec.Command("readelf", "-W", "--dyn-syms", "-r", "-l", "-d", "-n", path).CombinedOutput()
	if err != nil {
		t.Fatalf("readelf: %v\n%s", err, out)
	}
	s := string(out)
	for _, name := range Functions {
		plain := strings.TrimPrefix(name, "__vdso_")
		for _, n := range []string{name, plain} {
			if !regexp.MustCompile(`FUNC +(GLOBAL|WEAK) +DEFAULT +\d+ ` + regexp.QuoteMeta(n) + `@@LINUX_2\.6\n`).MatchString(s) {
				t.Errorf("readelf shows no defined %s@@LINUX_2.6", n)
			}
		}
	}
	for _, want := range []string{"There are no relocations in this file.", "(HASH)", "(GNU_HASH)",
		"(VERSYM)", "(VERDEF)", "Library soname: [linux-vdso.so.1]", " DYNAMIC ", " NOTE ", " GNU_EH_FRAME ",
		"Linux                0x00000004\tUnknown note type: (0x00000000)"} {
		if !strings.Contains(s, want) {
			t.Errorf("readelf output lacks %q", want)
		}
	}
	if regexp.MustCompile(`LOAD .* RW`).MatchString(s) {
		t.Errorf("a writable PT_LOAD")
	}
	if strings.Contains(s, "NEEDED") || strings.Contains(s, "TEXTREL") {
		t.Errorf("DT_NEEDED or TEXTREL present")
	}
}

// TestDataOffsetsMatchHeader compares the Off* constants with vvar.h.
func TestDataOffsetsMatchHeader(t *testing.T) {
	h, err := os.ReadFile("image/vvar.h")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"VVAR_SIZE": PageSize, "VVAR_DATA_END": DataEnd, "VVAR_FLAG_FALLBACK": FlagFallback,
		"VVAR_OFF_SEQ": OffSeq, "VVAR_OFF_FLAGS": OffFlags, "VVAR_OFF_BASE_TSC": OffBaseTSC,
		"VVAR_OFF_MULT": OffMult, "VVAR_OFF_SHIFT": OffShift, "VVAR_OFF_RES_NS": OffResNs,
		"VVAR_OFF_MONO_BASE": OffMonoBase, "VVAR_OFF_REALTIME_OFF": OffRealtimeOff,
		"VVAR_OFF_BOOTTIME_OFF": OffBoottimeOff, "VVAR_OFF_TAI_OFF": OffTAIOff,
		"VVAR_OFF_COARSE_RES_NS": OffCoarseResNs, "VVAR_OFF_CPU": OffCPU, "VVAR_OFF_NODE": OffNode,
		"VVAR_OFF_TZ_MINWEST": OffTZMinWest, "VVAR_OFF_TZ_DSTTIME": OffTZDSTTime,
	}
	got := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^#define (VVAR_\w+)\s+(\d+)\s*$`).FindAllStringSubmatch(string(h), -1) {
		v, _ := strconv.Atoi(m[2])
		got[m[1]] = v
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: vvar.h %d (present %v), Go %d", k, g, ok, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("vvar.h defines %s, which the Go side does not know", k)
		}
	}
	// The header ties each define to the struct by _Static_assert; check
	// that it does so for every offset (so a new field cannot skip it).
	for k := range want {
		if strings.HasPrefix(k, "VVAR_OFF_") && !strings.Contains(string(h), "== "+k+",") {
			t.Errorf("vvar.h has no _Static_assert for %s", k)
		}
	}
}

func TestData(t *testing.T) {
	p := ClockParams{BaseTSC: 0x1122334455667788, Mult: 0xabcdef, Shift: 32, MonotonicBase: -5,
		RealtimeOffset: 1767225600e9, BoottimeOffset: 7, TAIOffset: 37e9, Resolution: 3,
		CPU: 2, Node: 1, TZMinutesWest: -60, TZDSTTime: 1}
	d := Data(p)
	le := binary.LittleEndian
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"seq", uint64(le.Uint32(d[OffSeq:])), 0},
		{"flags", uint64(le.Uint32(d[OffFlags:])), 0},
		{"base", le.Uint64(d[OffBaseTSC:]), p.BaseTSC},
		{"mult", le.Uint64(d[OffMult:]), p.Mult},
		{"shift", uint64(le.Uint32(d[OffShift:])), 32},
		{"res", uint64(le.Uint32(d[OffResNs:])), 3},
		{"coarse res defaults to res", uint64(le.Uint32(d[OffCoarseResNs:])), 3},
		{"mono base", le.Uint64(d[OffMonoBase:]), uint64(p.MonotonicBase)},
		{"realtime", le.Uint64(d[OffRealtimeOff:]), uint64(p.RealtimeOffset)},
		{"boottime", le.Uint64(d[OffBoottimeOff:]), 7},
		{"tai", le.Uint64(d[OffTAIOff:]), 37e9},
		{"cpu", uint64(le.Uint32(d[OffCPU:])), 2},
		{"node", uint64(le.Uint32(d[OffNode:])), 1},
		{"tz west", uint64(le.Uint32(d[OffTZMinWest:])), uint64(uint32(0xffffffc4))},
		{"tz dst", uint64(le.Uint32(d[OffTZDSTTime:])), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, c.got, c.want)
		}
	}
	for i := DataEnd; i < PageSize; i++ {
		if d[i] != 0 {
			t.Fatalf("byte %d past the fields is %#x", i, d[i])
		}
	}
	for _, bad := range []ClockParams{{Fallback: true, Mult: 1}, {}, {Mult: 1, Shift: 65}} {
		d := Data(bad)
		if le.Uint32(d[OffFlags:])&FlagFallback == 0 {
			t.Errorf("%+v: no fallback flag", bad)
		}
	}
	if d := Data(ClockParams{Mult: 1, Resolution: 0, CoarseResolution: 4000000}); le.Uint32(d[OffResNs:]) != 1 ||
		le.Uint32(d[OffCoarseResNs:]) != 4000000 {
		t.Errorf("resolution defaults wrong")
	}
}

// TestMonotonic checks the Go reference against kernel.Nanotime's formula
// (shift 32) and a 128-bit computation.
func TestMonotonic(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for range 10000 {
		p := ClockParams{BaseTSC: r.Uint64(), Mult: r.Uint64() >> r.Intn(64), Shift: uint32(r.Intn(65)), MonotonicBase: r.Int63n(1e12)}
		tsc := r.Uint64()
		hi, lo := bits.Mul64(tsc-p.BaseTSC, p.Mult)
		var want uint64
		switch {
		case p.Shift == 64:
			want = hi
		case p.Shift == 0:
			want = lo
		default:
			want = hi<<(64-p.Shift) | lo>>p.Shift
		}
		if got := p.Monotonic(tsc); got != p.MonotonicBase+int64(want) {
			t.Fatalf("%+v at %d: %d, want %d", p, tsc, got, p.MonotonicBase+int64(want))
		}
		p.Shift = 32
		if got := p.Monotonic(tsc); got != p.MonotonicBase+int64(hi<<32|lo>>32) {
			t.Fatalf("shift 32 disagrees with kernel.Nanotime's formula")
		}
	}
}

// dynEntry returns the file offset of the first dynamic entry with tag.
func dynEntry(t *testing.T, so []byte, tag uint64) int {
	t.Helper()
	le := binary.LittleEndian
	phoff, phnum := le.Uint64(so[32:]), int(le.Uint16(so[56:]))
	for i := range phnum {
		ph := int(phoff) + i*56
		if le.Uint32(so[ph:]) == ptDynamic {
			off, sz := int(le.Uint64(so[ph+8:])), int(le.Uint64(so[ph+32:]))
			for p := off; p < off+sz; p += 16 {
				if le.Uint64(so[p:]) == tag {
					return p
				}
			}
		}
	}
	t.Fatalf("no dynamic tag %#x", tag)
	return 0
}

func TestParseRejects(t *testing.T) {
	_, so := parsed(t)
	le := binary.LittleEndian
	mutate := func(name string, f func(b []byte)) {
		b := bytes.Clone(so)
		f(b)
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: Parse accepted it", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	mutate("not ELF", func(b []byte) { b[0] = 0 })
	mutate("ELF32", func(b []byte) { b[4] = 1 })
	mutate("big-endian", func(b []byte) { b[5] = 2 })
	mutate("ET_EXEC", func(b []byte) { le.PutUint16(b[16:], 2) })
	mutate("aarch64", func(b []byte) { le.PutUint16(b[18:], 183) })
	mutate("no program headers", func(b []byte) { le.PutUint16(b[56:], 0) })
	mutate("writable PT_LOAD", func(b []byte) { b[64+4] |= pfW })
	mutate("PT_LOAD at 4096", func(b []byte) { le.PutUint64(b[64+16:], 4096) })
	mutate("bss", func(b []byte) { le.PutUint64(b[64+40:], le.Uint64(b[64+40:])+4096) })
	mutate("DT_RELA", func(b []byte) { le.PutUint64(b[dynEntry(t, so, dtSymtab):], dtRela) })
	mutate("DT_RELASZ", func(b []byte) {
		p := dynEntry(t, so, dtSymEnt)
		le.PutUint64(b[p:], dtRelaSz)
		le.PutUint64(b[p+8:], 24)
	})
	mutate("DT_TEXTREL", func(b []byte) { le.PutUint64(b[dynEntry(t, so, dtSymEnt):], dtTextRel) })
	mutate("DT_NEEDED", func(b []byte) { le.PutUint64(b[dynEntry(t, so, dtSymEnt):], dtNeeded) })
	mutate("no DT_GNU_HASH", func(b []byte) { le.PutUint64(b[dynEntry(t, so, dtGNUHash):], dtSymEnt) })
	mutate("no DT_HASH", func(b []byte) { le.PutUint64(b[dynEntry(t, so, dtHash):], dtSymEnt) })
	mutate("no versions", func(b []byte) { le.PutUint64(b[dynEntry(t, so, dtVersym):], dtSymEnt) })
	mutate("DT_HASH out of range", func(b []byte) { le.PutUint64(b[dynEntry(t, so, dtHash)+8:], 1<<40) })

	// Symbol-level damage, found through the string table.
	strtab := int(le.Uint64(so[dynEntry(t, so, dtStrtab)+8:]))
	symtab := int(le.Uint64(so[dynEntry(t, so, dtSymtab)+8:]))
	versym := int(le.Uint64(so[dynEntry(t, so, dtVersym)+8:]))
	nsym := int(le.Uint32(so[int(le.Uint64(so[dynEntry(t, so, dtHash)+8:]))+4:]))
	symIndex := func(name string) int {
		for i := 1; i < nsym; i++ {
			off := strtab + int(le.Uint32(so[symtab+i*24:]))
			if string(so[off:off+len(name)+1]) == name+"\x00" {
				return i
			}
		}
		t.Fatalf("no symbol %s", name)
		return 0
	}
	getcpu := symIndex("__vdso_getcpu")
	mutate("renamed symbol", func(b []byte) {
		off := strtab + int(le.Uint32(so[symtab+getcpu*24:]))
		b[off+len("__vdso_getcpu")-1] = 'X'
	})
	mutate("unversioned", func(b []byte) { le.PutUint16(b[versym+getcpu*2:], 1) })
	mutate("hidden version", func(b []byte) { b[versym+getcpu*2+1] |= 0x80 })
	mutate("undefined version index", func(b []byte) { le.PutUint16(b[versym+getcpu*2:], 9) })
	mutate("not a function", func(b []byte) { b[symtab+getcpu*24+4] = stbGlobal<<4 | 1 })
	mutate("undefined symbol", func(b []byte) { le.PutUint16(b[symtab+getcpu*24+6:], 0) })
	mutate("outside the text", func(b []byte) { le.PutUint64(b[symtab+getcpu*24+8:], 1<<20) })
	if _, err := Parse(append(bytes.Clone(so), make([]byte, MaxImageSize)...)); err == nil {
		t.Errorf("an oversized image was accepted")
	}
}

// TestParseHostile feeds truncated and randomly damaged images to Parse:
// it may reject them but must not panic.
func TestParseHostile(t *testing.T) {
	_, so := parsed(t)
	for n := 0; n < len(so); n += 7 {
		Parse(so[:n])
	}
	r := rand.New(rand.NewSource(2))
	for range 20000 {
		b := bytes.Clone(so)
		for range 1 + r.Intn(8) {
			i := r.Intn(len(b))
			if r.Intn(2) == 0 {
				i = r.Intn(min(len(b), 0x400)) // the headers and tables
			}
			b[i] = byte(r.Intn(256))
		}
		Parse(b)
	}
}

// harness builds testdata/harness.c.
func harness(t *testing.T) string {
	t.Helper()
	tools(t, "gcc")
	exe := filepath.Join(t.TempDir(), "harness")
	if out, err := exec.Command("gcc", "-O2", "-Wall", "-Werror", "-o", exe, "testdata/harness.c").CombinedOutput(); err != nil {
		t.Fatalf("building the harness: %v\n%s", err, out)
	}
	return exe
}

// run maps im with the data page for p in the harness and returns its
// output lines by their first word.
func runHarness(t *testing.T, exe string, im *Image, p ClockParams, mode string) map[string][][]int64 {
	t.Helper()
	dir := t.TempDir()
	img, vv := filepath.Join(dir, "image"), filepath.Join(dir, "vvar")
	d := Data(p)
	if err := os.WriteFile(img, im.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vv, d[:], 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", mode, img, vv}
	for _, name := range Functions {
		off, _ := im.Symbol(name)
		args = append(args, fmt.Sprint(off))
	}
	out, err := exec.Command(exe, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("harness %s: %v\n%s", mode, err, out)
	}
	return lines(t, out)
}

func lines(t *testing.T, out []byte) map[string][][]int64 {
	t.Helper()
	res := map[string][][]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var nums []int64
		for _, s := range f[1:] {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				u, err2 := strconv.ParseUint(s, 10, 64)
				if err2 != nil {
					t.Fatalf("harness line %q: %v", sc.Text(), err)
				}
				n = int64(u)
			}
			nums = append(nums, n)
		}
		res[f[0]] = append(res[f[0]], nums)
	}
	if len(res["done"]) != 1 {
		t.Fatalf("harness did not finish:\n%s", out)
	}
	return res
}

// one returns the only line named key.
func one(t *testing.T, out map[string][][]int64, key string) []int64 {
	t.Helper()
	if len(out[key]) != 1 {
		t.Fatalf("harness printed %d %q lines", len(out[key]), key)
	}
	return out[key][0]
}

// calibrate measures the host's TSC against its clocks and returns
// parameters in the kernel's form (32.32 multiplier) that make the vDSO's
// clocks follow the host's.
func calibrate(t *testing.T, exe string) ClockParams {
	t.Helper()
	out, err := exec.Command(exe, "calibrate").CombinedOutput()
	if err != nil {
		t.Fatalf("harness calibrate: %v\n%s", err, out)
	}
	out = append(out, "done\n"...)
	cal := lines(t, out)["cal"]
	if len(cal) != 2 {
		t.Fatalf("calibration: %s", out)
	}
	a, b := cal[0], cal[1]
	dtsc, dns := uint64(b[0]-a[0]), uint64(b[1]-a[1])
	if dtsc == 0 || dns == 0 {
		t.Skipf("the host TSC does not advance: %s", out)
	}
	hz := dtsc * 1e9 / dns
	// As kernel/clock.go: mult = (1e9 << 32) / hz.
	hi, lo := bits.Mul64(1e9, 1<<32)
	mult, _ := bits.Div64(hi, lo, hz)
	t.Logf("host TSC %d Hz, mult %d", hz, mult)
	// The first point is the base, so that by the time the vDSO runs the
	// scaled part is at least the 200 ms between the points.
	return ClockParams{BaseTSC: uint64(a[0]), Mult: mult, Shift: 32, MonotonicBase: a[1],
		RealtimeOffset: a[2] - a[1], BoottimeOffset: a[3] - a[1], TAIOffset: a[4] - a[2],
		CoarseResolution: 4_000_000, CPU: 7, Node: 3, TZMinutesWest: -60, TZDSTTime: 1}
}

// TestCallFast runs the vDSO's TSC path on the host: each clock must agree
// with the host's own to within tolerance.
func TestCallFast(t *testing.T) {
	im, _ := parsed(t)
	exe := harness(t)
	p := calibrate(t, exe)
	out := runHarness(t, exe, im, p, "fast")
	const tolerance = 5_000_000 // ns
	for _, c := range out["clock"] {
		id, ret, a, v, b := c[0], c[1], c[2], c[3], c[4]
		if ret != 0 {
			t.Errorf("clock %d: returned %d", id, ret)
			continue
		}
		if v < a-tolerance || v > b+tolerance {
			t.Errorf("clock %d: vDSO %d, host between %d and %d (off by %d ns)", id, v, a, b, v-(a+b)/2)
		} else {
			t.Logf("clock %d: off by %d ns", id, v-(a+b)/2)
		}
	}
	if len(out["clock"]) != 7 {
		t.Errorf("%d clocks", len(out["clock"]))
	}
	for _, c := range out["clockparts"] {
		if c[2] < 0 || c[2] >= 1e9 {
			t.Errorf("clock %d: tv_nsec %d", c[0], c[2])
		}
	}
	// The rate over 300 ms: the vDSO's interval lies within the host's
	// bracketing ones, give or take 100 µs (330 ppm: the calibration's
	// error and any change in the host's NTP slew).
	if r := one(t, out, "rate"); r[0] != 0 || r[5]-r[2] < r[4]-r[3]-100_000 || r[5]-r[2] > r[6]-r[1]+100_000 {
		t.Errorf("rate: vDSO interval %d ns, host's between %d and %d", r[5]-r[2], r[4]-r[3], r[6]-r[1])
	} else {
		t.Logf("rate: vDSO interval %d ns, host's between %d and %d", r[5]-r[2], r[4]-r[3], r[6]-r[1])
	}
	// Clocks the page does not serve went to the system call.
	if c := one(t, out, "clock_cpu"); c[0] != 0 || c[1] < 0 {
		t.Errorf("CLOCK_PROCESS_CPUTIME_ID: %v", c)
	}
	for _, c := range out["clock_bad"] {
		if c[1] != -22 {
			t.Errorf("clock id %d: %d, want -EINVAL", c[0], c[1])
		}
	}
	if c := one(t, out, "clock_null"); c[0] != -14 {
		t.Errorf("clock_gettime(NULL) = %d, want -EFAULT", c[0])
	}
	if g := one(t, out, "gtod"); g[0] != 0 || g[2] < g[1]-tolerance/1000 || g[2] > g[3]+tolerance/1000 {
		t.Errorf("gettimeofday: %v", g)
	}
	if g := one(t, out, "gtodparts"); g[1] < 0 || g[1] >= 1e6 {
		t.Errorf("tv_usec %d", g[1])
	}
	if g := one(t, out, "gtod_tz"); g[0] != -60 || g[1] != 1 {
		t.Errorf("timezone %v", g)
	}
	if g := one(t, out, "gtod_null"); g[0] != 0 {
		t.Errorf("gettimeofday(NULL, NULL) = %d", g[0])
	}
	if g := one(t, out, "gtod_tzonly"); g[0] != 0 || g[1] != -60 || g[2] != 1 {
		t.Errorf("gettimeofday(NULL, tz): %v", g)
	}
	if g := one(t, out, "gtod_tvonly"); g[0] != 0 || g[1] < 1e9 {
		t.Errorf("gettimeofday(tv, NULL): %v", g)
	}
	if tm := one(t, out, "time"); tm[1] < tm[0]-1 || tm[1] > tm[2]+1 || tm[3] != tm[1] {
		t.Errorf("time: host %d..%d, vDSO %d, stored %d", tm[0], tm[2], tm[1], tm[3])
	}
	if tm := one(t, out, "time_null"); tm[0] < 1e9 {
		t.Errorf("time(NULL) = %d", tm[0])
	}
	for _, r := range out["res"] {
		want := int64(1)
		if r[0] == 5 || r[0] == 6 {
			want = 4_000_000
		}
		if r[1] != 0 || r[2] != 0 || r[3] != want {
			t.Errorf("clock_getres(%d): %v, want 0 0 %d", r[0], r[1:], want)
		}
	}
	if r := one(t, out, "res_null"); r[0] != 0 {
		t.Errorf("clock_getres(NULL) = %d", r[0])
	}
	if r := one(t, out, "res_bad"); r[0] != -22 {
		t.Errorf("clock_getres(99) = %d", r[0])
	}
	if r := one(t, out, "res_cpu"); r[0] != 0 {
		t.Errorf("clock_getres(CPUTIME) = %d", r[0])
	}
	if g := one(t, out, "getcpu"); g[0] != 0 || g[1] != 7 || g[2] != 3 {
		t.Errorf("getcpu: %v, want 0 7 3", g)
	}
	if g := one(t, out, "getcpu_null"); g[0] != 0 {
		t.Errorf("getcpu(NULL, NULL) = %d", g[0])
	}
	if g := one(t, out, "getcpu_cpuonly"); g[0] != 0 || g[1] != 7 {
		t.Errorf("getcpu(cpu, NULL): %v", g)
	}
}

// TestCallMatchesReference checks the vDSO's arithmetic against
// ClockParams.Monotonic for shifts from 0 to 64 and multipliers up to 64
// bits: each reading must lie between the reference at the TSC values read
// just before and just after it.
func TestCallMatchesReference(t *testing.T) {
	im, _ := parsed(t)
	exe := harness(t)
	base := uint64(calibrateTSC(t, exe))
	r := rand.New(rand.NewSource(3))
	for _, shift := range []uint32{0, 1, 31, 32, 33, 63, 64} {
		mult := r.Uint64()>>(64-shift) | 1
		if shift == 0 {
			mult = 1 + uint64(r.Intn(1000))
		}
		p := ClockParams{BaseTSC: base, Mult: mult, Shift: shift, MonotonicBase: r.Int63n(1 << 60)}
		out := runHarness(t, exe, im, p, "bracket")
		for _, b := range out["bracket"] {
			lo, hi := p.Monotonic(uint64(b[1])), p.Monotonic(uint64(b[3]))
			if b[0] != 0 || b[2] < lo || b[2] > hi {
				t.Fatalf("shift %d mult %#x: vDSO %d (returned %d), reference %d..%d", shift, mult, b[2], b[0], lo, hi)
			}
		}
		if len(out["bracket"]) != 100 {
			t.Fatalf("%d readings", len(out["bracket"]))
		}
	}
}

// calibrateTSC returns a TSC value read a moment ago.
func calibrateTSC(t *testing.T, exe string) int64 {
	t.Helper()
	return int64(calibrate(t, exe).BaseTSC)
}

// TestCallFallback runs the vDSO with the fallback flag and with an
// unwritten (zero) page: every answer must be the system call's, which the
// bad-pointer calls prove (-EFAULT where a fast path would crash).
func TestCallFallback(t *testing.T) {
	im, _ := parsed(t)
	exe := harness(t)
	for _, c := range []struct {
		name string
		p    ClockParams
	}{
		{"flag", ClockParams{Fallback: true, Mult: 1 << 32, Shift: 32, CPU: 4095, Node: 4095, TZMinutesWest: -60}},
		{"zero page", ClockParams{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := runHarness(t, exe, im, c.p, "fallback")
			for _, c := range out["clock"] {
				id, ret, a, v, b := c[0], c[1], c[2], c[3], c[4]
				if ret != 0 || v < a || v > b {
					t.Errorf("clock %d: returned %d, %d not within the host's %d..%d", id, ret, v, a, b)
				}
			}
			for _, k := range []string{"fault_clock", "fault_gtod", "fault_time", "fault_res", "fault_getcpu"} {
				if f := one(t, out, k); f[0] != -14 {
					t.Errorf("%s = %d, want -EFAULT from the system call", k, f[0])
				}
			}
			if g := one(t, out, "gtod_tz"); g[0] == -60 {
				t.Errorf("the fallback read the timezone from the page")
			}
			if g := one(t, out, "getcpu"); g[0] != 0 || g[1] == 4095 || g[2] == 4095 {
				t.Errorf("getcpu in fallback: %v (the page's values?)", g)
			}
			if g := one(t, out, "gtod_null"); g[0] != 0 {
				t.Errorf("gettimeofday(NULL, NULL) = %d", g[0])
			}
			if g := one(t, out, "getcpu_null"); g[0] != 0 {
				t.Errorf("getcpu(NULL, NULL, NULL) = %d", g[0])
			}
			for _, r := range out["res"] {
				if r[1] != 0 || r[2] != 0 || r[3] <= 0 {
					t.Errorf("clock_getres(%d): %v", r[0], r[1:])
				}
			}
		})
	}
}

// TestPrograms runs real static programs, a Go one and a C one linked with
// glibc and with musl, through testdata/loader.c with AT_SYSINFO_EHDR
// naming the image: their runtimes must find the vDSO by its symbols and
// versions and take their clocks from it. The data page sets the guest's
// clocks apart from the host's (realtime 10^6 s behind, monotonic 1000 s)
// so that only a clock read through the vDSO shows the shift.
func TestPrograms(t *testing.T) {
	im, _ := parsed(t)
	exe := harness(t)
	p := calibrate(t, exe)
	const realShift, monoShift = -1_000_000e9, -1000e9
	p.RealtimeOffset += realShift - monoShift
	p.MonotonicBase += monoShift
	p.CoarseResolution, p.CPU = 3_000_000, 4095 // unlike the host's

	dir := t.TempDir()
	loader := filepath.Join(dir, "loader")
	if out, err := exec.Command("gcc", "-O2", "-Wall", "-Werror", "-o", loader, "testdata/loader.c").CombinedOutput(); err != nil {
		t.Fatalf("building the loader: %v\n%s", err, out)
	}
	img, vv := filepath.Join(dir, "image"), filepath.Join(dir, "vvar")
	d := Data(p)
	if err := os.WriteFile(img, im.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vv, d[:], 0o644); err != nil {
		t.Fatal(err)
	}

	type prog struct {
		name  string
		build []string // command building dir/name
		env   []string
		mono  bool // prints the monotonic clock
	}
	progs := []prog{
		{"go", []string{"go", "build", "-o", "OUT", "./testdata/gotime"}, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}, false},
		{"glibc", []string{"gcc", "-O2", "-static", "-no-pie", "-o", "OUT", "testdata/ctime.c"}, nil, true},
		{"musl", []string{"musl-gcc", "-O2", "-static", "-no-pie", "-o", "OUT", "testdata/ctime.c"}, nil, true},
	}
	for _, pr := range progs {
		t.Run(pr.name, func(t *testing.T) {
			if _, err := exec.LookPath(pr.build[0]); err != nil {
				t.Skipf("%s not found: cannot build the %s program", pr.build[0], pr.name)
			}
			bin := filepath.Join(dir, pr.name)
			args := slicesReplace(pr.build, "OUT", bin)
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = append(os.Environ(), pr.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				if pr.name == "glibc" && bytes.Contains(out, []byte("cannot find -lc")) {
					t.Skipf("no static glibc (libc.a): %s", out)
				}
				t.Fatalf("building: %v\n%s", err, out)
			}
			out, err := exec.Command(loader, img, vv, bin).CombinedOutput()
			if err != nil {
				t.Fatalf("running: %v\n%s", err, out)
			}
			t.Logf("%s", out)
			if pr.name == "go" {
				out = append(out, "done\n"...)
			}
			res := lines(t, out)
			shifted := func(key string, shift, tolerance int64) {
				t.Helper()
				c := one(t, res, key)
				a, v, b := c[0]+shift, c[1], c[2]+shift
				if v < a-tolerance || v > b+tolerance {
					t.Errorf("%s: program read %d, the system call %d..%d shifted by %d (off by %d ns): not the vDSO's clock",
						key, v, a, b, shift, v-(a+b)/2)
				}
			}
			const tolerance = 5_000_000
			shifted("realtime", realShift, tolerance)
			if pr.mono {
				shifted("monotonic", monoShift, tolerance)
				shifted("gettimeofday", realShift, tolerance)
				shifted("time", realShift, 1e9+tolerance)
			}
			if pr.name == "glibc" { // musl's clock_getres makes the system call
				if r := one(t, res, "getres"); r[0] != 3_000_000 {
					t.Errorf("clock_getres(CLOCK_MONOTONIC_COARSE) = %d ns, not the page's 3000000", r[0])
				}
			}
			if pr.mono {
				if c := one(t, res, "getcpu"); c[0] != 4095 {
					t.Errorf("sched_getcpu() = %d, not the page's 4095", c[0])
				}
			}
			if s, ok := res["sleep"]; ok && (s[0][0] < 50e6 || s[0][0] > 5e9) {
				t.Errorf("Go's time.Sleep(50ms) took %d ns by its own clock", s[0][0])
			}
		})
	}
}

func slicesReplace(s []string, old, new string) []string {
	r := make([]string, len(s))
	for i, v := range s {
		if v == old {
			v = new
		}
		r[i] = v
	}
	return r
}
