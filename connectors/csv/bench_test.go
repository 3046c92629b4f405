package csv

import (
	"bytes"
	"context"
	"fmt"
	"github.com/orgsync/orgsync/internal/benchmem"
	"testing"

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
		peak = max(peak, benchmem.Peak(func() {
			batch, err := src.List(context.Background())
			if err != nil || len(batch.Records) != n {
				b.Fatalf("List: %v", err)
			}
		}))
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(benchmem.MB(peak), "peak_heap_MB")
}
