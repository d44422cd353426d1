package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Exit statuses of the runner itself (run and debug instead pass on the
// kernel's own exit code).
const (
	exitOK      = 0
	exitFailed  = 1   // a boot's verdict failed
	exitUsage   = 2   // bad flags, failed build, missing tool
	exitTimeout = 124 // run/debug: the time limit expired (as timeout(1))
)

func main() {
	os.Exit(runMain(os.Args[1:]))
}

// subcommands maps a subcommand name to its implementation.
var subcommands = map[string]func(args []string) int{
	"boot":       cmdBoot,
	"test":       tableCommand("test", testTable),
	"fuzz":       tableCommand("fuzz", fuzzTable),
	"bench":      cmdBench,
	"run":        cmdRun,
	"debug":      cmdDebug,
	"profile":    cmdProfile,
	"iso":        cmdISO,
	"manifest":   cmdManifest,
	"vm":         cmdVM,
	"exec":       cmdExec,
	"linux":      cmdLinux,
	"linuxbench": cmdLinuxBench,
	"shelltest":  func([]string) int { return shellTestCommand() },
}

func runMain(args []string) int {
	name := "boot"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		fmt.Fprint(os.Stderr, usageText)
		return exitOK
	}
	cmd, ok := subcommands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "runner: unknown subcommand %q\n%s", name, usageText)
		return exitUsage
	}
	cleanupOnInterrupt()
	return cmd(args)
}

const usageText = `usage: go run ./qemu [subcommand] [flags]
subcommands: boot (the default), test, fuzz, bench, manifest, run, debug, profile, iso, vm, exec, linux, linuxbench, help
  exec [flags] -- PROGRAM [ARGS...]   run a static Linux program in beelzebox (exec -h)
  linux [flags]                       the Linux programs suite: native vs beelzebox (linux -h)
  linuxbench [flags]                  whole Linux programs per level in instructions, beside Linux 6.1
  profile [flags]                     a QEMU boot's instructions by kernel function (profile -h)
Run "go run ./qemu <subcommand> -h" for its flags; "go doc ./qemu" for details.
`

// commonFlags are the flags every booting subcommand shares.
type commonFlags struct {
	artefactFlags
	keep bool
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.noBuild, "nobuild", false, "do not run \"make -s build\" first")
	fs.StringVar(&c.kernel, "kernel", "", "boot this multiboot ELF instead of "+defaultKernel+" (implies -nobuild)")
	fs.StringVar(&c.initrd, "initrd", "", "multiboot module to pass (default "+defaultInitrd+" if it exists; \"none\" for no module)")
	fs.BoolVar(&c.keep, "keep", false, "keep Bochs work directories (ISO, bochsrc, bochs.log)")
}

// bootFlags describe one boot on the command line.
type bootFlags struct {
	emu      string
	cpu      string
	mem      string
	append   string
	timeout  time.Duration
	firmware string
	cpus     int
}

func (f *bootFlags) register(fs *flag.FlagSet, defaultEmu string) {
	fs.StringVar(&f.emu, "emu", defaultEmu, "emulator: qemu, qemu-icount, qemu-kvm or bochs")
	fs.StringVar(&f.cpu, "cpu", "", "CPU model (default max on QEMU, tigerlake on Bochs); QEMU takes modifiers, e.g. max,-pku")
	fs.StringVar(&f.mem, "m", DefaultMemory, "guest memory (QEMU -m syntax, e.g. 512M, 1G)")
	fs.StringVar(&f.append, "append", "", "kernel command line (Bochs adds console=e9)")
	fs.DurationVar(&f.timeout, "timeout", 0, "time limit (default 2m on QEMU, 3m with -firmware uefi, 10m on Bochs)")
	fs.StringVar(&f.firmware, "firmware", "", "boot through firmware and the hybrid ISO: bios (QEMU SeaBIOS, or Bochs' BIOS) or uefi (QEMU with OVMF); default: QEMU -kernel, Bochs' BIOS with a minimal El Torito CD")
	fs.IntVar(&f.cpus, "smp", 1, "number of CPUs (QEMU -smp, Bochs cpu count)")
}

