package kernel

import (
	"math/bits"

	"beelzebox/cpu"
)

var randState uint64

// Random returns 64 pseudo-random bits (wyrand), seeded from the TSC at
// boot. Not for cryptography: the runtime uses it for AT_RANDOM, map
// seeds and getrandom.
func Random() uint64 {
	if randState == 0 {
		randState = cpu.Rdtsc() | 1
	}
	randState += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(randState, randState^0xe7037ed1a0b428db)
	return hi ^ lo
}
