package csv

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// GBKEmployees returns n rows of a realistic HR export as Excel on Chinese
// Windows writes it (GBK, CRLF, quoted department paths), plus its header.
func gbkEmployees(tb testing.TB, n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 120)
	b.WriteString("工号,姓名,部门,职位,手机,邮箱,性别,状态,直属上级工号,入职日期\r\n")
	depts := []string{"总部/研发中心/后端组", "总部/研发中心/前端组", "总部/销售部/华东区", "总部/人力资源部", "总部/财务部"}
	for i := 1; i <= n; i++ {
		leader := ""
		if i > 1 {
			leader = fmt.Sprintf("%06d", i/8+1)
		}
		fmt.Fprintf(&b, "%06d,员工%d,\"%s\",工程师,138%08d,user%06d@example.com,%s,在职,%s,2020-01-%02d\r\n",
			i, i, depts[i%len(depts)], i, i, []string{"男", "女"}[i%2], leader, i%28+1)
	}
	out, err := simplifiedchinese.GBK.NewEncoder().Bytes(b.Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// peakHeap samples the heap while f runs and returns the largest HeapAlloc.
func peakHeap(f func()) uint64 {
	var peak atomic.Uint64
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	peak.Store(ms.HeapAlloc)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > peak.Load() {
		peak.Store(ms.HeapAlloc)
	}
	return peak.Load()
}

func BenchmarkRead100kGBK(b *testing.B) {
	const n = 100_000
	p := writeFile(b, b.TempDir(), "employees.csv", gbkEmployees(b, n))
	src, err := (&Config{Path: p, Settle: dur(0)}).Open("hr", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	for i := 0; i < b.N; i++ {
		peak = max(peak, peakHeap(func() {
			batch, err := src.List(context.Background())
			if err != nil || len(batch.Records) != n {
				b.Fatalf("List: %v", err)
			}
		}))
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}
