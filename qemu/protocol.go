package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Kind classifies one line of kernel console output.
type Kind int

const (
	// Other is free text: boot messages, traces, emulator chatter.
	Other Kind = iota
	// Pass is "ok <suite>/<name>".
	Pass
	// Fail is "FAIL <suite>/<name>: <why>".
	Fail
	// Skip is "SKIP <suite>/<name>: <feature> <free text>".
	Skip
	// Final is "kernel: N passed, N failed, N skipped", the last line of a
	// finished test run.
	Final
	// Bench is "bench <name> median=<n> min=<n> unit=<unit>[ ratio=<x>]".
	Bench
	// Fatal is a kernel panic or fault report, or Go runtime fatal output.
	Fatal
	// Malformed starts like a protocol line but does not parse. It is
	// always a verdict failure, because a mistyped SKIP or final line would
	// otherwise silently weaken the checks.
	Malformed
)

func (k Kind) String() string {
	switch k {
	case Other:
		return "other"
	case Pass:
		return "ok"
	case Fail:
		return "FAIL"
	case Skip:
		return "SKIP"
	case Final:
		return "final"
	case Bench:
		return "bench"
	case Fatal:
		return "fatal"
	case Malformed:
		return "malformed"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Counts are the three numbers of the final line, or the same numbers
// counted from the ok/FAIL/SKIP lines.
type Counts struct {
	Passed, Failed, Skipped int
}

func (c Counts) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", c.Passed, c.Failed, c.Skipped)
}

// Field is one key=value pair of a bench line.
type Field struct {
	Key, Value string
}

// BenchResult is one parsed bench line. Fields keep the line's order so the
// runner can re-print it unchanged.
type BenchResult struct {
	Name   string
	Fields []Field
}

// Get returns the value of key, or "".
func (b BenchResult) Get(key string) string {
	for _, f := range b.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

// String is the line as the kernel printed it, without the "bench " word.
func (b BenchResult) String() string {
	var sb strings.Builder
	sb.WriteString(b.Name)
	for _, f := range b.Fields {
		fmt.Fprintf(&sb, " %s=%s", f.Key, f.Value)
	}
	return sb.String()
}

// Line is one classified console line.
type Line struct {
	Kind    Kind
	Text    string      // the line as printed, without the line end
	Test    string      // "<suite>/<name>" for Pass, Fail and Skip
	Why     string      // Fail's reason; Skip's free text after the feature
	Feature string      // Skip's feature token, e.g. "pku"
	Counts  Counts      // Final's numbers
	Bench   BenchResult // Bench's figures
	Problem string      // Malformed: what is wrong with it
}

// The protocol, as regular expressions. Protocol lines start in column 0;
// indented text (for example inside a trace) is never protocol.
var (
	testID  = `[^\s/:]+/[^\s:]+`
	passRE  = regexp.MustCompile(`^ok (` + testID + `)(?: .*)?$`)
	failRE  = regexp.MustCompile(`^FAIL (` + testID + `):(?: (.*))?$`)
	skipRE  = regexp.MustCompile(`^SKIP (` + testID + `): ([a-z][a-z0-9_]*)(?: (.*))?$`)
	finalRE = regexp.MustCompile(`^kernel: (\d+) passed, (\d+) failed, (\d+) skipped$`)
	// finalishRE is what a final line starts with; other "kernel: <n> ..."
	// lines ("kernel: 31 MiB of memory available") are free text.
	finalishRE = regexp.MustCompile(`^kernel: \d+ passed\b`)
	benchRE    = regexp.MustCompile(`^bench (\S+)((?: [a-z_]+=\S+)+)$`)
	integerRE  = regexp.MustCompile(`^\d+$`)
	numberRE   = regexp.MustCompile(`^\d+(?:\.\d+)?$`)
	unitRE     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_/%-]*$`)
)

// fatalPrefixes start lines that report a dead kernel: the kernel's own
// panic and fault reports, and what the Go runtime prints when it dies.
var fatalPrefixes = []string{
	"kernel: panic:",
	"kernel: fault",
	"panic: ",
	"fatal error: ",
	"unexpected fault address",
}

// ParseLine classifies one console line. A trailing CR (from a serial
// console's CRLF) and trailing blanks are ignored.
func ParseLine(s string) Line {
	s = strings.TrimRight(s, "\r\n\t ")
	l := Line{Kind: Other, Text: s}
	malformed := func(why string) Line {
		l.Kind, l.Problem = Malformed, why
		return l
	}
	for _, p := range fatalPrefixes {
		if strings.HasPrefix(s, p) {
			l.Kind = Fatal
			return l
		}
	}
	switch {
	case s == "ok" || strings.HasPrefix(s, "ok "):
		m := passRE.FindStringSubmatch(s)
		if m == nil {
			return malformed(`want "ok <suite>/<name>"`)
		}
		l.Kind, l.Test = Pass, m[1]
	case s == "FAIL" || strings.HasPrefix(s, "FAIL "):
		m := failRE.FindStringSubmatch(s)
		if m == nil {
			return malformed(`want "FAIL <suite>/<name>: <why>"`)
		}
		l.Kind, l.Test, l.Why = Fail, m[1], m[2]
	case s == "SKIP" || strings.HasPrefix(s, "SKIP "):
		m := skipRE.FindStringSubmatch(s)
		if m == nil {
			return malformed(`want "SKIP <suite>/<name>: <feature> <text>" with a lowercase feature token`)
		}
		l.Kind, l.Test, l.Feature, l.Why = Skip, m[1], m[2], m[3]
	case finalishRE.MatchString(s):
		m := finalRE.FindStringSubmatch(s)
		if m == nil {
			return malformed(`want "kernel: N passed, N failed, N skipped"`)
		}
		l.Kind = Final
		l.Counts.Passed, _ = strconv.Atoi(m[1])
		l.Counts.Failed, _ = strconv.Atoi(m[2])
		l.Counts.Skipped, _ = strconv.Atoi(m[3])
	case strings.HasPrefix(s, "bench "):
		b, problem := parseBench(s)
		if problem != "" {
			return malformed(problem)
		}
		l.Kind, l.Bench = Bench, b
	}
	return l
}

// parseBench parses a bench line; problem is non-empty if it is malformed.
func parseBench(s string) (b BenchResult, problem string) {
	const want = `want "bench <name> median=<n> min=<n> unit=<unit>[ ratio=<x>]"`
	m := benchRE.FindStringSubmatch(s)
	if m == nil {
		return b, want
	}
	b.Name = m[1]
	seen := map[string]bool{}
	for _, kv := range strings.Fields(m[2]) {
		k, v, _ := strings.Cut(kv, "=")
		if seen[k] {
			return b, "bench field " + k + " repeated"
		}
		seen[k] = true
		b.Fields = append(b.Fields, Field{k, v})
	}
	for _, k := range []string{"median", "min", "unit"} {
		if !seen[k] {
			return b, "bench line has no " + k + "=; " + want
		}
	}
	for _, k := range []string{"median", "min"} {
		if !integerRE.MatchString(b.Get(k)) {
			return b, "bench " + k + "=" + b.Get(k) + " is not a whole number"
		}
	}
	if !unitRE.MatchString(b.Get("unit")) {
		return b, "bench unit=" + b.Get("unit") + " is not a unit name"
	}
	if seen["ratio"] && !numberRE.MatchString(b.Get("ratio")) {
		return b, "bench ratio=" + b.Get("ratio") + " is not a number"
	}
	return b, ""
}
