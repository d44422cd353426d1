package tests

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"beelzebox/cpu"
	"beelzebox/kernel"
	"beelzebox/mm"
	"beelzebox/sandbox"
	"beelzebox/sandbox/abi"
)

// The fuzz suite runs random guests at every level of ringLevels (not
// part of "all": `make fuzz` and its short boot in `make test` name it).
// Each case is random bytes or a template from fuzz_templates.go, generated from the
// seed, the level and the case number alone, so any case can be replayed
// by itself. A case runs in a guest that is reused for fuzzGuestReuse
// cases (its code, stack and registers rewritten, regions the case mapped
// removed) and then closed and created again, so New and Close are fuzzed
// too. After every batch the kernel's health is checked: a known-good
// guest round trip, goroutines and timers, allocation and a collection,
// and the frames and page tables guests hold back at their baseline.
// After every Run the host goroutine's MXCSR, x87 control word, RFLAGS
// and PKRU must be what they were. At levels 2 and 3 a bystander guest
// (fuzzVictim) lives beside the fuzz guests: after every case its memory
// must be what it was, and after every batch its thread must run as
// before. At level 3 the PCIDs guest spaces hold are back at their
// baseline after every batch too.
//
// A kernel fault that kills the machine is reported by the kernel, which
// then prints the crash note naming the case (kernel.SetCrashNote); what
// the kernel survives but must not do (a Run error, guest state leaking
// into the host, a kill at level 1, a host panic, a failed health check)
// is a finding, printed with the seed and the case, and counted in the
// last line of each level:
//
//	fuzz level<N>: <cases> cases, <faults> kernel faults, seed <seed>
//
// Command line (besides suites=fuzz):
//
//	fuzz.cases=N       cases per level (default 100000)
//	fuzz.seed=S        the seed (default: drawn at boot, and printed)
//	fuzz.case=K        run case K alone at each level, tracing every exit
//	fuzz.first=K       start the run at case K (a multiple of 500 starts
//	                   a batch, with a fresh guest, as the full run did):
//	                   to replay a case in the state its batch left
//	fuzz.code=HEX      with fuzz.case: run these bytes instead of the case's
//	                   code (its registers and stack stay): to minimise a
//	                   reproducer
//	fuzz.announce=1    print each case before it runs (to find the case a
//	                   hung or triple-faulted kernel was running)
//	fuzz.exclude=a,b   leave these templates out (names in fuzzTemplates)
//	fuzz.levels=3,...  fuzz only these levels (a targeted long run): the
//	                   others pass at once, saying so
func init() {
	for _, l := range ringLevels {
		RegisterWithTimeout("fuzz", fmt.Sprintf("level%d", l), 3*time.Hour, func(t *T) {
			if l == sandbox.Level2 && !cpu.CPU.PKU {
				t.Skip("pku", "(CPUID.(EAX=7,ECX=0):ECX.PKU) is missing: level 2 is unavailable")
			}
			if fuzzSettings.levels != nil && !fuzzSettings.levels[l] {
				fmt.Printf("fuzz level%d: not fuzzed (fuzz.levels)\n", l)
				return
			}
			runFuzz(t, l)
		})
	}
}

// fuzzSettings are the fuzz.* words of the kernel command line.
var fuzzSettings = struct {
	cases     int
	first     int // the first case of a run (cases below it are skipped)
	seed      uint64
	seedGiven bool
	only      int    // the case to run alone, or -1
	code      []byte // the code to run in it instead, or nil
	announce  bool
	exclude   map[string]bool
	levels    map[sandbox.Level]bool // nil: every level
}{cases: 100000, only: -1, exclude: map[string]bool{}}

