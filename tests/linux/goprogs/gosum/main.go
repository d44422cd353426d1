// gosum sums 1..5,000,000 on each of 4 goroutines (the linuxbench
// workload "go-sum-4-goroutines", run with GOMAXPROCS=1 as on Linux).
package main

import (
	"fmt"
	"sync"
)

func main() {
	var wg sync.WaitGroup
	sums := make([]uint64, 4)
	for g := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(1); i <= 5_000_000; i++ {
				sums[g] += i
			}
		}()
	}
	wg.Wait()
	fmt.Println(sums)
}