func (f *bootFlags) boot() Boot {
	b := Boot{
		Name:     f.emu,
		Emu:      Emulator(f.emu),
		CPU:      f.cpu,
		Memory:   f.mem,
		Append:   f.append,
		Timeout:  f.timeout,
		Firmware: Firmware(f.firmware),
		CPUs:     f.cpus,
	}
	if b.CPU == "" {
		b.CPU = "max"
		if b.Emu == Bochs {
			b.CPU = "tigerlake"
		}
	}
	return b
}

// patternList is a repeatable -want flag.
type patternList []string

func (p *patternList) String() string { return strings.Join(*p, " ") }
func (p *patternList) Set(s string) error {
	if _, err := regexp.Compile(s); err != nil {
		return err
	}
	*p = append(*p, s)
	return nil
}

// prepare validates a boot given on the command line and sets up the
// artefacts it runs; false means a problem was reported.
func prepare(b Boot, c commonFlags) (Artefacts, bool) {
	if err := b.Validate(); err != nil {
		logf("%v", err)
		return Artefacts{}, false
	}
	return setup(c)
}

// setup finds the module root and the artefacts, building them first.
func setup(c commonFlags) (Artefacts, bool) {
	root, err := findRoot()
	if err != nil {
		logf("%v", err)
		return Artefacts{}, false
	}
	a, err := c.resolve(root)
	if err != nil {
		logf("%v", err)
		return a, false
	}
	return a, true
}

// parse parses a subcommand's flags; it reports false after printing the
// error.
func parse(fs *flag.FlagSet, args []string) bool {
	if err := fs.Parse(args); err != nil {
		return false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "runner: %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return false
	}
	return true
}

// cmdBoot runs one boot and judges it.
func cmdBoot(args []string) int {
	fs := flag.NewFlagSet("boot", flag.ContinueOnError)
	var c commonFlags
	var bf bootFlags
	var want patternList
	c.register(fs)
	bf.register(fs, string(QEMU))
	expect := fs.String("expect", "pass", "pass, or fail (an expected failure: needs -want)")
	fs.Var(&want, "want", "regexp that some console line must match (repeatable)")
	manifest := fs.String("manifest", "", "judge the tests by the manifest of this table boot (e.g. qemu-max)")
	printManifest := fs.Bool("print-manifest", false, "print the manifest observed from the run on stdout")
	if !parse(fs, args) {
		return exitUsage
	}
	b := bf.boot()
	b.Patterns = want
	if *manifest != "" {
		if m, err := loadManifest(*manifest); m == nil {
			logf("-manifest %s: no manifest of that name in %s (%v)", *manifest, manifestDir, err)
			return exitUsage
		}
		b.Name = *manifest
	}
	switch *expect {
	case "pass":
	case "fail":
		b.Expect = ExpectFail
	default:
		logf("-expect must be pass or fail")
		return exitUsage
	}
	a, ok := prepare(b, c)
	if !ok {
		return exitUsage
	}
	r := runBoot(b, a, runOptions{live: true, keep: c.keep})
	r.report()
	if *printManifest {
		if r.ObservedErr != nil {
			logf("no manifest from this run: %v", r.ObservedErr)
			return exitFailed
		}
		fmt.Print(r.Observed.Format(manifestHeader(b)))
	}
	if !r.Verdict.OK {
		return exitFailed
	}
	return exitOK
}

// selectBoots picks the table entries named in only (comma-separated), or
// all of them.
func selectBoots(table []Boot, only string) ([]Boot, error) {
	out := table
	if only != "" {
		out = nil
		for _, name := range strings.Split(only, ",") {
			found := false
			for _, b := range table {
				if b.Name == name {
					out = append(out, b)
					found = true
				}
			}
			if !found {
				var names []string
				for _, b := range table {
					names = append(names, b.Name)
				}
				return nil, fmt.Errorf("no boot named %q (have %s)", name, strings.Join(names, ", "))
			}
		}
	}
	return out, nil
}

