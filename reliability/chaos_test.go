package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
)

// TestChaosConvergesWithinTwoRuns syncs a company into an emulator where
// about 10% of calls fail: -1, 6000, 45033, HTTP 502/503, dropped
// connections, answers lost after the write (drop_after), plus (from the
// test's wrapping handler, as the emulator has no such fault kinds) 2 s
// stalls and token invalidations (40014; at most one every 2 s, as a secret
// reset is an event), under a per-API limit low enough to hit 45009
// windows; policy adopt: []. The faults stay on for both runs. After at
// most two runs WeCom equals the export, everything in it is owned by
// orgsync (shadow), and nothing is duplicated or created twice (DESIGN
// §3a.4).
func TestChaosConvergesWithinTwoRuns(t *testing.T) {
	t.Parallel()
	n := pick(150, 400)
	seed := seedFromEnv()
	emu := startEmulator(t, emulator.Options{
		Seed: seed,
		Faults: emulator.Faults{Rate: 0.08, Kinds: []string{
			emulator.FaultBusy, emulator.FaultConflict, emulator.FaultConcurrency, emulator.FaultHTTP5xx,
			emulator.FaultDrop, emulator.FaultDropAfter,
		}},
		// A low per-API minute limit: user/create of the whole company
		// cannot fit in one window, so the client meets 45009.
		RateLimitPerMinute: n * 2 / 3,
		RestrictedReads:    true,
	})
	emu.stallRate, emu.stall, emu.invalidate, emu.invalidGap = 0.01, 2*time.Second, 0.01, 2*time.Second
	dir := t.TempDir()
	src := filepath.Join(dir, "employees.csv")
	ps := company(n)
	must(t, os.WriteFile(src, csvBytes(ps), 0o644))
	cfgPath := writeConfig(t, cfg{Sources: csvSource(src, ""), URL: emu.URL, Dir: dir,
		Policy: "  adopt: []\n" + openThresholds})
	t.Logf("company %d people, seed %d", n, seed)

	start := time.Now()
	var diff []string
	runs := 0
	for runs < 2 {
		runs++
		r := runBin(t, 4*time.Minute, "sync", "-c", cfgPath, "--log-level", "warn")
		t.Logf("run %d: exit %d after %s\n%s", runs, r.code, time.Since(start).Round(time.Millisecond), failures(r.stdout, 12))
		diff = diffDirectory(readDirectory(emu.State()), ps)
		if len(diff) == 0 {
			break
		}
	}
	st := emu.Stats()
	faults := 0
	for _, v := range st.Faults {
		faults += v
	}
	calls := 0
	for api, v := range st.Calls {
		if api != "gettoken" {
			calls += v
		}
	}
	emu.mu.Lock()
	t.Logf("converged=%v after %d runs in %s: %d calls, %d injected faults %v, %d stalls, %d token invalidations, 45009 answers %d",
		len(diff) == 0, runs, time.Since(start).Round(time.Millisecond), calls, faults, st.Faults, emu.stalls, emu.invalids, count45009(st))
	emu.mu.Unlock()
	if len(diff) > 0 {
		t.Errorf("WeCom differs from the export after %d runs:\n  %s", runs, strings.Join(diff, "\n  "))
	}
	got := readDirectory(emu.State())
	if a := auditProblems(readStore(t, filepath.Join(dir, "state.db")), got); len(a) > 0 {
		t.Errorf("ownership and audit after the chaos:\n  %s", strings.Join(a, "\n  "))
	}
}

func count45009(st emulator.Stats) int {
	n := 0
	for _, m := range st.Errors {
		n += m[45009]
	}
	return n
}

// failures is the run's summary and its first FAILED lines, the root causes
// rather than the knock-on ones.
func failures(out string, n int) string {
	var sum, failed []string
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "run "):
			in = true
			sum = append(sum, l)
		case in && strings.Contains(l, "FAILED"):
			if len(failed) < n {
				failed = append(failed, l)
			}
		case in && !strings.Contains(l, "FAILED"):
			sum = append(sum, l)
		}
	}
	return strings.Join(append(sum, failed...), "\n")
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = append([]string{fmt.Sprintf("... (%d lines)", len(l)-lines)}, l[len(l)-lines:]...)
	}
	return strings.Join(l, "\n")
}
