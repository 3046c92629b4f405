package ldap

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
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
// wall time, our and slapd's CPU time per read, and the peak RSS of a read
// over what the process held before it. With go-ldap most of our time is
// its reader's BER decoding and the garbage it leaves for the GC
// (BenchmarkListScripted measures that part alone).
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

	var ours, theirs, oursCPU, theirsCPU, slapdCPU time.Duration
	var peak int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		resetPeakRSS(b)
		b.StartTimer()
		t0, c0, s0 := time.Now(), processCPU(), serverCPU(b, s)
		batch, err := src.List(context.Background())
		ours += time.Since(t0)
		oursCPU += processCPU() - c0
		slapdCPU += serverCPU(b, s) - s0
		if err != nil || len(batch.Records) != benchEntries {
			b.Fatalf("List: %v", err)
		}
		peak = max(peak, peakRSS(b))
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
	b.ReportMetric(float64(oursCPU.Microseconds())/float64(b.N)/1000, "cpu_ms_ours")
	b.ReportMetric(float64(slapdCPU.Microseconds())/float64(b.N)/1000, "cpu_ms_slapd")
	b.ReportMetric(float64(peak)/(1<<20), "peak_rss_MB")
}

// serverCPU is the user and system CPU time slapd has used (from
// /proc/PID/stat, PID from its pidfile), so that a report can tell the
// server's share of a read from ours.
func serverCPU(b *testing.B, s *testservers.Slapd) time.Duration {
	pid, err := os.ReadFile(filepath.Join(s.Dir, "slapd.pid"))
	if err != nil {
		b.Fatalf("slapd pid: %v", err)
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		b.Fatalf("slapd stat: %v", err)
	}
	// The fields after the parenthesised command name; utime and stime are
	// the 14th and 15th of the whole line, in clock ticks (USER_HZ, 100 on
	// Linux).
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		b.Fatalf("slapd stat: %q", stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("slapd stat: %q", stat)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkListScripted reads N people, shaped as the slapd benchmark's
// (objectClass, uid, cn, mail, manager under four OUs), from the scripted
// server, which writes pre-encoded pages: nearly all the CPU time and every
// allocation reported is the client's (go-ldap's reader and our records),
// without slapd's share or its noise. Compare runs with benchstat.
func BenchmarkListScripted(b *testing.B) {
	for _, n := range []int{5000, 50000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) { benchScripted(b, n, 500) })
	}
}

func benchScripted(b *testing.B, n, pageSize int) {
	pages := scriptedPages(conformance.People(n), pageSize)
	f := startFakeLDAP(b, func(page int, r fakeReply) {
		if page > len(pages) {
			r.done(0, "", []byte{})
			return
		}
		id := ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, r.id, "").Bytes()
		buf := make([]byte, 0, len(pages[page-1])*300)
		for _, op := range pages[page-1] {
			buf = appendMessage(buf, id, op)
		}
		if _, err := r.conn.Write(buf); err != nil {
			return
		}
		cookie := []byte{}
		if page < len(pages) {
			cookie = []byte(strconv.Itoa(page))
		}
		r.done(0, "", cookie)
	})
	c := fakeConfig(f)
	c.BaseDN = "ou=people,dc=example,dc=test"
	c.Attributes = []string{"uid", "cn", "mail", "objectClass"}
	c.PageSize = pageSize
	srcAny, err := c.Open("bench", zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	src := srcAny.(*Source)
	b.ReportAllocs()
	var peak int64
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		resetPeakRSS(b)
		b.StartTimer()
		c0 := processCPU()
		batch, err := src.List(context.Background())
		cpu += processCPU() - c0
		if err != nil {
			b.Fatalf("List: %v", err)
		}
		if len(batch.Records) != n {
			b.Fatalf("List: %d records, want %d", len(batch.Records), n)
		}
		peak = max(peak, peakRSS(b))
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/1000, "cpu_ms")
	b.ReportMetric(float64(peak)/(1<<20), "peak_rss_MB")
}

// resetPeakRSS collects garbage, returns it to the OS and resets this
// process's peak RSS (Linux: writing 5 to clear_refs resets VmHWM), so
// that peakRSS after a read is the read's peak over what was retained.
func resetPeakRSS(b *testing.B) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak RSS: %v", err)
	}
}

// peakRSS is VmHWM, the process's peak resident set since resetPeakRSS.
func peakRSS(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("VmHWM: %v", err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// scriptedPages encodes the SearchResultEntry operations of people as
// peopleLDIF stores them and slapd returns them for the benchmark's
// attribute list, pageSize to a page.
func scriptedPages(people []conformance.Person, pageSize int) [][][]byte {
	const base = "ou=people,dc=example,dc=test"
	var pages [][][]byte
	firstOf := map[string]string{}
	for i, p := range people {
		if i%pageSize == 0 {
			pages = append(pages, nil)
		}
		parts := strings.Split(p.Dept, "/")
		dn := base
		for _, part := range parts {
			dn = "ou=" + part + "," + dn
		}
		dn = "uid=" + p.Key + "," + dn
		attrs := [][2]string{{"objectClass", "inetOrgPerson"}, {"uid", p.Key}, {"cn", p.Name}, {"mail", p.Mail}}
		if m, ok := firstOf[p.Dept]; ok {
			attrs = append(attrs, [2]string{"manager", m})
		} else {
			firstOf[p.Dept] = dn
		}
		op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultEntry, nil, "")
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
		list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		for _, a := range attrs {
			pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
			pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a[0], ""))
			set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a[1], ""))
			pa.AppendChild(set)
			list.AppendChild(pa)
		}
		op.AppendChild(list)
		pages[len(pages)-1] = append(pages[len(pages)-1], op.Bytes())
	}
	return pages
}

// appendMessage appends the LDAPMessage SEQUENCE { messageID, op } with the
// messageID and op already encoded, so that serving a page costs the server
// about one copy of it.
func appendMessage(buf, idBytes, op []byte) []byte {
	n := len(idBytes) + len(op)
	buf = append(buf, 0x30)
	switch {
	case n < 0x80:
		buf = append(buf, byte(n))
	case n < 0x100:
		buf = append(buf, 0x81, byte(n))
	case n < 0x10000:
		buf = append(buf, 0x82, byte(n>>8), byte(n))
	default:
		buf = append(buf, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	buf = append(buf, idBytes...)
	return append(buf, op...)
}