// selectValidBoots is selectBoots, then every selected entry validated.
func selectValidBoots(table []Boot, only string) ([]Boot, error) {
	boots, err := selectBoots(table, only)
	if err != nil {
		return nil, err
	}
	for _, b := range boots {
		if err := b.Validate(); err != nil {
			return nil, err
		}
	}
	return boots, nil
}

// tableCommand is a subcommand that runs the boots of table (test, fuzz).
func tableCommand(name string, table []Boot) func(args []string) int {
	return func(args []string) int { return runTableCommand(name, table, args) }
}

func runTableCommand(name string, table []Boot, args []string) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	only := fs.String("only", "", "run only these table entries (comma-separated names)")
	jobs := fs.Int("j", min(2, runtime.NumCPU()), "QEMU boots to run at once (Bochs boots always run alone)")
	list := fs.Bool("list", false, "list the table and exit")
	if !parse(fs, args) {
		return exitUsage
	}
	boots, err := selectValidBoots(table, *only)
	if err != nil {
		logf("%v", err)
		return exitUsage
	}
	if *list {
		for _, b := range boots {
			fmt.Printf("%-18s expect %-4s %s\n", b.Name, b.Expect, b.Describe())
		}
		return exitOK
	}
	a, ok := setup(c)
	if !ok {
		return exitUsage
	}
	results := runTable(boots, a, max(1, *jobs), c.keep)
	var failed []string
	for _, r := range results {
		if !r.Verdict.OK {
			failed = append(failed, r.Boot.Name)
		}
	}
	if name == "test" && *only == "" && linuxSuiteInTest {
		if !linuxSuiteWithGuests(a, linuxSuiteTest) {
			failed = append(failed, "linux")
		}
		if !runShellSession(a) {
			failed = append(failed, "shell")
		}
	}
	if len(failed) > 0 {
		logf("%s: %d boots, %d passed, %d failed: %s", name, len(results), len(results)-len(failed), len(failed), strings.Join(failed, ", "))
		return exitFailed
	}
	logf("%s: %d boots, all passed", name, len(results))
	return exitOK
}

// cmdManifest runs the table boots that have manifests and prints the
// manifest each run shows, or with -write replaces the checked-in files;
// the diff is then the change of expectations to review. It never makes
// a failing test expected (see Checker.Observed).
func cmdManifest(args []string) int {
	fs := flag.NewFlagSet("manifest", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	only := fs.String("only", "", "only these boots of the test, bench and fuzz tables (default: every test-table boot that must pass)")
	jobs := fs.Int("j", min(2, runtime.NumCPU()), "QEMU boots to run at once (Bochs boots always run alone)")
	write := fs.Bool("write", false, "write "+manifestDir+"/<boot>.txt instead of printing")
	if !parse(fs, args) {
		return exitUsage
	}
	table := testTable
	if *only != "" {
		table = slices.Concat(testTable, benchTable, fuzzTable)
	}
	boots, err := selectValidBoots(table, *only)
	if err != nil {
		logf("%v", err)
		return exitUsage
	}
	boots = slices.DeleteFunc(boots, func(b Boot) bool { return b.Expect != ExpectPass })
	a, ok := setup(c)
	if !ok {
		return exitUsage
	}
	status := exitOK
	for _, r := range runTable(boots, a, max(1, *jobs), c.keep) {
		if r.ObservedErr != nil {
			logf("manifest %s: not written: %v", r.Boot.Name, r.ObservedErr)
			status = exitFailed
			continue
		}
		text := r.Observed.Format(manifestHeader(r.Boot))
		if !*write {
			fmt.Print(text)
			continue
		}
		file := filepath.Join(a.Root, manifestDir, r.Boot.Name+".txt")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			logf("manifest %s: %v", r.Boot.Name, err)
			status = exitFailed
			continue
		}
		logf("manifest %s: wrote %s (%d tests, %d bench figures)", r.Boot.Name, file, len(r.Observed.Tests), len(r.Observed.Bench))
	}
	return status
}