// SetFuzzOption applies the kernel command-line word fuzz.<key>=<value>.
func SetFuzzOption(key, value string) error {
	switch key {
	case "cases", "case", "first":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || (key == "cases" && n == 0) {
			return fmt.Errorf("fuzz.%s=%q: want a number of cases", key, value)
		}
		switch key {
		case "cases":
			fuzzSettings.cases = n
		case "first":
			fuzzSettings.first = n
		default:
			fuzzSettings.only = n
		}
	case "seed":
		s, err := strconv.ParseUint(value, 0, 64)
		if err != nil {
			return fmt.Errorf("fuzz.seed=%q: %v", value, err)
		}
		fuzzSettings.seed, fuzzSettings.seedGiven = s, true
	case "code":
		b, err := hex.DecodeString(value)
		if err != nil {
			return fmt.Errorf("fuzz.code=%q: %v", value, err)
		}
		fuzzSettings.code = b
	case "announce":
		fuzzSettings.announce = value == "1"
	case "exclude":
		for _, name := range strings.Split(value, ",") {
			if fuzzTemplateNamed(name) == nil {
				return fmt.Errorf("fuzz.exclude: no template %q (have %s)", name, strings.Join(fuzzTemplateNames(), ", "))
			}
			fuzzSettings.exclude[name] = true
		}
	case "levels":
		fuzzSettings.levels = map[sandbox.Level]bool{}
		for _, w := range strings.Split(value, ",") {
			n, err := strconv.Atoi(w)
			if err != nil || !slices.Contains(ringLevels, sandbox.Level(n)) {
				return fmt.Errorf("fuzz.levels=%q: want levels among %v", value, ringLevels)
			}
			fuzzSettings.levels[sandbox.Level(n)] = true
		}
	default:
		return fmt.Errorf("unknown option fuzz.%s (have fuzz.cases, fuzz.first, fuzz.seed, fuzz.case, fuzz.code, fuzz.announce, fuzz.exclude, fuzz.levels)", key)
	}
	return nil
}

const (
	// fuzzBatch cases run between two health checks.
	fuzzBatch = 500
	// fuzzGuestReuse cases run in one guest before it is closed and a new
	// one created.
	fuzzGuestReuse = 100
	// fuzzBudget is the CPU time of one Run: a looping case ends quickly.
	fuzzBudget = time.Millisecond
	// fuzzMaxReported findings are printed in full; the rest are counted.
	fuzzMaxReported = 20
	// fuzzStall is how long a case may take before the watchdog says so.
	fuzzStall = 20 * time.Second
	// fuzzRunLimit is how long a Run may take, far beyond fuzzBudget:
	// only a Run that cannot end (a loop in the kernel or the backend
	// that the budget does not bound) meets it. It is interrupted, and
	// that is a finding.
	fuzzRunLimit = 2 * time.Second
)

// fuzzSeed is the run's seed, the same at both levels: fuzz.seed, or
// drawn once at boot.
var fuzzSeed = sync.OnceValue(func() uint64 {
	if fuzzSettings.seedGiven {
		return fuzzSettings.seed
	}
	return kernel.Random() >> 1 // below 1<<63: parses back with any strconv call
})

// fuzzer runs the cases of one level.
type fuzzer struct {
	t       *T
	level   sandbox.Level
	seed    uint64
	guest   sandbox.Guest
	victim  *fuzzVictim // levels 2 and 3
	layout  fuzzLayout
	uses    int    // cases run in guest
	stack   []byte // the stack image of a case, reused
	trace   bool   // print every exit (a replayed case)
	current atomic.Int64
	note    []byte

	host     hostState
	findings int
	stats    fuzzStats
}

// fuzzStats counts how cases ended, to show what the run covered.
type fuzzStats struct {
	syscalls, budgets, kills, refused int
	threads, threadsRefused           int // extra threads created, NewThread refusals
	faults                            [32]int
	templates                         map[string]int
}

// hostState is the host goroutine's CPU state that guests must not change.
type hostState struct {
	mxcsr uint32 // control bits only (the exception flags are sticky)
	fcw   uint16
	flags uint64 // TF, DF and AC
	pkru  uint32 // 0 without PKU
}

// setHostFPControl is in fuzz_amd64.s.
func setHostFPControl(mxcsr uint32, fcw uint16)

