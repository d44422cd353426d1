package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		bad  bool
	}{
		{"a b  c", []string{"a", "b", "c"}, false},
		{`/bin/sh -c "echo \"hi\"\n" ""`, []string{"/bin/sh", "-c", "echo \"hi\"\n", ""}, false},
		{"x `raw $1 \"q\"\\n` y", []string{"x", `raw $1 "q"\n`, "y"}, false},
		{"\t lead trail \t", []string{"lead", "trail"}, false},
		{"", nil, false},
		{`"unterminated`, nil, true},
		{`"a"b`, nil, true},
		{`a"b"`, nil, true},
	}
	for _, tc := range tests {
		got, err := splitWords(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("splitWords(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseLinuxCases(t *testing.T) {
	text := `# comment
case a/one
run /bin/echo "x y" z
stdin "in\n"
env FOO=1 PATH=/usr/bin
cwd /tmp
levels 1,3
xdiff "known"

case b
  run /bin/true
`
	cs, err := parseLinuxCases([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []linuxCase{
		{Name: "a/one", Line: 2, Args: []string{"/bin/echo", "x y", "z"}, Env: []string{"HOME=/", "LC_ALL=C", "FOO=1", "PATH=/usr/bin"},
			Cwd: "/tmp", Stdin: []byte("in\n"), Levels: []int{1, 3}, Xdiff: "known"},
		{Name: "b", Line: 10, Args: []string{"/bin/true"}, Env: []string{"PATH=/bin", "HOME=/", "LC_ALL=C"}},
	}
	if !reflect.DeepEqual(cs, want) {
		t.Errorf("got\n%+v\nwant\n%+v", cs, want)
	}
	bad := []string{
		"run /bin/true\n", // before a case
		"case a\n",        // no run
		"case a\nrun /bin/true\ncase a\nrun /bin/true\n", // repeated name
		"case a b\nrun x\n",           // two names
		"case a\nrun x\nrun y\n",      // two run lines
		"case a\nrun x\nlevels 4\n",   // bad level
		"case a\nrun x\nlevels 1,1\n", // repeated level
		"case a\nrun x\ncwd tmp\n",    // relative cwd
		"case a\nrun x\nenv NOEQ\n",   // env without =
		"case a\nrun x\nstdin a b\n",  // two stdin words
		"case a\nrun x\nfrobnicate\n", // unknown directive
		"case a\nrun \"x\n",           // bad quoting
	}
	for _, s := range bad {
		if _, err := parseLinuxCases([]byte(s)); err == nil {
			t.Errorf("parseLinuxCases(%q) accepted", s)
		}
	}
}

func TestTheCasesFile(t *testing.T) {
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, linuxCasesFile))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := parseLinuxCases(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) < 45 {
		t.Errorf("%d cases, want at least 45", len(cs))
	}
	kinds := map[string]int{}
	for _, c := range cs {
		kinds[strings.Split(c.Name, "/")[0]]++
	}
	for _, k := range []string{"busybox", "uroot", "go", "musl", "glibc"} {
		if kinds[k] == 0 {
			t.Errorf("no %s cases", k)
		}
	}
	// Every program a case names exists in a built linuxroot, unless the
	// case is about a missing program.
	lr := filepath.Join(root, linuxRootDir)
	if _, err := os.Stat(filepath.Join(lr, "bin", "busybox")); err != nil {
		t.Skipf("%s not built (make linux-guests)", lr)
	}
	for _, c := range cs {
		p := c.Args[0]
		if !strings.HasPrefix(p, "/") {
			p = filepath.Join(c.Cwd, p)
		}
		if _, err := os.Lstat(filepath.Join(lr, p)); err != nil && !strings.Contains(c.Name, "missing") {
			t.Errorf("case %s: %s is not in %s", c.Name, c.Args[0], linuxRootDir)
		}
	}
}

func TestLinuxGuestCases(t *testing.T) {
	cs := []linuxCase{
		{Name: "a", Args: []string{"/a"}, Env: []string{"X=1"}, Stdin: []byte("in")},
		{Name: "b", Args: []string{"/b"}, Levels: []int{3}, Cwd: "/tmp"},
	}
	got, stdin := linuxGuestCases(cs, []int{1, 3})
	var names []string
	for _, g := range got {
		names = append(names, g.Name)
	}
	if !reflect.DeepEqual(names, []string{"l1/a", "l3/a", "l3/b"}) {
		t.Errorf("names %q", names)
	}
	if got[2].Level != 3 || got[2].Cwd != "/tmp" || !reflect.DeepEqual(got[0].Env, []string{"X=1"}) {
		t.Errorf("cases %+v", got)
	}
	if len(stdin) != 2 || string(stdin["l1/a"]) != "in" || string(stdin["l3/a"]) != "in" {
		t.Errorf("stdin %q", stdin)
	}
	if _, err := encodeCases(got); err != nil {
		t.Error(err)
	}
}

func TestJudgeLinuxRun(t *testing.T) {
	c := linuxCase{Name: "x"}
	native := runResult{Stdout: []byte("a\nbc\n"), Stderr: []byte("e"), Status: 3}
	same := &execResult{Name: "l1/x", Level: 1, Began: true, Ended: true, Stdout: []byte("a\nbc\n"), Stderr: []byte("e"), Status: 3}
	if v, why := judgeLinuxRun(c, 1, native, same); v != "ok" || why != "" {
		t.Errorf("same: %s %q", v, why)
	}
	other := *same
	other.Stdout = []byte("a\nbd\n")
	v, why := judgeLinuxRun(c, 1, native, &other)
	if v != "FAIL" || !strings.Contains(why, "stdout differs at byte 3 (line 2") || !strings.Contains(why, `native "bc\n"`) || !strings.Contains(why, `beelzebox "bd\n"`) {
		t.Errorf("stdout differs: %s %q", v, why)
	}
	other = *same
	other.Status = 139
	if v, why := judgeLinuxRun(c, 1, native, &other); v != "FAIL" || why != "status: native 3, beelzebox 139" {
		t.Errorf("status: %s %q", v, why)
	}
	other = *same
	other.Stderr = nil
	if v, why := judgeLinuxRun(c, 1, native, &other); v != "FAIL" || !strings.Contains(why, "stderr differs at byte 0") {
		t.Errorf("stderr: %s %q", v, why)
	}
	if v, why := judgeLinuxRun(linuxCase{Xdiff: "expected"}, 1, native, &other); v != "known" || !strings.HasPrefix(why, "expected: stderr") {
		t.Errorf("xdiff: %s %q", v, why)
	}
	if v, _ := judgeLinuxRun(c, 2, native, same); v != "FAIL" {
		t.Errorf("wrong level: %s", v)
	}
	if v, why := judgeLinuxRun(c, 1, native, nil); v != "FAIL" || !strings.Contains(why, "exec: end") {
		t.Errorf("never ran: %s %q", v, why)
	}
	notEnded := &execResult{Name: "l1/x", Errors: []string{"cannot load"}}
	if v, why := judgeLinuxRun(c, 1, native, notEnded); v != "FAIL" || !strings.Contains(why, "cannot load") {
		t.Errorf("error: %s %q", v, why)
	}
	problem := *same
	problem.Problems = []string{"bad base64"}
	if v, why := judgeLinuxRun(c, 1, native, &problem); v != "FAIL" || why != "bad base64" {
		t.Errorf("problem: %s %q", v, why)
	}
	// A longer guest output is a difference at the end of the native one.
	if d := firstDifference("stdout", []byte("ab"), []byte("abc")); !strings.Contains(d, "at byte 2") {
		t.Errorf("firstDifference = %q", d)
	}
}

// nativeRoot returns the module root if native runs can be tested: root
// privileges and a built linuxroot.
func nativeRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("native runs chroot: needs root")
	}
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, linuxRootDir, "bin", "busybox")); err != nil {
		t.Skipf("%s not built (make linux-guests)", linuxRootDir)
	}
	return root
}