// runTable runs QEMU boots up to jobs at a time (each console held back and
// printed whole, unless only one runs at a time), then Bochs boots one at a
// time, streamed live. Bochs is CPU-bound and slow; running it beside
// anything else only makes its timeouts flaky.
func runTable(boots []Boot, a Artefacts, jobs int, keep bool) []BootResult {
	results := make([]BootResult, len(boots))
	var qemuIdx, bochsIdx []int
	for i, b := range boots {
		if b.Emu.IsQEMU() {
			qemuIdx = append(qemuIdx, i)
		} else {
			bochsIdx = append(bochsIdx, i)
		}
	}
	live := jobs == 1 || len(qemuIdx) == 1
	// A boot takes one slot per virtual CPU (up to all of them): QEMU's
	// multi-threaded TCG runs each on a host thread, and a boot with more
	// virtual CPUs than the host has free makes time-budget tests flaky.
	var mu sync.Mutex
	freed := sync.NewCond(&mu)
	free := jobs
	take := func(n int) {
		mu.Lock()
		for free < n {
			freed.Wait()
		}
		free -= n
		mu.Unlock()
	}
	give := func(n int) {
		mu.Lock()
		free += n
		mu.Unlock()
		freed.Broadcast()
	}
	done := make(chan struct{})
	for _, i := range qemuIdx {
		go func() {
			slots := min(max(1, boots[i].CPUs), jobs)
			take(slots)
			defer func() { give(slots); done <- struct{}{} }()
			announce(boots[i], "")
			r := runBoot(boots[i], a, runOptions{live: live, keep: keep})
			r.report()
			r.log.flush()
			results[i] = r
		}()
	}
	for range qemuIdx {
		<-done
	}
	for _, i := range bochsIdx {
		announce(boots[i], "")
		r := runBoot(boots[i], a, runOptions{live: true, keep: keep})
		r.report()
		results[i] = r
	}
	return results
}

// cmdBench runs the bench table and prints every bench line as
// "bench <emulator> <name> ...".
func cmdBench(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	only := fs.String("only", "", "run only these bench entries (comma-separated names)")
	verbose := fs.Bool("v", false, "stream the consoles (otherwise shown only for a failed boot)")
	if !parse(fs, args) {
		return exitUsage
	}
	boots, err := selectValidBoots(benchTable, *only)
	if err != nil {
		logf("%v", err)
		return exitUsage
	}
	a, ok := setup(c)
	if !ok {
		return exitUsage
	}
	status := exitOK
	for _, b := range boots {
		if err := runBench(b, a, *verbose, c.keep); err != nil {
			logf("bench %s: %v", b.Name, err)
			status = exitFailed
		}
	}
	return status
}

// runBench boots b Repeat times (at least once), checks that repeated runs
// agree figure for figure, and prints the first run's bench lines.
func runBench(b Boot, a Artefacts, verbose, keep bool) error {
	runs := max(1, b.Repeat)
	var results []BootResult
	for i := range runs {
		announce(b, fmt.Sprintf(" (run %d of %d)", i+1, runs))
		r := runBoot(b, a, runOptions{live: verbose, keep: keep})
		if r.Verdict.OK {
			r.log.entries = nil // the console is only shown for a failed boot
		}
		r.report()
		r.log.flush()
		if !r.Verdict.OK {
			return errors.New("boot failed")
		}
		results = append(results, r)
	}
	for _, br := range results[0].Bench {
		fmt.Printf("bench %s %s\n", b.Emu, br)
	}
	if runs > 1 {
		for i := 1; i < runs; i++ {
			if err := compareBench(results[0].Bench, results[i].Bench); err != nil {
				fmt.Printf("bench %s repeat: differs: %v\n", b.Emu, err)
				return fmt.Errorf("figures differ between runs 1 and %d: %v", i+1, err)
			}
		}
		fmt.Printf("bench %s repeat: identical\n", b.Emu)
	}
	return nil
}