func readHostState() hostState {
	s := hostState{mxcsr: cpu.MXCSR() &^ 0x3f, fcw: cpu.FPUControl(), flags: cpu.Flags() & (cpu.FlagTF | cpu.FlagDF | cpu.FlagAC)}
	if cpu.CPU.PKU {
		s.pkru = cpu.Rdpkru()
	}
	return s
}

func (s hostState) String() string {
	return fmt.Sprintf("MXCSR %#x, x87 CW %#x, TF|DF|AC %#x, PKRU %#x", s.mxcsr, s.fcw, s.flags, s.pkru)
}

func runFuzz(t *T, l sandbox.Level) {
	f := &fuzzer{t: t, level: l, seed: fuzzSeed(), host: readHostState(), stats: fuzzStats{templates: map[string]int{}}}
	if len(fuzzTemplatesIn()) == 0 {
		t.Fatalf("fuzz.exclude left no template")
	}
	fmt.Printf("fuzz level%d: seed %d; replay a case with %s\n", l, f.seed, f.replayArgs("K"))
	defer kernel.SetCrashNote(nil)
	if l != sandbox.Level1 { // a level 1 guest may write anywhere: no bystander
		v, err := newFuzzVictim(l)
		if err != nil {
			t.Fatalf("creating the bystander guest: %v", err)
		}
		f.victim = v
		defer v.g.Close()
	}
	if k := fuzzSettings.only; k >= 0 {
		f.trace = true
		f.runCases(k, k+1)
		f.closeGuest()
		f.report(1, 0)
		return
	}
	stop := f.watch()
	defer close(stop)
	baseline, pcids := measureGuestFootprint(), mm.PCIDsInUse()
	start := time.Now()
	for lo := fuzzSettings.first; lo < fuzzSettings.cases; lo += fuzzBatch {
		hi := min(lo+fuzzBatch, fuzzSettings.cases)
		f.runCases(lo, hi)
		f.closeGuest()
		baseline = f.checkHealth(lo, hi, baseline, pcids)
		// Progress, so that a kernel that hangs or triple-faults (no
		// report, no crash note) is known to have done so in the next
		// batch.
		fmt.Printf("fuzz level%d: cases %d-%d done, %d kernel faults so far\n", l, lo, hi-1, f.findings)
	}
	f.report(max(0, fuzzSettings.cases-fuzzSettings.first), time.Since(start))
}

// report prints the coverage and the level's last line, and fails the
// test if there were findings.
func (f *fuzzer) report(cases int, elapsed time.Duration) {
	s := &f.stats
	var faults []string
	for v, n := range s.faults {
		if n > 0 {
			faults = append(faults, fmt.Sprintf("%s %d", cpu.VectorName(uint64(v)), n))
		}
	}
	fmt.Printf("fuzz level%d: exits: syscall %d, budget %d, killed %d; refused %d; extra threads %d, refused %d; faults: %s\n",
		f.level, s.syscalls, s.budgets, s.kills, s.refused, s.threads, s.threadsRefused, strings.Join(faults, ", "))
	var templates []string
	for _, tp := range fuzzTemplates {
		templates = append(templates, fmt.Sprintf("%s %d", tp.name, s.templates[tp.name]))
	}
	fmt.Printf("fuzz level%d: templates: %s\n", f.level, strings.Join(templates, ", "))
	if elapsed > 0 {
		fmt.Printf("fuzz level%d: %d cases in %.1f s: %.0f cases/s\n", f.level, cases, elapsed.Seconds(), float64(cases)/elapsed.Seconds())
	}
	fmt.Printf("fuzz level%d: %d cases, %d kernel faults, seed %d\n", f.level, cases, f.findings, f.seed)
	if f.findings > 0 {
		f.t.Errorf("%d kernel faults at level %d, seed %d (see the fuzz: FOUND lines)", f.findings, f.level, f.seed)
	}
}

// found reports a finding of case k (-1: of the batch named in what).
func (f *fuzzer) found(k int, template, what string) {
	f.findings++
	if f.findings > fuzzMaxReported {
		return
	}
	if k < 0 {
		fmt.Printf("fuzz: FOUND level %d seed %d: %s\n", f.level, f.seed, what)
		return
	}
	fmt.Printf("fuzz: FOUND level %d seed %d case %d (%s): %s; replay: %s\n", f.level, f.seed, k, template, what, f.replayArgs(k))
}

