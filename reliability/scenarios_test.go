package reliability

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
)

// wecomCall makes one WeCom API call to the emulator with the test secret,
// as an admin doing something by hand would; it fails t on a non-zero
// errcode.
func wecomCall(t *testing.T, base, api string, body any) {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	must(t, getJSON(base+"/cgi-bin/gettoken?corpid="+testCorp+"&corpsecret="+testSecret, &tok))
	b, err := json.Marshal(body)
	must(t, err)
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(base+"/cgi-bin/"+api+"?access_token="+tok.AccessToken, "application/json", strings.NewReader(string(b)))
	must(t, err)
	defer resp.Body.Close()
	var r struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	must(t, json.NewDecoder(resp.Body).Decode(&r))
	if r.ErrCode != 0 {
		t.Fatalf("%s %s: %d %s", api, b, r.ErrCode, r.ErrMsg)
	}
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

// syncJSON runs `sync -o json` and decodes the report.
func syncJSON(t *testing.T, cfgPath string, args ...string) (result, map[string]any) {
	t.Helper()
	r := runBin(t, 2*time.Minute, append([]string{"sync", "-c", cfgPath, "-o", "json", "--log-level", "warn"}, args...)...)
	var rep map[string]any
	_ = json.Unmarshal([]byte(r.stdout), &rep)
	return r, rep
}

// TestIssue9Scenarios replays, through the real binary, the ways issue 9
// found a wrong source or a hand-made directory hurt WeCom that need a
// state before the run (the corpus covers the ones a single plan shows).
func TestIssue9Scenarios(t *testing.T) {
	t.Parallel()
	type env struct {
		emu     *inproc
		dir     string
		src     string
		ps      []person
		cfgPath string
	}
	setup := func(t *testing.T, n int, c cfg) *env {
		e := &env{emu: startEmulator(t, emulator.Options{RestrictedReads: true}), dir: t.TempDir(), ps: company(n)}
		e.src = filepath.Join(e.dir, "employees.csv")
		must(t, os.WriteFile(e.src, csvBytes(e.ps), 0o644))
		c.URL, c.Dir = e.emu.URL, e.dir
		if c.Sources == "" {
			c.Sources = csvSource(e.src, "")
		}
		e.cfgPath = writeConfig(t, c)
		return e
	}
	goodSync := func(t *testing.T, e *env) directory {
		t.Helper()
		r := runBin(t, time.Minute, "sync", "-c", e.cfgPath, "--log-level", "warn")
		if r.code != 0 {
			t.Fatalf("good first sync:\n%s", r)
		}
		d := readDirectory(e.emu.State())
		if diff := diffDirectory(d, e.ps); len(diff) > 0 {
			t.Fatalf("good first sync: %v", diff)
		}
		return d
	}
	write := func(t *testing.T, e *env, ps []person) { must(t, os.WriteFile(e.src, csvBytes(ps), 0o644)) }

	t.Run("rows with a blank key do not disable their members (#5)", func(t *testing.T) {
		e := setup(t, 60, cfg{})
		before := goodSync(t, e)
		ps := append([]person(nil), e.ps...)
		for i := 20; i < 50; i++ {
			ps[i].ID = ""
		}
		write(t, e, ps)
		r := runBin(t, time.Minute, "sync", "-c", e.cfgPath, "--log-level", "warn")
		t.Logf("exit %d: %s", r.code, lastLine(r.out()))
		if h := harm(before, readDirectory(e.emu.State())); len(h) > 0 {
			t.Errorf("30 rows with a blank key (exit %d): %s\n%s", r.code, summarize(h), tail(r.out(), 15))
		}
		if r.code == 0 {
			t.Errorf("30 rejected rows, exit 0: a monitor sees nothing")
		}
	})

	t.Run("a member outside the managed root is not taken over with adopt: [] (#2)", func(t *testing.T) {
		e := setup(t, 20, cfg{Target: "", Policy: "  adopt: []\n" + openThresholds})
		wecomCall(t, e.emu.URL, "department/create", map[string]any{"id": 2, "name": "受管", "parentid": 1})
		wecomCall(t, e.emu.URL, "department/create", map[string]any{"id": 900, "name": "外部", "parentid": 1})
		wecomCall(t, e.emu.URL, "user/create", map[string]any{"userid": "e00005", "name": "手工成员", "department": []int{900},
			"mobile": "13700000005", "email": "hand@corp.example", "position": "外包"})
		y, err := os.ReadFile(e.cfgPath)
		must(t, err)
		must(t, os.WriteFile(e.cfgPath, []byte(strings.Replace(string(y), "root_department_id: 1", "root_department_id: 2", 1)), 0o600))
		r1 := runBin(t, time.Minute, "sync", "-c", e.cfgPath, "--log-level", "warn")
		u := readDirectory(e.emu.State()).Members["e00005"]
		if u.Name != "手工成员" || u.Dept != "外部" || u.Mobile != "13700000005" || u.Position != "外包" {
			t.Errorf("the hand-made member outside the root was changed: %+v (exit %d)\n%s", u, r1.code, tail(r1.out(), 15))
		}
		write(t, e, e.ps[:4]) // e00005 leaves the export
		r2 := runBin(t, time.Minute, "sync", "-c", e.cfgPath, "--log-level", "warn")
		t.Logf("first sync exit %d, after the member left the export exit %d; member now %+v", r1.code, r2.code, readDirectory(e.emu.State()).Members["e00005"])
		if _, ok := readDirectory(e.emu.State()).Members["e00005"]; !ok || !readDirectory(e.emu.State()).Members["e00005"].Enabled {
			t.Errorf("the hand-made member outside the root was deleted or disabled as a leaver (exit %d)\n%s", r2.code, tail(r2.out(), 15))
		}
	})

	t.Run("new departments under a managed subtree get ids free in the whole corp", func(t *testing.T) {
		e := setup(t, 30, cfg{})
		wecomCall(t, e.emu.URL, "department/create", map[string]any{"id": 2, "name": "受管", "parentid": 1})
		for id := 3; id <= 12; id++ {
			wecomCall(t, e.emu.URL, "department/create", map[string]any{"id": id, "name": fmt.Sprintf("外部%d", id), "parentid": 1})
		}
		y, err := os.ReadFile(e.cfgPath)
		must(t, err)
		must(t, os.WriteFile(e.cfgPath, []byte(strings.Replace(string(y), "root_department_id: 1", "root_department_id: 2", 1)), 0o600))
		for i := 1; i <= 2; i++ {
			r := runBin(t, time.Minute, "sync", "-c", e.cfgPath, "--log-level", "warn")
			if r.code != 0 || strings.Contains(r.out(), "60008") {
				t.Errorf("sync %d under root 2 with ids 3..12 taken elsewhere: exit %d\n%s", i, r.code, tail(r.out(), 15))
			}
		}
	})

	t.Run("a blank mobile column does not clear every mobile", func(t *testing.T) {
		e := setup(t, 60, cfg{Policy: "  max_disables: \"100%\"\n"}) // default max_clears
		before := goodSync(t, e)
		ps := append([]person(nil), e.ps...)
		for i := range ps {
			ps[i].Mobile = ""
		}
		write(t, e, ps)
		r := runBin(t, time.Minute, "sync", "-c", e.cfgPath, "--log-level", "warn")
		t.Logf("exit %d: %s", r.code, lastLine(r.out()))
		if h := harm(before, readDirectory(e.emu.State())); len(h) > 0 {
			t.Errorf("an export with a blank mobile column (exit %d): %s\n%s", r.code, summarize(h), tail(r.out(), 15))
		}
		if r.code == 0 {
			t.Errorf("60 mobiles held or refused, exit 0")
		}
	})

	t.Run("every name changed at once is held (default max_updates)", func(t *testing.T) {
		e := setup(t, 60, cfg{Policy: "  max_disables: \"100%\"\n"})
		before := goodSync(t, e)
		ps := append([]person(nil), e.ps...)
		for i := range ps {
			ps[i].Name = "新" + ps[i].Name
		}
		write(t, e, ps)
		r := runBin(t, time.Minute, "sync", "-c", e.cfgPath, "--log-level", "warn")
		t.Logf("exit %d: %s", r.code, lastLine(r.out()))
		if h := harm(before, readDirectory(e.emu.State())); len(h) > 0 {
			t.Errorf("an export renaming all 60 people (exit %d): %s\n%s", r.code, summarize(h), tail(r.out(), 15))
		}
	})

	t.Run("every department renamed at once is held (default max_department_renames)", func(t *testing.T) {
		e := setup(t, 60, cfg{Policy: "  max_disables: \"100%\"\n"})
		before := goodSync(t, e)
		ps := append([]person(nil), e.ps...)
		for i := range ps {
			parts := strings.Split(ps[i].Dept, "/")
			for j := range parts {
				parts[j] += "部门"
			}
			ps[i].Dept = strings.Join(parts, "/")
		}
		write(t, e, ps)
		r := runBin(t, time.Minute, "sync", "-c", e.cfgPath, "--log-level", "warn")
		t.Logf("exit %d: %s", r.code, lastLine(r.out()))
		after := readDirectory(e.emu.State())
		var renamed, moved int
		for id, name := range before.DeptNames {
			if a, ok := after.DeptNames[id]; ok && a != name {
				renamed++
			}
		}
		for id, m := range before.Members {
			if after.Members[id].Dept != m.Dept {
				moved++
			}
		}
		if renamed > 0 || moved > 20 {
			t.Errorf("a path-mode export renaming all 15 departments (exit %d): %d departments renamed, %d members moved\n%s",
				r.code, renamed, moved, tail(r.out(), 15))
		}
	})

	t.Run("a lost state store deletes nothing and the runs after it recover", func(t *testing.T) {
		e := setup(t, 40, cfg{})
		before := goodSync(t, e)
		for _, f := range []string{"state.db", "state.db-wal", "state.db-shm"} {
			_ = os.Remove(filepath.Join(e.dir, f))
		}
		var last result
		for i := 1; i <= 2; i++ {
			last = runBin(t, time.Minute, "sync", "-c", e.cfgPath, "--log-level", "warn")
			if h := harm(before, readDirectory(e.emu.State())); len(h) > 0 {
				t.Errorf("sync %d after losing state.db: %s", i, summarize(h))
			}
		}
		t.Logf("second run after the loss: exit %d: %s", last.code, lastLine(last.out()))
		if last.code == 1 || strings.Contains(last.out(), "60008") {
			t.Errorf("the second run after losing state.db still fails (exit %d):\n%s", last.code, tail(last.out(), 15))
		}
	})

	t.Run("a run with every record rejected does not say succeeded", func(t *testing.T) {
		e := setup(t, 20, cfg{})
		goodSync(t, e)
		ps := append([]person(nil), e.ps...)
		for i := range ps {
			ps[i].Mobile = "12345"
		}
		write(t, e, ps)
		r, rep := syncJSON(t, e.cfgPath)
		t.Logf("exit %d, status %v", r.code, rep["status"])
		if r.code == 0 || rep["status"] == "succeeded" {
			t.Errorf("20 of 20 records rejected: exit %d, status %v", r.code, rep["status"])
		}
	})

	t.Run("a run with one of two sources missing does not say succeeded", func(t *testing.T) {
		e := setup(t, 20, cfg{})
		other := filepath.Join(e.dir, "contractors.csv")
		c2 := []person{newPerson(500), newPerson(501)}
		must(t, os.WriteFile(other, csvBytes(c2), 0o644))
		srcs := csvSource(e.src, "") + fmt.Sprintf("  - name: contractors\n    type: csv\n    config: {path: %s, settle: 0s}\n", yq(other))
		e.cfgPath = writeConfig(t, cfg{Sources: srcs, URL: e.emu.URL, Dir: e.dir})
		e.ps = append(e.ps, c2...)
		before := goodSync(t, e)
		must(t, os.Remove(other))
		r, rep := syncJSON(t, e.cfgPath)
		t.Logf("exit %d, status %v", r.code, rep["status"])
		if r.code == 0 || rep["status"] == "succeeded" {
			t.Errorf("a source gone: exit %d, status %v", r.code, rep["status"])
		}
		if h := harm(before, readDirectory(e.emu.State())); len(h) > 0 {
			t.Errorf("a source gone: %s", summarize(h))
		}
	})

	t.Run("rejected records counts rows, not problems", func(t *testing.T) {
		e := setup(t, 10, cfg{})
		ps := append([]person(nil), e.ps...)
		ps[3].Mobile, ps[3].Email, ps[3].Dept = "12345", "not-an-email", "a:b"
		write(t, e, ps)
		_, rep := syncJSON(t, e.cfgPath)
		if n, _ := rep["rejected_records"].(float64); n != 1 {
			t.Errorf("one row with three bad fields: rejected_records = %v, want 1", rep["rejected_records"])
		}
	})

	t.Run("a quiet night makes zero write calls (leaders written upper-case)", func(t *testing.T) {
		e := setup(t, 60, cfg{})
		goodSync(t, e)
		e.emu.ResetStats()
		r := runBin(t, time.Minute, "sync", "-c", e.cfgPath, "--log-level", "warn")
		if w := e.emu.Stats().Writes; w != 0 || r.code != 0 {
			t.Errorf("the same export again: %d write calls, exit %d\n%s", w, r.code, tail(r.out(), 15))
		}
	})

	t.Run("full_reads does not adopt a hand-made department without an adopt rule", func(t *testing.T) {
		e := setup(t, 10, cfg{Target: "    full_reads: true\n", Policy: "  adopt: []\n" + openThresholds})
		emu := startEmulator(t, emulator.Options{}) // full reads allowed
		e.emu = emu
		wecomCall(t, emu.URL, "department/create", map[string]any{"id": 77, "name": "总部", "parentid": 1})
		e.cfgPath = writeConfig(t, cfg{Sources: csvSource(e.src, ""), URL: emu.URL, Dir: e.dir, Target: "    full_reads: true\n", Policy: "  adopt: []\n" + openThresholds})
		r := runBin(t, time.Minute, "sync", "-c", e.cfgPath, "--log-level", "warn")
		t.Logf("exit %d: %s", r.code, lastLine(r.out()))
		if readStore(t, filepath.Join(e.dir, "state.db")).Depts[77] {
			t.Errorf("the hand-made department 总部 (id 77) became orgsync's (exit %d)\n%s", r.code, tail(r.out(), 15))
		}
	})
}
