// Package benchmem measures peak heap use for benchmarks: the one sampler
// the read, map and plan benchmarks share, so their figures compare.
package benchmem

import (
	"runtime"
	"sync"
	"time"
)

// Peak runs f and returns the largest HeapInuse (bytes) seen while it ran,
// sampled every 2 ms after a GC. HeapInuse counts spans holding live or
// not yet collected objects, which is closer to the process's resident
// heap than HeapAlloc. ReadMemStats stops the world briefly, so it samples
// on a ticker rather than in a tight loop.
func Peak(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var mu sync.Mutex
	peak := ms.HeapInuse
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	f()
	runtime.ReadMemStats(&ms)
	close(done)
	wg.Wait()
	return max(peak, ms.HeapInuse)
}

// MB is bytes in mebibytes, for b.ReportMetric.
func MB(b uint64) float64 { return float64(b) / (1 << 20) }
