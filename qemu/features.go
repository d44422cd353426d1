package main

import (
	"slices"
	"strings"
)

// FeatureProfile lists CPU features that an emulator's CPU model is known to
// provide (measured, see ../shared/notes/testbeds.md). On such a boot a
// "SKIP <test>: <feature>" for one of them means the kernel failed to
// detect or use the feature, so it fails the run instead of passing
// silently.
type FeatureProfile struct {
	Emu      Emulator // QEMU covers qemu-icount too
	Model    string   // the CPU model, without modifiers
	Provides []string // lowercase feature tokens, as in SKIP lines
}

// Provided returns the features that a SKIP line on this emulator and CPU
// must not name. The model is the part of cpu before the first comma;
// "-feat" modifiers (QEMU) remove a feature. "+feat" modifiers add nothing:
// QEMU TCG ignores many of them with only a warning (for example +pcid and
// +vmx), so they prove nothing about the guest.
func Provided(profiles []FeatureProfile, emu Emulator, cpu string) []string {
	if emu == QEMUICount {
		emu = QEMU
	}
	model, mods, _ := strings.Cut(cpu, ",")
	var have []string
	for _, p := range profiles {
		if p.Emu == emu && p.Model == model {
			have = slices.Clone(p.Provides)
			break
		}
	}
	for _, m := range strings.Split(mods, ",") {
		if f, ok := strings.CutPrefix(m, "-"); ok {
			have = slices.DeleteFunc(have, func(h string) bool { return h == f })
		}
		// QEMU also spells removal "feat=off".
		if f, ok := strings.CutSuffix(m, "=off"); ok {
			have = slices.DeleteFunc(have, func(h string) bool { return h == f })
		}
	}
	return have
}