func TestRunNative(t *testing.T) {
	root := nativeRoot(t)
	farm, err := nativeFarm(root)
	if err != nil {
		t.Fatal(err)
	}
	defer removeTempDir(farm)
	noCoreDumps()
	env := []string{"PATH=/bin", "HOME=/", "LC_ALL=C"}
	tests := []struct {
		c              linuxCase
		stdout, stderr string
		status         int
	}{
		{linuxCase{Args: []string{"/bin/echo", "a", "b"}, Env: env}, "a b\n", "", 0},
		{linuxCase{Args: []string{"/bin/sort"}, Env: env, Stdin: []byte("b\na\n")}, "a\nb\n", "", 0},
		{linuxCase{Args: []string{"/bin/env"}, Env: []string{"ONLY=this"}}, "ONLY=this\n", "", 0},
		{linuxCase{Args: []string{"/bin/sh", "-c", "pwd; echo x >&2; exit 9"}, Env: env, Cwd: "/bin/musl"}, "/bin/musl\n", "x\n", 9},
		{linuxCase{Args: []string{"musl/hello"}, Env: env, Cwd: "/bin"}, "hello from musl/hello (1 args)\n", "", 0},
		{linuxCase{Args: []string{"/bin/sh", "-c", "echo left > /tmp/mark; ls /tmp"}, Env: env}, "mark\n", "", 0},
		// A fresh /tmp for every case: the mark is gone.
		{linuxCase{Args: []string{"/bin/ls", "-a", "/tmp"}, Env: env}, ".\n..\n", "", 0},
		{linuxCase{Args: []string{"/bin/musl/fault"}, Env: env}, "about to fault\n", "", 139},
		{linuxCase{Args: []string{"/bin/glibc/exitcode", "abort", "0"}, Env: env}, "", "", 134},
		{linuxCase{Args: []string{"/bin/nope"}, Env: env}, "", "", 127},
		{linuxCase{Args: []string{"/tmp"}, Env: env}, "", "", 126},
	}
	for _, tc := range tests {
		r := runNative(farm, tc.c, 20*time.Second)
		if string(r.Stdout) != tc.stdout || string(r.Stderr) != tc.stderr || r.Status != tc.status {
			t.Errorf("%q: stdout %q stderr %q status %d (%s); want %q %q %d", tc.c.Args, r.Stdout, r.Stderr, r.Status, r.Note, tc.stdout, tc.stderr, tc.status)
		}
	}
	r := runNative(farm, linuxCase{Args: []string{"/bin/sleep", "10"}, Env: env}, 200*time.Millisecond)
	if r.Status != 124 {
		t.Errorf("time limit: status %d, want 124", r.Status)
	}
	// The farm is a copy: removing a file in it leaves linuxroot alone.
	runNative(farm, linuxCase{Args: []string{"/bin/rm", "/bin/musl/hello"}, Env: env}, 20*time.Second)
	if _, err := os.Stat(filepath.Join(root, linuxRootDir, "bin", "musl", "hello")); err != nil {
		t.Errorf("a native run removed a file of linuxroot: %v", err)
	}
}