// replayArgs is the command line that runs case k alone.
func (f *fuzzer) replayArgs(k any) string {
	s := fmt.Sprintf("suites=fuzz fuzz.seed=%d fuzz.case=%v", f.seed, k)
	var excluded []string
	for _, tp := range fuzzTemplates {
		if fuzzSettings.exclude[tp.name] {
			excluded = append(excluded, tp.name)
		}
	}
	if len(excluded) > 0 {
		s += " fuzz.exclude=" + strings.Join(excluded, ",")
	}
	return s
}

// watch starts the watchdog: a case that takes fuzzStall is named on the
// console (a hang in the kernel may still let this goroutine run).
func (f *fuzzer) watch() (stop chan struct{}) {
	stop = make(chan struct{})
	go func() {
		last, since := int64(-1), time.Now()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			k := f.current.Load()
			if k != last {
				last, since = k, time.Now()
				continue
			}
			if time.Since(since) > fuzzStall {
				fmt.Printf("fuzz: level %d seed %d case %d has not finished in %v\n", f.level, f.seed, k, fuzzStall)
				since = time.Now()
			}
		}
	}()
	return stop
}

// runCases runs cases [lo, hi).
func (f *fuzzer) runCases(lo, hi int) {
	for k := lo; k < hi; k++ {
		f.current.Store(int64(k))
		if f.guest == nil || f.uses == fuzzGuestReuse {
			f.closeGuest()
			f.newGuest()
		}
		c := f.generate(k)
		f.setNote(k, c.template)
		if fuzzSettings.announce {
			fmt.Printf("fuzz: level %d case %d (%s)\n", f.level, k, c.template)
		}
		f.stats.templates[c.template]++
		if what := f.runCase(c); what != "" {
			f.found(k, c.template, what)
		}
		if what := f.victim.checkMemory(); what != "" {
			f.found(k, c.template, what)
		}
	}
	kernel.SetCrashNote(nil)
}

// setNote makes a fatal kernel report name case k.
func (f *fuzzer) setNote(k int, template string) {
	n := f.note[:0]
	n = fmt.Appendf(n, "fuzz level %d seed %d case %d (%s): replay with %s", f.level, f.seed, k, template, f.replayArgs(k))
	f.note = n
	kernel.SetCrashNote(n)
}

// generate makes case k: the same seed, level and k give the same case.
func (f *fuzzer) generate(k int) fuzzCase {
	r := rand.New(rand.NewPCG(f.seed, uint64(f.level)<<32|uint64(k)))
	templates := fuzzTemplatesIn()
	tp := templates[r.IntN(len(templates))]
	// The layout is the same in every fuzz guest (one guest at a time
	// takes the first free placement slot), so a replayed case is too.
	gen := &fuzzGen{r: r, level: f.level, layout: f.layout, victim: f.victim.addrs()}
	c := fuzzCase{
		template: tp.name,
		regs:     sandbox.Regs{RIP: f.layout.text, RSP: f.layout.stackTop, RFLAGS: cpu.FlagIF},
		exits:    1,
	}
	tp.gen(gen, &c)
	if fuzzSettings.code != nil && k == fuzzSettings.only {
		c.body = fuzzSettings.code
	}
	return c
}

// newGuest creates the fuzz guest; failing to is a finding (a healthy
// kernel with every earlier guest closed has room for one).
func (f *fuzzer) newGuest() {
	g, err := blobGuest(f.level, nil, fuzzBudget)
	if err != nil {
		f.t.Fatalf("creating a level %d fuzz guest: %v", f.level, err)
	}
	f.guest, f.uses = g, 0
	f.layout = fuzzLayout{text: textAddr(g), stackLo: stackTop(g) - fuzzStackSize, stackTop: stackTop(g)}
}

