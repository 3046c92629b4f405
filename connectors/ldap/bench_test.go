package ldap

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/connectors/conformance"
	"github.com/orgsync/orgsync/internal/testservers"
)

// BenchmarkSlapdVsLdapsearch reads N people from a local slapd with this
// source and with `ldapsearch -E pr=500/noprompt` (same server, bind, base,
// filter and attribute list; its output collected in memory as our records
// are) and reports our time over ldapsearch's as x_ldapsearch (aim: ≤ 1.2).
// It also reports CPU time (this process's, ldapsearch's) as
// cpu_x_ldapsearch, which other work on a shared machine disturbs less than
// wall time. With go-ldap most of our time is its reader's BER decoding and
// the garbage it leaves for the GC.
func BenchmarkSlapdVsLdapsearch(b *testing.B) {
	for _, n := range []int{5000, 50000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) { benchSlapd(b, n) })
	}
}

func benchSlapd(b *testing.B, benchEntries int) {
	testservers.Need(b, "slapd", "slapadd", "ldapsearch")
	s := testservers.StartSlapd(b, testservers.SlapdOptions{Seed: peopleLDIF("ou=people,dc=example,dc=test", conformance.People(benchEntries))})
	c := slapdConfig(s)
	c.PageSize = 500
	srcAny, err := c.Open("bench", zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	src := srcAny.(*Source)
	ldapsearch, _ := testservers.LookPath("ldapsearch")
	args := append([]string{"-x", "-LLL", "-H", s.URL, "-D", s.ServiceDN, "-w", s.ServicePassword,
		"-b", c.BaseDN, "-E", "pr=500/noprompt", c.searchFilter()}, src.layout().request...)

	var ours, theirs, oursCPU, theirsCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0, c0 := time.Now(), processCPU()
		batch, err := src.List(context.Background())
		ours += time.Since(t0)
		oursCPU += processCPU() - c0
		if err != nil || len(batch.Records) != benchEntries {
			b.Fatalf("List: %v", err)
		}
		t0 = time.Now()
		cmd := exec.Command(ldapsearch, args...)
		if out, err := cmd.CombinedOutput(); err != nil { // buffered like our records, not printed
			b.Fatalf("ldapsearch: %v: %.500s", err, out)
		}
		theirs += time.Since(t0)
		theirsCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.StopTimer()
	b.ReportMetric(float64(ours.Microseconds())/float64(b.N)/1000, "ms_ours")
	b.ReportMetric(float64(theirs.Microseconds())/float64(b.N)/1000, "ms_ldapsearch")
	b.ReportMetric(float64(ours)/float64(theirs), "x_ldapsearch")
	b.ReportMetric(float64(oursCPU)/float64(theirsCPU), "cpu_x_ldapsearch")
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
