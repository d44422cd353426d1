package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Outcome is how the emulator process ended: everything the verdict needs
// besides the console.
type Outcome struct {
	Emu      Emulator
	Status   int // process exit status; -1 if killed by a signal
	TimedOut bool
	Timeout  time.Duration
	// Err is set if the emulator could not be prepared or started.
	Err error
	// Note is the emulator's own reason for stopping when it is not the
	// normal one, e.g. a Bochs ">>PANIC<<" other than the shutdown port
	// (a triple fault with reset_on_triple_fault=0).
	Note string
}

// QEMUSuccess is QEMU's exit status when the kernel writes 0 to the
// isa-debug-exit port: QEMU exits with (code<<1)|1.
const QEMUSuccess = 1

// describeQEMUStatus explains a QEMU exit status in kernel terms.
func describeQEMUStatus(s int) string {
	switch {
	case s < 0:
		return "QEMU was killed"
	case s == 0:
		return "QEMU exit status 0: the guest reset or triple-faulted (-no-reboot)"
	case s&1 == 1:
		return fmt.Sprintf("QEMU exit status %d: kernel exit code %d (port 0xf4)", s, s>>1)
	}
	return fmt.Sprintf("QEMU exit status %d", s)
}

// Verdict is the judgement on one boot.
type Verdict struct {
	OK       bool
	Problems []string // why it is not OK, most important first
	Final    *Counts  // the final line, if the kernel printed one
	Seen     Counts   // ok, FAIL and SKIP lines counted on the console
	Fatal    string   // the first fatal line, if any
	// Unlisted is set when a boot that must pass had no manifest, so its
	// tests were not checked against a list (ad-hoc boots only; every
	// table boot has one).
	Unlisted bool
}

// Summary is a one-line description of the result.
func (v Verdict) Summary() string {
	var s string
	switch {
	case v.Fatal != "":
		s = v.Fatal
	case v.Final != nil:
		s = v.Final.String()
	default:
		s = fmt.Sprintf("no final line (%d ok, %d FAIL, %d SKIP lines)", v.Seen.Passed, v.Seen.Failed, v.Seen.Skipped)
	}
	if len(v.Problems) > 0 {
		s += "; " + v.Problems[0]
		if n := len(v.Problems) - 1; n > 0 {
			s += fmt.Sprintf(" (and %d more)", n)
		}
	}
	return s
}

// Checker reads a boot's console line by line and then judges the boot.
// It is pure: no I/O, no clock. Observe is not safe for concurrent use;
// the runner serialises console lines before they reach it.
type Checker struct {
	emu      Emulator
	expect   Expect
	manifest *Manifest // nil: no list of tests to hold the run to
	patterns []*regexp.Regexp
	once     []bool // the pattern must match exactly one line (Boot.Once)
	matched  []int  // lines each pattern matched

	seen      Counts
	finals    []Counts
	tests     []Line // ok, FAIL and SKIP lines, in order
	fatals    []Line
	malformed []Line
	bench     []BenchResult
}

// NewChecker returns a checker for b that holds the run to manifest m
// (nil for none).
func NewChecker(b Boot, m *Manifest) (*Checker, error) {
	c := &Checker{emu: b.Emu, expect: b.Expect, manifest: m}
	for i, p := range slices.Concat(b.Patterns, b.Once) {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %v", p, err)
		}
		c.patterns = append(c.patterns, re)
		c.once = append(c.once, i >= len(b.Patterns))
	}
	c.matched = make([]int, len(c.patterns))
	return c, nil
}

// Observe classifies one console line and records it.
func (c *Checker) Observe(text string) Line {
	l := ParseLine(text)
	for i, re := range c.patterns {
		if re.MatchString(l.Text) {
			c.matched[i]++
		}
	}
	switch l.Kind {
	case Pass:
		c.seen.Passed++
		c.tests = append(c.tests, l)
	case Fail:
		c.seen.Failed++
		c.tests = append(c.tests, l)
	case Skip:
		c.seen.Skipped++
		c.tests = append(c.tests, l)
	case Final:
		c.finals = append(c.finals, l.Counts)
	case Bench:
		c.bench = append(c.bench, l.Bench)
	case Fatal:
		c.fatals = append(c.fatals, l)
	case Malformed:
		c.malformed = append(c.malformed, l)
	}
	return l
}