func (f *fuzzer) closeGuest() {
	if f.guest == nil {
		return
	}
	if err := f.guest.Close(); err != nil {
		f.found(int(f.current.Load()), "close", fmt.Sprintf("Close: %v", err))
	}
	f.guest = nil
}

// runCase loads c into the guest and serves its exits; it returns what
// went wrong in the kernel or the host, or "".
func (f *fuzzer) runCase(c fuzzCase) (what string) {
	defer func() {
		if p := recover(); p != nil {
			what = fmt.Sprintf("host panic: %v", p)
			f.closeGuest()
		}
	}()
	f.uses++
	g := f.guest
	if what := f.load(g, c); what != "" {
		return what
	}
	if f.trace {
		fmt.Printf("fuzz level%d case %d (%s): code % x\n", f.level, f.current.Load(), c.template, c.body)
		fmt.Printf("fuzz level%d case %d: regs %+v\n", f.level, f.current.Load(), c.regs)
		fmt.Printf("fuzz level%d case %d: extra threads %+v, close %d, interrupt %v\n", f.level, f.current.Load(), c.threads, c.close, c.interrupt)
	}
	x, what := f.startThreads(g, c)
	if c.close == closeAtStart {
		f.closeGuest()
	}
	if what == "" && f.guest != nil {
		what = f.runMain(g, c)
	}
	if c.close == closeAfterMain {
		f.closeGuest()
	}
	if w := f.finishThreads(x, c.interrupt); what == "" {
		what = w
	}
	return what
}

// runMain runs the main thread for c's exits.
func (f *fuzzer) runMain(g sandbox.Guest, c fuzzCase) string {
	h := &abi.Host{Guest: g}
	for range c.exits {
		e, stalled, err := runLimited(g.Main())
		if what := f.checkHost("after Run"); what != "" {
			return what
		}
		if stalled {
			return fmt.Sprintf("Run did not return in %v (budget %v): interrupted at RIP %#x", fuzzRunLimit, fuzzBudget, g.Main().Regs().RIP)
		}
		if err != nil {
			f.closeGuest()
			return fmt.Sprintf("Run: %v", err)
		}
		if f.trace {
			fmt.Printf("fuzz level%d case %d: exit %v, rip %#x rsp %#x\n", f.level, f.current.Load(), e, g.Main().Regs().RIP, g.Main().Regs().RSP)
		}
		switch e.Kind {
		case sandbox.ExitSyscall:
			f.stats.syscalls++
			ret, done, _ := h.Handle(e.Syscall)
			if done {
				return ""
			}
			g.Main().SetReturn(ret)
		case sandbox.ExitFault:
			if e.Fault.Vector >= uint64(len(f.stats.faults)) {
				return fmt.Sprintf("fault exit with vector %d", e.Fault.Vector)
			}
			f.stats.faults[e.Fault.Vector]++
			if !c.resume {
				return ""
			}
		case sandbox.ExitBudget:
			f.stats.budgets++
			return ""
		case sandbox.ExitInterrupted:
			if !c.interrupt {
				return "interrupted with no Interrupt"
			}
		case sandbox.ExitKilled:
			// Only a guest that changed PKRU is killed: at levels 1 and
			// 3 the kernel must not kill, at level 2 the code scan should
			// have refused the instruction that did it.
			f.stats.kills++
			f.closeGuest()
			return fmt.Sprintf("guest killed: %v", e)
		default:
			return fmt.Sprintf("exit of unknown kind %v", e)
		}
	}
	return ""
}

// runLimited runs th, interrupting it after fuzzRunLimit; stalled says
// whether it had to.
func runLimited(th sandbox.Thread) (e sandbox.Exit, stalled bool, err error) {
	var hit atomic.Bool
	timer := time.AfterFunc(fuzzRunLimit, func() {
		hit.Store(true)
		th.Interrupt()
	})
	e, err = th.Run()
	timer.Stop()
	return e, hit.Load(), err
}

// fuzzThreads are a case's extra threads (level 3), each run by a
// goroutine of its own beside the main thread, and what went wrong in
// them.
type fuzzThreads struct {
	threads []sandbox.Thread
	wg      sync.WaitGroup
	stop    chan struct{} // ends the interrupter
	mu      sync.Mutex
	what    string
}