// TestTheCasesAreDeterministic runs every case natively twice: a case
// whose output changes from run to run could never match beelzebox.
func TestTheCasesAreDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	root := nativeRoot(t)
	data, err := os.ReadFile(filepath.Join(root, linuxCasesFile))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := parseLinuxCases(data)
	if err != nil {
		t.Fatal(err)
	}
	farm, err := nativeFarm(root)
	if err != nil {
		t.Fatal(err)
	}
	defer removeTempDir(farm)
	noCoreDumps()
	for _, c := range cs {
		a := runNative(farm, c, nativeTimeout)
		b := runNative(farm, c, nativeTimeout)
		if d := compareRuns(a, b); d != "" {
			t.Errorf("case %s differs between two native runs: %s", c.Name, d)
		}
		if a.Status == 124 || a.Status == 125 {
			t.Errorf("case %s: status %d (%s)", c.Name, a.Status, a.Note)
		}
	}
}

// TestRunLinuxSuiteWithAFakeQEMU runs the suite's whole path: native
// runs, the archive, one boot (a fake QEMU printing exec lines), verdicts.
func TestRunLinuxSuiteWithAFakeQEMU(t *testing.T) {
	root := nativeRoot(t)
	dir := fakeQEMU(t)
	cases := filepath.Join(dir, "cases.txt")
	text := "case same\nrun /bin/echo hi\ncase differs\nrun /bin/false\ncase known\nrun /bin/true\nxdiff \"on purpose\"\ncase onlythree\nrun /bin/true\nlevels 3\n"
	if err := os.WriteFile(cases, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	console := []string{
		"beelzebox: booting",
		"exec: begin l1/same level 1", "exec|1 " + b64("hi\n"), "exec: end l1/same level 1 status 0",
		"exec: begin l1/differs level 1", "exec|2 " + b64("surprise\n"), "exec: end l1/differs level 1 status 1",
		"exec: begin l1/known level 1", "exec: nosys l1/known rseq=1", "exec: end l1/known level 1 status 5",
		"exec: done 3",
	}
	con := filepath.Join(dir, "console")
	if err := os.WriteFile(con, []byte(strings.Join(console, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_CONSOLE", con)
	var out bytes.Buffer
	execStdout = &out
	defer func() { execStdout = os.Stdout }()
	a := Artefacts{Root: root, Kernel: filepath.Join(dir, "console")}
	ok := runLinuxSuite(a, linuxOptions{Emu: QEMU, CPU: "max", Memory: "1G", Levels: []int{1}, Timeout: time.Minute, Cases: cases})
	if ok {
		t.Error("the suite passed with a differing run")
	}
	want := "ok    l1 same\n" +
		"FAIL  l1 differs: stderr differs at byte 0 (line 1; native 0 bytes, beelzebox 9): native \"\", beelzebox \"surprise\\n\"\n" +
		"known l1 known: on purpose: status: native 0, beelzebox 5 [nosys rseq=1]\n"
	if out.String() != want {
		t.Errorf("output\n%s\nwant\n%s", out.String(), want)
	}
	data, err := os.ReadFile(filepath.Join(dir, "initrd.cpio"))
	if err != nil {
		t.Fatal(err)
	}
	infos, contents, _ := readArchive(t, data)
	if !strings.Contains(contents["exec/cases"], "case l1/same\nlevel 1\narg \"/bin/echo\"\narg \"hi\"\nenv \"PATH=/bin\"\nenv \"HOME=/\"\nenv \"LC_ALL=C\"\nend\n") ||
		strings.Contains(contents["exec/cases"], "onlythree") {
		t.Errorf("exec/cases:\n%s", contents["exec/cases"])
	}
	if infos["root/bin/echo"].Mode&cpio.S_IFMT != cpio.S_IFLNK || contents["root/bin/echo"] != "busybox" {
		t.Errorf("root/bin/echo: mode %o -> %q, want a symlink to busybox", infos["root/bin/echo"].Mode, contents["root/bin/echo"])
	}
	if infos["root/tmp"].Mode != cpio.S_IFDIR|0o1777 {
		t.Errorf("root/tmp mode %o", infos["root/tmp"].Mode)
	}
}

// TestXdiffLevels: a difference is known only at the levels xdiff-levels
// names.
func TestXdiffLevels(t *testing.T) {
	cs, err := parseLinuxCases([]byte("case a\nrun /bin/x\nxdiff \"why\"\nxdiff-levels 1,2\n"))
	if err != nil || len(cs) != 1 {
		t.Fatalf("%v %v", cs, err)
	}
	native := runResult{Status: 0}
	for _, c := range []struct {
		level int
		want  string
	}{{1, "known"}, {2, "known"}, {3, "FAIL"}} {
		res := &execResult{Began: true, Ended: true, Level: c.level, Status: 1}
		if got, why := judgeLinuxRun(cs[0], c.level, native, res); got != c.want {
			t.Errorf("level %d: %s (%s), want %s", c.level, got, why, c.want)
		}
	}
	// A note that no longer holds fails: it would hide a regression.
	res := &execResult{Began: true, Ended: true, Level: 1, Status: 0}
	if got, why := judgeLinuxRun(cs[0], 1, native, res); got != "FAIL" || !strings.Contains(why, "agrees with Linux") {
		t.Errorf("a stale xdiff: %s (%s), want FAIL", got, why)
	}
}