// Bench returns the bench lines seen so far, in order.
func (c *Checker) Bench() []BenchResult { return slices.Clone(c.bench) }

// maxListed bounds how many lines of one kind a verdict quotes.
const maxListed = 8

// listLines appends one problem per line, up to maxListed, then a count.
func listLines(problems []string, lines []Line, format func(Line) string) []string {
	for i, l := range lines {
		if i == maxListed {
			return append(problems, fmt.Sprintf("... and %d more", len(lines)-maxListed))
		}
		problems = append(problems, format(l))
	}
	return problems
}

// Verdict judges the boot from the console seen so far and how the
// emulator ended.
func (c *Checker) Verdict(o Outcome) Verdict {
	v := Verdict{Seen: c.seen, Unlisted: c.expect == ExpectPass && c.manifest == nil}
	if len(c.fatals) > 0 {
		v.Fatal = c.fatals[0].Text
	}
	if len(c.finals) > 0 {
		f := c.finals[len(c.finals)-1]
		v.Final = &f
	}
	var p []string
	if o.Err != nil {
		p = append(p, "emulator: "+o.Err.Error())
	}
	if o.TimedOut {
		p = append(p, fmt.Sprintf("timed out after %v (hang, or the kernel did not exit through port 0xf4 / 0x8900)", o.Timeout))
	}
	for i, re := range c.patterns {
		switch {
		case c.matched[i] == 0:
			p = append(p, fmt.Sprintf("no console line matches %q", re))
		case c.once[i] && c.matched[i] > 1:
			p = append(p, fmt.Sprintf("%d console lines match %q, want one", c.matched[i], re))
		}
	}
	p = listLines(p, c.malformed, func(l Line) string {
		return fmt.Sprintf("malformed protocol line %q: %s", l.Text, l.Problem)
	})

	switch c.expect {
	case ExpectPass:
		p = c.passProblems(p, v, o)
	case ExpectFail:
		p = c.failProblems(p, v, o)
	}
	v.Problems = p
	v.OK = len(p) == 0
	return v
}

// testsFailedExitCode is the kernel's exit code when a test printed FAIL
// (main.go); it exits 0 when none did.
const testsFailedExitCode = 1

// passProblems lists what keeps a boot that must pass from passing.
func (c *Checker) passProblems(p []string, v Verdict, o Outcome) []string {
	p = listLines(p, c.fatals, func(l Line) string { return "kernel died: " + l.Text })
	p = capped(p, c.testProblems())
	p = capped(p, c.benchProblems())
	switch {
	case v.Final == nil:
		p = append(p, `missing final line "kernel: N passed, N failed, N skipped"`)
	default:
		if len(c.finals) > 1 {
			p = append(p, fmt.Sprintf("final line printed %d times", len(c.finals)))
		}
		if *v.Final != c.seen {
			p = append(p, fmt.Sprintf("final line says %v but the console has %d ok, %d FAIL and %d SKIP lines",
				*v.Final, c.seen.Passed, c.seen.Failed, c.seen.Skipped))
		}
	}
	// With a manifest, FAIL lines are judged against it (an XFAIL is
	// allowed, anything else was reported above) and the kernel then
	// exits with its tests-failed code; without one, any FAIL line fails.
	want := 0
	if c.manifest != nil && c.seen.Failed > 0 {
		want = testsFailedExitCode
	}
	switch {
	case o.Err != nil || o.TimedOut:
		// Already reported.
	case o.Emu.IsQEMU() && o.Status != want<<1|1:
		p = append(p, fmt.Sprintf("%s, want %d (kernel exit code %d)", describeQEMUStatus(o.Status), want<<1|1, want))
	case o.Emu == Bochs && o.Note != "":
		p = append(p, "bochs stopped: "+o.Note)
	}
	return p
}