func (x *fuzzThreads) fail(what string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.what == "" {
		x.what = what
	}
}

// startThreads creates c's extra threads and starts their goroutines.
// NewThread must refuse registers CheckRegs refuses and create nothing,
// and levels 1 and 2 take no part (their threads run only inside a Run).
func (f *fuzzer) startThreads(g sandbox.Guest, c fuzzCase) (*fuzzThreads, string) {
	x := &fuzzThreads{stop: make(chan struct{})}
	for _, r := range c.threads {
		before := len(g.Threads())
		th, err := g.NewThread(r)
		switch {
		case f.level != sandbox.Level3:
			// Levels 1 and 2 run a thread only inside a Run: the
			// template's extra threads, which run by Resume, are
			// level 3's.
			if th != nil {
				th.Exit()
			}
			continue
		case sandbox.LoadRegs(new(cpu.UserContext), r) != nil:
			if err == nil || th != nil || len(g.Threads()) != before {
				return x, fmt.Sprintf("NewThread with registers LoadRegs refuses (%v): err %v, %d threads, %d before", sandbox.LoadRegs(new(cpu.UserContext), r), err, len(g.Threads()), before)
			}
			f.stats.threadsRefused++
			continue
		case err != nil:
			return x, fmt.Sprintf("NewThread: %v", err)
		}
		f.stats.threads++
		x.threads = append(x.threads, th)
		x.wg.Add(1)
		go x.run(th, c)
	}
	if c.interrupt {
		x.wg.Add(1)
		go x.interrupt(g.Main())
	}
	return x, ""
}

// run runs an extra thread for c's exits, answering every call with
// -ENOSYS.
func (x *fuzzThreads) run(th sandbox.Thread, c fuzzCase) {
	defer x.wg.Done()
	closing := c.close != closeNever
	for range c.exits {
		e, stalled, err := runLimited(th)
		if stalled {
			x.fail(fmt.Sprintf("Run of thread %d did not return in %v (budget %v): interrupted at RIP %#x", th.ID(), fuzzRunLimit, fuzzBudget, th.Regs().RIP))
			return
		}
		if err != nil {
			if !closing || err != sandbox.ErrExited {
				x.fail(fmt.Sprintf("Run of thread %d: %v", th.ID(), err))
			}
			return
		}
		switch e.Kind {
		case sandbox.ExitSyscall:
			th.SetReturn(negErrno(38))
		case sandbox.ExitInterrupted:
			if !c.interrupt {
				x.fail(fmt.Sprintf("thread %d interrupted with no Interrupt", th.ID()))
				return
			}
		case sandbox.ExitThreadExited:
			if !closing {
				x.fail(fmt.Sprintf("thread %d exited with no Close", th.ID()))
			}
			return
		case sandbox.ExitFault, sandbox.ExitBudget:
			return
		default:
			x.fail(fmt.Sprintf("thread %d: %v", th.ID(), e))
			return
		}
	}
}

// interrupt interrupts the case's threads until they are done.
func (x *fuzzThreads) interrupt(main sandbox.Thread) {
	defer x.wg.Done()
	for {
		select {
		case <-x.stop:
			return
		default:
		}
		main.Interrupt()
		for _, th := range x.threads {
			th.Interrupt()
		}
		runtime.Gosched()
	}
}

// finishThreads waits for the extra threads' goroutines and ends the
// threads of a guest that is still open.
func (f *fuzzer) finishThreads(x *fuzzThreads, interrupted bool) string {
	close(x.stop)
	x.wg.Wait()
	if f.guest != nil {
		for _, th := range x.threads {
			if err := th.Exit(); err != nil {
				x.fail(fmt.Sprintf("Exit of thread %d: %v", th.ID(), err))
			}
		}
		if n := len(f.guest.Threads()); n != 1 {
			x.fail(fmt.Sprintf("%d threads after the extra threads exited", n))
		}
		// An Interrupt that found the main thread stopped waits for its
		// next Run: take it here, not in the next case (if the Interrupt
		// came first, this Run runs the guest to its next exit: the next
		// case loads its own state anyway).
		if interrupted {
			if _, err := f.guest.Main().Run(); err != nil {
				x.fail(fmt.Sprintf("Run after the interrupts: %v", err))
			}
		}
	}
	return x.what
}

