package mapping

import (
	"bytes"
	"context"
	"fmt"
	"github.com/orgsync/orgsync/internal/benchmem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/connectors/csv"
)

// writeGBKEmployees writes an n-row HR export as Excel on Chinese Windows
// saves it (GBK, CRLF, quoted paths), with a management chain for leaders.
func writeGBKEmployees(b *testing.B, n int) string {
	var buf bytes.Buffer
	buf.Grow(n * 130)
	buf.WriteString("工号,姓名,部门,职位,手机,邮箱,性别,状态,直属上级工号,入职日期\r\n")
	depts := []string{"总部/研发中心/后端组", "总部/研发中心/前端组", "总部/销售部/华东区", "总部/人力资源部", "总部/财务部"}
	for i := 1; i <= n; i++ {
		leader := ""
		if i > 1 {
			leader = fmt.Sprintf("%06d", i/8+1)
		}
		fmt.Fprintf(&buf, "%06d,员工%d,\"%s/%d组\",工程师,138 %04d %04d,User%06d@Example.com,%s,%s,%s,2020/1/%d\r\n",
			i, i, depts[i%len(depts)], i%50, i/10000, i%10000, i, []string{"男", "女"}[i%2],
			[]string{"在职", "在职", "在职", "离职"}[i%4], leader, i%28+1)
	}
	data, err := simplifiedchinese.GBK.NewEncoder().Bytes(buf.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "employees.csv")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

const benchRules = `
key: 工号
user:
  userid: lower(工号)
  name: trim(姓名)
  department: 部门
  position: 职位
  mobile: 手机
  email: lower(邮箱)
  gender: 性别
  enabled: 状态 != "离职"
  direct_leader: 直属上级工号
  extattr: {工号: 工号, 入职日期: date(入职日期)}
`

// BenchmarkReadAndMap100kGBK is the figure: a 100k-row GBK CSV read
// by the csv source and mapped, in rows/s and peak heap.
func BenchmarkReadAndMap100kGBK(b *testing.B) {
	const n = 100_000
	path := writeGBKEmployees(b, n)
	settle := time.Duration(0)
	src, err := (&csv.Config{Path: path, Settle: &settle}).Open("hr", nil)
	if err != nil {
		b.Fatal(err)
	}
	m, err := compileRules(benchRules)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	for i := 0; i < b.N; i++ {
		peak = max(peak, benchmem.Peak(func() {
			batch, err := src.List(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			org, problems := m.Map([]*connectors.Batch{batch})
			if len(org.People) != n || len(problems) != 0 {
				b.Fatalf("%d people, %d problems (first: %v)", len(org.People), len(problems), problems)
			}
		}))
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(benchmem.MB(peak), "peak_heap_MB")
}

// BenchmarkMap100k is the mapping alone, on records already read.
func BenchmarkMap100k(b *testing.B) {
	const n = 100_000
	settle := time.Duration(0)
	src, _ := (&csv.Config{Path: writeGBKEmployees(b, n), Settle: &settle}).Open("hr", nil)
	batch, err := src.List(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	m, err := compileRules(benchRules)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if org, _ := m.Map([]*connectors.Batch{batch}); len(org.People) != n {
			b.Fatal("short")
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}