// capped appends problems, at most maxListed of them, then a count.
func capped(p, problems []string) []string {
	if len(problems) > maxListed {
		return append(append(p, problems[:maxListed]...), fmt.Sprintf("... and %d more", len(problems)-maxListed))
	}
	return append(p, problems...)
}

// testProblems holds the ok, FAIL and SKIP lines to the manifest: every
// test listed, nothing else, each with its verdict. A SKIP must name a
// feature from the closed list whether or not there is a manifest, and
// without one every FAIL line is a problem.
func (c *Checker) testProblems() []string {
	var p []string
	for _, l := range c.tests {
		if l.Kind == Skip && !knownSkipFeature(l.Feature) {
			p = append(p, fmt.Sprintf("%s: unknown SKIP feature %q (the closed list: %s)",
				l.Text, l.Feature, strings.Join(skipFeatureList(), ", ")))
		}
	}
	if c.manifest == nil {
		for _, l := range c.tests {
			if l.Kind == Fail {
				p = append(p, l.Text)
			}
		}
		return p
	}
	reported := map[string]int{}
	for _, l := range c.tests {
		reported[l.Test]++
		e, listed := c.manifest.Expect[l.Test]
		switch {
		case reported[l.Test] == 2:
			p = append(p, fmt.Sprintf("test %s reported more than once", l.Test))
		case !listed:
			p = append(p, fmt.Sprintf("extra test %s: %s (not in the manifest)", l.Test, describeVerdict(l)))
		case !e.matches(l):
			p = append(p, fmt.Sprintf("changed verdict %s: the manifest says %s, the run says %s", l.Test, e, describeVerdict(l)))
		}
	}
	for _, id := range c.manifest.Tests {
		if reported[id] == 0 {
			p = append(p, fmt.Sprintf("missing test %s (the manifest says %s)", id, c.manifest.Expect[id]))
		}
	}
	return p
}

// benchProblems holds the bench lines to the manifest (every figure it
// names, no other, each once) and each figure to its ceilings.
func (c *Checker) benchProblems() []string {
	if c.manifest == nil {
		return nil
	}
	var p []string
	medians := map[string]uint64{}
	for _, b := range c.bench {
		if _, dup := medians[b.Name]; dup {
			p = append(p, fmt.Sprintf("bench figure %s printed more than once", b.Name))
		}
		medians[b.Name], _ = strconv.ParseUint(b.Get("median"), 10, 64) // a whole number: see parseBench
		if !slices.Contains(c.manifest.Bench, b.Name) {
			p = append(p, fmt.Sprintf("extra bench figure %s (not in the manifest)", b.Name))
		}
	}
	for _, name := range c.manifest.Bench {
		if _, ok := medians[name]; !ok {
			p = append(p, fmt.Sprintf("missing bench figure %s", name))
		}
		if !hasCeiling(benchCeilings, name) {
			p = append(p, fmt.Sprintf("bench figure %s has no ceiling in benchCeilings (table.go)", name))
		}
	}
	return append(p, ceilingProblems(benchCeilings, medians)...)
}

// failProblems lists what keeps an expected failure from being the failure
// it should be.
func (c *Checker) failProblems(p []string, v Verdict, o Outcome) []string {
	if o.Err != nil || o.TimedOut {
		return p
	}
	switch {
	case o.Emu.IsQEMU() && o.Status == QEMUSuccess:
		p = append(p, "the run ended in success (QEMU exit status 1, kernel exit code 0) but this boot must fail")
	case o.Emu == Bochs && v.Final != nil && len(c.fatals) == 0 && o.Note == "":
		p = append(p, "the run printed its final line without a fault or panic, but this boot must fail")
	}
	return p
}

// joinProblems formats problems as an indented list.
func joinProblems(problems []string) string {
	var sb strings.Builder
	for _, p := range problems {
		sb.WriteString("    ")
		sb.WriteString(p)
		sb.WriteByte('\n')
	}
	return sb.String()
}