// load rewrites the guest for case c: its code, its stack, its registers,
// and no regions but the text and the stack.
func (f *fuzzer) load(g sandbox.Guest, c fuzzCase) string {
	for _, a := range g.RegionAddrs()[2:] {
		if err := g.Unmap(a); err != nil {
			return fmt.Sprintf("Unmap of a region the case mapped: %v", err)
		}
	}
	if err := g.WriteMemory(f.layout.text, fuzzImage(c.body)); err != nil {
		if f.level == sandbox.Level2 && strings.Contains(err.Error(), "refused") {
			f.stats.refused++ // the code scan said no: nothing to run
			return ""
		}
		return fmt.Sprintf("WriteMemory of the code: %v", err)
	}
	if f.stack == nil {
		f.stack = make([]byte, fuzzStackSize)
	}
	clear(f.stack)
	copy(f.stack[fuzzStackSize-len(c.stack):], c.stack)
	if err := g.WriteMemory(f.layout.stackLo, f.stack); err != nil {
		return fmt.Sprintf("WriteMemory of the stack: %v", err)
	}
	if err := g.Main().SetRegs(c.regs); err != nil {
		f.stats.refused++ // registers a guest may not start with
		return ""
	}
	return ""
}

// checkHealth runs after the guests of cases [lo, hi) are closed.
// It returns the footprint later batches are held to.
func (f *fuzzer) checkHealth(lo, hi int, baseline guestFootprint, pcids int) guestFootprint {
	batch := fmt.Sprintf("after cases %d-%d", lo, hi-1)
	now := measureGuestFootprint()
	switch {
	case now.sameAs(baseline):
	default:
		f.found(-1, "", fmt.Sprintf("%s: guests hold %v, before the first case %v", batch, now, baseline))
	}
	if now := mm.PCIDsInUse(); now != pcids {
		f.found(-1, "", fmt.Sprintf("%s: guest spaces hold %d PCIDs, before the first case %d", batch, now, pcids))
	}
	if what := f.victim.checkRun(); what != "" {
		f.found(-1, "", fmt.Sprintf("%s: %s", batch, what))
	}
	if err := knownGoodRoundTrip(f.level); err != nil {
		f.found(-1, "", fmt.Sprintf("%s: known-good guest: %v", batch, err))
	}
	if err := goroutinesAndTimers(); err != nil {
		f.found(-1, "", fmt.Sprintf("%s: %v", batch, err))
	}
	b := make([]byte, 1<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = byte(i)
	}
	runtime.GC()
	if what := f.checkHost(batch); what != "" {
		f.found(-1, "", what)
	}
	return baseline
}

// checkHost compares the host goroutine's CPU state with what it was at
// the start, and puts back a changed MXCSR and x87 control word, so that
// one leak is reported once.
func (f *fuzzer) checkHost(when string) string {
	s := readHostState()
	if s == f.host {
		return ""
	}
	setHostFPControl(f.host.mxcsr, f.host.fcw)
	return fmt.Sprintf("host state %s: %v, was %v", when, s, f.host)
}

// knownGoodRoundTrip runs a guest that reads the clock and exits.
func knownGoodRoundTrip(l sandbox.Level) error {
	g, err := blobGuest(l, nil, 0)
	if err != nil {
		return err
	}
	defer g.Close()
	text := code(movEAX(abi.SysClockGettime), movRDI(1), movRSI(stackTop(g)-16), insSyscall, movEAX(abi.SysExit), movRDI(42), insSyscall)
	if err := g.WriteMemory(textAddr(g), text); err != nil {
		return err
	}
	h := &abi.Host{Guest: g}
	r, err := h.Serve()
	if err != nil {
		return err
	}
	if !r.Exited || r.Code != 42 || h.Calls != 2 {
		return fmt.Errorf("ended with %v after %d calls, want exit(42) after 2", r, h.Calls)
	}
	return nil
}