// cmdRun is the demo: one boot, console streamed, no time limit unless
// asked, and the kernel's exit code as the runner's.
func cmdRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c commonFlags
	var bf bootFlags
	c.register(fs)
	bf.register(fs, string(QEMU))
	fs.Lookup("timeout").Usage = "time limit (default none)"
	if !parse(fs, args) {
		return exitUsage
	}
	b := bf.boot()
	a, ok := prepare(b, c)
	if !ok {
		return exitUsage
	}
	return interactive(b, a, runOptions{live: true, keep: c.keep, noTimeout: bf.timeout == 0})
}

// cmdDebug boots QEMU halted at the first instruction, waiting for gdb.
func cmdDebug(args []string) int {
	fs := flag.NewFlagSet("debug", flag.ContinueOnError)
	var c commonFlags
	var bf bootFlags
	c.register(fs)
	bf.register(fs, string(QEMU))
	gdb := fs.String("gdb", "127.0.0.1:1234", "address QEMU's gdb stub listens on")
	if !parse(fs, args) {
		return exitUsage
	}
	b := bf.boot()
	if !b.Emu.IsQEMU() {
		logf("debug needs QEMU")
		return exitUsage
	}
	a, ok := prepare(b, c)
	if !ok {
		return exitUsage
	}
	logf("QEMU is waiting for gdb: gdb -ex 'target remote %s' %s", *gdb, a.path(a.Kernel))
	return interactive(b, a, runOptions{live: true, gdb: *gdb, noTimeout: bf.timeout == 0})
}

// interactive runs a boot for a person watching and returns the kernel's
// exit code: QEMU status (code<<1)|1 gives code; a reset or triple fault
// (status 0) gives 1. Bochs has no exit code, so the console verdict
// decides between 0 and 1.
func interactive(b Boot, a Artefacts, o runOptions) int {
	r := runBoot(b, a, o)
	how := "bochs exited"
	switch {
	case r.Outcome.Err != nil:
		how = "emulator: " + r.Outcome.Err.Error()
	case r.Outcome.TimedOut:
		how = fmt.Sprintf("timed out after %v", r.Outcome.Timeout)
	case b.Emu.IsQEMU():
		how = describeQEMUStatus(r.Outcome.Status)
	case r.Outcome.Note != "":
		how = "bochs stopped: " + r.Outcome.Note
	}
	console := "no final line"
	if f := r.Verdict.Final; f != nil {
		console = f.String()
	}
	logf("%s (%.1fs); console: %s", how, r.Elapsed.Seconds(), console)
	switch {
	case r.Outcome.Err != nil:
		return exitUsage
	case r.Outcome.TimedOut:
		return exitTimeout
	case b.Emu.IsQEMU() && r.Outcome.Status > 0 && r.Outcome.Status&1 == 1:
		return r.Outcome.Status >> 1
	case b.Emu == Bochs && r.Verdict.OK:
		return exitOK
	}
	return exitFailed
}

// cmdISO builds build/beelzebox.iso.
func cmdISO(args []string) int {
	fs := flag.NewFlagSet("iso", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	out := fs.String("o", defaultISO, "output file")
	cmdline := fs.String("append", "", "kernel command line in the boot entry")
	eltorito := fs.Bool("eltorito", false, "build the minimal El Torito image (as for Bochs: BIOS, CD only) instead of the hybrid one")
	timeout := fs.Int("menu-timeout", 3, "seconds GRUB's menu waits before it boots (hybrid image)")
	if !parse(fs, args) {
		return exitUsage
	}
	a, ok := setup(c)
	if !ok {
		return exitUsage
	}
	dir, err := makeTempDir("beelzebox-iso-")
	if err != nil {
		logf("%v", err)
		return exitUsage
	}
	defer removeTempDir(dir)
	dest := relativeTo(a.Root, *out)
	dest = a.path(dest)
	kind := "hybrid: BIOS and UEFI, CD or USB stick"
	if *eltorito {
		kind = "El Torito (CD only, BIOS)"
		err = buildElToritoISO(dir, a, *cmdline, dest)
	} else {
		err = buildRescueISO(dir, a, *cmdline, dest, *timeout)
	}
	if err != nil {
		logf("iso: %v", err)
		return exitUsage
	}
	logf("iso: wrote %s, %s", dest, kind)
	return exitOK
}

func haveTool(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
