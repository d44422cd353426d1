package kernel

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"sync"

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

// stream is the generator behind RandomBytes: ChaCha8, seeded at first
// use from Random. (crypto/rand is not used in the kernel: Go 1.26 links a
// 32 MiB buffer with it, which the kernel image would carry as .bss.)
var stream struct {
	sync.Mutex
	c *rand.ChaCha8
}

// RandomBytes fills b with pseudo-random bytes for guests (/dev/urandom,
// getrandom, AT_RANDOM). Not for cryptography: the seed is the TSC's (the
// kernel has no RDRAND or RDSEED driver yet).
func RandomBytes(b []byte) {
	stream.Lock()
	defer stream.Unlock()
	if stream.c == nil {
		var seed [32]byte
		for i := 0; i < 32; i += 8 {
			binary.LittleEndian.PutUint64(seed[i:], Random())
		}
		stream.c = rand.NewChaCha8(seed)
	}
	stream.c.Read(b)
}