// goroutinesAndTimers checks that another goroutine runs and a timer
// fires.
func goroutinesAndTimers() error {
	done := make(chan int)
	go func() {
		time.Sleep(time.Millisecond)
		done <- 1
	}()
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("a goroutine sleeping 1 ms did not finish in 5 s")
	}
}

// fuzzVictim is the bystander guest of levels 2 and 3: a thread stopped
// at a system call with marked registers, and a page of known bytes at an
// address the cases aim at (fuzzGen.value). Nothing a fuzz guest does may
// change either.
type fuzzVictim struct {
	g           sandbox.Guest
	data        uint64
	image, read []byte
}

const (
	// fuzzVictimNr is the call the bystander makes, again and again.
	fuzzVictimNr = 0x5151
	// fuzzVictimData is where a level 3 bystander keeps its page: an
	// address no fuzz guest maps in its own space.
	fuzzVictimData = 0x5555_5555_0000
	// fuzzVictimMark is in the bystander's R12-R15.
	fuzzVictimMark = 0x7e57_7e57_7e57_7e57
)

func newFuzzVictim(l sandbox.Level) (*fuzzVictim, error) {
	g, err := blobGuest(l, code(insSyscall, []byte{0xeb, 0xfc}), 0) // syscall; jmp back
	if err != nil {
		return nil, err
	}
	v := &fuzzVictim{g: g, image: make([]byte, fuzzPageSize), read: make([]byte, fuzzPageSize)}
	for i := range v.image {
		v.image[i] = byte(i*7 + 1)
	}
	var at uint64 // level 2: placed in the shared space like the fuzz guests
	if l == sandbox.Level3 {
		at = fuzzVictimData
	}
	if v.data, err = g.Map(sandbox.Region{Name: "bystander", Addr: at, Size: fuzzPageSize, Perm: sandbox.Read | sandbox.Write, Data: v.image}); err != nil {
		g.Close()
		return nil, err
	}
	r := g.Main().Regs()
	r.RAX, r.R12, r.R13, r.R14, r.R15 = fuzzVictimNr, fuzzVictimMark, fuzzVictimMark, fuzzVictimMark, fuzzVictimMark
	if err := g.Main().SetRegs(r); err != nil {
		g.Close()
		return nil, err
	}
	return v, nil
}

// addrs are the bystander's addresses the cases aim at (none at level 1).
func (v *fuzzVictim) addrs() []uint64 {
	if v == nil {
		return nil
	}
	return []uint64{v.data, v.data + 8, v.data + fuzzPageSize - 8, textAddr(v.g)}
}

// checkMemory reports a change in the bystander's page.
func (v *fuzzVictim) checkMemory() string {
	if v == nil {
		return ""
	}
	if err := v.g.ReadMemory(v.data, v.read); err != nil {
		return fmt.Sprintf("reading the bystander guest's page: %v", err)
	}
	if !bytes.Equal(v.read, v.image) {
		i := 0
		for v.read[i] == v.image[i] {
			i++
		}
		return fmt.Sprintf("the bystander guest's page changed at %#x: % x", v.data+uint64(i), v.read[i:min(i+8, len(v.read))])
	}
	return ""
}

// checkRun runs the bystander to its next call: it must make it with its
// registers as they were.
func (v *fuzzVictim) checkRun() string {
	if v == nil {
		return ""
	}
	e, err := v.g.Main().Run()
	r := v.g.Main().Regs()
	if err != nil || e.Kind != sandbox.ExitSyscall || e.Syscall.Nr != fuzzVictimNr ||
		r.R12 != fuzzVictimMark || r.R13 != fuzzVictimMark || r.R14 != fuzzVictimMark || r.R15 != fuzzVictimMark {
		return fmt.Sprintf("the bystander guest: %v %v, registers %+v", e, err, r)
	}
	return ""
}
