package main

import "fmt"

// compareBench checks that two runs of the same deterministic boot printed
// the same bench lines with the same figures. Under qemu-icount every
// emulated instruction is one TSC tick, so a figure that differs between
// two runs of one image is not an instruction count and must not be quoted.
// The error names the first figure that differs.
func compareBench(first, second []BenchResult) error {
	index := func(rs []BenchResult) (map[string]BenchResult, error) {
		m := map[string]BenchResult{}
		for _, r := range rs {
			if _, dup := m[r.Name]; dup {
				return nil, fmt.Errorf("bench %s printed twice in one run", r.Name)
			}
			m[r.Name] = r
		}
		return m, nil
	}
	a, err := index(first)
	if err != nil {
		return err
	}
	b, err := index(second)
	if err != nil {
		return err
	}
	for _, r := range first {
		s, ok := b[r.Name]
		if !ok {
			return fmt.Errorf("bench %s: missing from run 2", r.Name)
		}
		for _, f := range r.Fields {
			if v := s.Get(f.Key); v != f.Value {
				if v == "" {
					v = "(absent)"
				}
				return fmt.Errorf("bench %s %s differs: %s in run 1, %s in run 2", r.Name, f.Key, f.Value, v)
			}
		}
		for _, f := range s.Fields {
			if r.Get(f.Key) == "" {
				return fmt.Errorf("bench %s %s differs: (absent) in run 1, %s in run 2", r.Name, f.Key, f.Value)
			}
		}
	}
	for _, r := range second {
		if _, ok := a[r.Name]; !ok {
			return fmt.Errorf("bench %s: missing from run 1", r.Name)
		}
	}
	return nil
}
