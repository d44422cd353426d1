package main

import "fmt"

// Ceiling bounds the median of one bench figure: at most Max, or, with
// Over set, at most Max more than the median of the figure Over from the
// same run. A figure may have several ceilings; each must hold.
type Ceiling struct {
	Figure string
	Max    uint64
	Over   string
	Source string // where the bound comes from (an aim, a measured figure)
}

func (c Ceiling) String() string {
	if c.Over != "" {
		return fmt.Sprintf("%s + %d", c.Over, c.Max)
	}
	return fmt.Sprint(c.Max)
}

// hasCeiling reports whether figure has at least one ceiling.
func hasCeiling(ceilings []Ceiling, figure string) bool {
	for _, c := range ceilings {
		if c.Figure == figure {
			return true
		}
	}
	return false
}

// ceilingProblems lists every figure of medians above one of its
// ceilings. A relative ceiling whose base figure is missing is not
// judged here: the missing figure is a problem of its own.
func ceilingProblems(ceilings []Ceiling, medians map[string]uint64) []string {
	var p []string
	for _, c := range ceilings {
		median, ok := medians[c.Figure]
		if !ok {
			continue
		}
		limit := c.Max
		if c.Over != "" {
			base, ok := medians[c.Over]
			if !ok {
				continue
			}
			limit += base
		}
		if median > limit {
			p = append(p, fmt.Sprintf("bench %s median=%d is over its ceiling %s = %d (%s)", c.Figure, median, c, limit, c.Source))
		}
	}
	return p
}
