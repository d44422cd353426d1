// Command psum is a guest program: four goroutines on four threads
// (GOMAXPROCS 4) sum disjoint ranges and meet on a channel and a
// WaitGroup; the output is deterministic.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
)

func main() {
	runtime.GOMAXPROCS(4)
	const n = 2_000_000
	const parts = 4
	sums := make(chan uint64, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s uint64
			for i := uint64(p * n / parts); i < uint64((p+1)*n/parts); i++ {
				s += i * i % 1000003
			}
			sums <- s
		}()
	}
	wg.Wait()
	close(sums)
	var total uint64
	for s := range sums {
		total += s
	}
	var mu sync.Mutex
	m := map[int]int{}
	var wg2 sync.WaitGroup
	for g := range 16 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for i := range 1000 {
				mu.Lock()
				m[i%64] += g
				mu.Unlock()
			}
		}()
	}
	wg2.Wait()
	check := 0
	for k, v := range m {
		check += k * v
	}
	fmt.Printf("sum=%d goroutines=%d map=%d check=%d\n", total, parts, len(m), check)
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "args:", os.Args[1:])
	}
}
