// Package reliability is the proof harness of issue 9 ("never do harm"): it
// runs the real orgsync binary against the WeCom emulator and real sources,
// kills it, injects faults, feeds it bad input and scans what it prints,
// and asserts the safety invariants of DESIGN §3a from the outside.
//
// Plain `go test ./reliability/` runs the short form (a few kills, small
// companies; it must stay under ~3 minutes on a 2-core machine).
// ORGSYNC_RELIABILITY=full (set by `make reliability`) runs the full one.
// Tests against slapd skip unless slapd is installed, or fail without it
// under ORGSYNC_REQUIRE_SERVERS=1.
package reliability

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/orgsync/orgsync/internal/testservers"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	_ "modernc.org/sqlite"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
)

// bin is the orgsync binary built once by TestMain.
var bin string

// full is the long form of every test (make reliability).
var full = os.Getenv("ORGSYNC_RELIABILITY") == "full"

const (
	testCorp   = "wwreliability0001"
	testSecret = "rel-Secret-9f3c2a71-do-not-print"
)

func TestMain(m *testing.M) {
	os.Exit(testservers.RunWithOrgsync(m.Run, &bin))
}

// pick returns short or long by mode.
func pick[T any](short, long T) T {
	if full {
		return long
	}
	return short
}

// result is one finished orgsync process.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) out() string { return r.stdout + r.stderr }

func (r result) String() string {
	return fmt.Sprintf("orgsync %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, clip(r.stdout), clip(r.stderr))
}

func clip(s string) string {
	if len(s) > 4000 {
		return s[:2000] + "\n...\n" + s[len(s)-2000:]
	}
	return s
}

var panicRe = regexp.MustCompile(`(?m)^panic: |^goroutine \d+ \[|fatal error: `)

// runBin runs the binary to completion (bounded by timeout) and fails t if
// it panicked, hung or exited outside {0,1,2,3}.
func runBin(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	err := cmd.Run()
	r := result{args: args, stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("orgsync %s did not finish within %s\n%s", strings.Join(args, " "), timeout, r)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run orgsync: %v", err)
	}
	checkSane(t, r)
	return r
}

func checkSane(t *testing.T, r result) {
	t.Helper()
	if panicRe.MatchString(r.out()) {
		t.Errorf("orgsync panicked:\n%s", r)
	}
	// 0 success, 1 failed, 2 usage or config, 3 refused by the guard, 4
	// finished but needs attention (DESIGN §3a.8).
	if r.code < 0 || r.code > 4 {
		t.Errorf("exit code %d outside {0,1,2,3,4}:\n%s", r.code, r)
	}
}

// ---- the WeCom emulator -------------------------------------------------

// inproc is an in-process emulator behind httptest, with the chaos the
// emulator itself cannot inject (stalls, token invalidation) added by a
// wrapping handler, and every access token it issued captured.
type inproc struct {
	*emulator.Server
	URL string

	mu         sync.Mutex
	rng        *rand.Rand
	tokens     map[string]bool
	stallRate  float64
	stall      time.Duration
	invalidate float64
	// invalidGap is the least time between two invalidations: a secret
	// reset is an event, not a per-call coin toss.
	invalidGap time.Duration
	lastInval  time.Time
	stalls     int
	invalids   int
}

func startEmulator(t *testing.T, opts emulator.Options) *inproc {
	t.Helper()
	if opts.CorpID == "" {
		opts.CorpID = testCorp
	}
	if len(opts.Secrets) == 0 {
		opts.Secrets = []emulator.SecretSpec{{Secret: testSecret, Role: emulator.RoleContactsSyncEdit}}
	}
	if opts.RateLimitPerMinute == 0 {
		opts.RateLimitPerMinute = -1
	}
	emu, err := emulator.New(opts, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	e := &inproc{Server: emu, tokens: map[string]bool{}, rng: rand.New(rand.NewPCG(uint64(opts.Seed), 7))}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

func (e *inproc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/cgi-bin/gettoken" {
		rec := httptest.NewRecorder()
		e.Server.ServeHTTP(rec, r)
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &body) == nil && body.AccessToken != "" {
			e.mu.Lock()
			e.tokens[body.AccessToken] = true
			e.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	if strings.HasPrefix(r.URL.Path, "/cgi-bin/") {
		e.mu.Lock()
		stall := e.stallRate > 0 && e.rng.Float64() < e.stallRate
		inval := e.invalidate > 0 && e.rng.Float64() < e.invalidate && time.Since(e.lastInval) >= e.invalidGap
		if stall {
			e.stalls++
		}
		if inval {
			e.invalids++
			e.lastInval = time.Now()
		}
		d := e.stall
		e.mu.Unlock()
		if inval {
			e.InvalidateTokens()
		}
		if stall {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
	}
	e.Server.ServeHTTP(w, r)
}

func (e *inproc) issuedTokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for k := range e.tokens {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---- companies ----------------------------------------------------------

// person is one row of a generated HR export.
type person struct {
	ID, Name, Dept, Mobile, Email, Position, Status, Manager string
}

func (p person) userid() string { return strings.ToLower(p.ID) }

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢")
	given    = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红文辉建国志云峰")
	deptTree = []string{
		"总部", "总部/财务部", "总部/人事部", "研发中心", "研发中心/后端组", "研发中心/前端组",
		"研发中心/测试组", "研发中心/后端组/存储", "研发中心/后端组/网关", "销售部", "销售部/华东", "销售部/华南",
		"销售部/华北", "运营部", "运营部/客服",
	}
)

// company is n people over the department tree; people 0..9 lead the
// others (direct_leader), so the apply has to order leaders first.
func company(n int) []person {
	out := make([]person, n)
	for i := range out {
		out[i] = newPerson(i)
	}
	return out
}

func newPerson(i int) person {
	p := person{
		ID:       fmt.Sprintf("E%05d", i+1),
		Name:     string(surnames[i%len(surnames)]) + string(given[(i/len(surnames))%len(given)]) + string(given[(i*7)%len(given)]),
		Dept:     deptTree[i%len(deptTree)],
		Mobile:   fmt.Sprintf("139%08d", 10000000+i*37),
		Email:    fmt.Sprintf("user%05d@corp.example", i+1),
		Position: []string{"工程师", "经理", "专员", "主管"}[i%4],
		Status:   "在职",
	}
	if i >= 10 {
		p.Manager = fmt.Sprintf("E%05d", i%10+1)
	}
	return p
}

const csvHeader = "id,name,dept,mobile,email,position,status,manager"

// csvBytes renders people as a UTF-8 CSV export with CRLF line ends.
func csvBytes(ps []person) []byte {
	var b strings.Builder
	b.WriteString(csvHeader + "\r\n")
	for _, p := range ps {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s,%s\r\n", p.ID, p.Name, p.Dept, p.Mobile, p.Email, p.Position, p.Status, p.Manager)
	}
	return []byte(b.String())
}

// mappingYAML maps the generated columns; department is a "/" path.
const mappingYAML = `mapping:
  key: id
  user:
    userid: lower(id)
    name: trim(name)
    department: dept
    position: position
    mobile: mobile
    email: lower(email)
    enabled: status != "离职"
    direct_leader: manager
`

// cfg is what a test config varies.
type cfg struct {
	Sources string // the whole `sources:` block
	URL     string
	Dir     string
	Policy  string // extra lines under policy:, indented two spaces
	Extra   string // more top-level blocks
	Target  string // extra lines under target.config, indented four spaces
	Mapping string // replaces mappingYAML
}

func csvSource(path, extra string) string {
	return fmt.Sprintf("sources:\n  - name: hr\n    type: csv\n    config: {path: %s, settle: 0s%s}\n", yq(path), extra)
}

// yq quotes s as a single-quoted YAML scalar (test dirs hold commas and %).
func yq(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// openThresholds lifts every change-volume threshold, so that what a test
// sees is the source-integrity guard and the apply, not a count limit
// (those have their own tests in plan).
const openThresholds = `  max_disables: "100%"
  max_deletes: "100%"
  max_moves: "100%"
  max_updates: "100%"
  max_clears: "100%"
  max_department_renames: "100%"
  max_department_moves: "100%"
  max_department_deletes: "100%"
  max_disables_per_day: "100%"
  max_deletes_per_day: "100%"
`

// writeConfig writes orgsync.yaml in c.Dir (secret in a secret_file) and
// returns its path.
func writeConfig(t *testing.T, c cfg) string {
	t.Helper()
	secretFile := filepath.Join(c.Dir, "wecom.secret")
	must(t, os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600))
	policy := c.Policy
	if policy == "" {
		policy = openThresholds
	}
	mp := c.Mapping
	if mp == "" {
		mp = mappingYAML
	}
	y := c.Sources + mp + fmt.Sprintf(`target:
  type: wecom
  config:
    base_url: %s
    corp_id: %s
    secret_file: %s
    root_department_id: 1
%spolicy:
  mode: sync
  leavers: disable
%sstate: {path: %s}
%s`, yq(c.URL), testCorp, yq(secretFile), c.Target, policy, yq(filepath.Join(c.Dir, "state.db")), c.Extra)
	path := filepath.Join(c.Dir, "orgsync.yaml")
	must(t, os.WriteFile(path, []byte(y), 0o600))
	return path
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ---- what WeCom holds ---------------------------------------------------

// member is a WeCom member as the tests compare it.
type member struct {
	Name, Dept, Mobile, Email, Position string
	Enabled                             bool
	Leaders                             string
}

// directory is the emulator's state as department paths and members.
type directory struct {
	Depts      map[string]int64 // "/"-path below the root → id
	DupDepts   []string         // paths held by more than one department
	DeptNames  map[int64]string
	Members    map[string]member // lower userid → member
	DupMembers []string
	DupMobiles []string
	Users      int
}

func readDirectory(s emulator.Snapshot) directory {
	d := directory{Depts: map[string]int64{}, DeptNames: map[int64]string{}, Members: map[string]member{}}
	byID := map[int64]emulator.Department{}
	for _, x := range s.Departments {
		byID[x.ID] = x
		d.DeptNames[x.ID] = x.Name
	}
	path := func(id int64) string {
		var parts []string
		for i := 0; i < 32 && id != 1 && id != 0; i++ {
			x, ok := byID[id]
			if !ok {
				parts = append(parts, fmt.Sprintf("?%d", id))
				break
			}
			parts = append(parts, x.Name)
			id = x.ParentID
		}
		slices.Reverse(parts)
		return strings.Join(parts, "/")
	}
	for _, x := range s.Departments {
		if x.ID == 1 {
			continue
		}
		p := path(x.ID)
		if _, dup := d.Depts[p]; dup {
			d.DupDepts = append(d.DupDepts, p)
		}
		d.Depts[p] = x.ID
	}
	mobiles := map[string]bool{}
	for _, u := range s.Users {
		d.Users++
		k := strings.ToLower(u.UserID)
		if _, dup := d.Members[k]; dup {
			d.DupMembers = append(d.DupMembers, k)
		}
		if u.Mobile != "" {
			if mobiles[u.Mobile] {
				d.DupMobiles = append(d.DupMobiles, u.Mobile)
			}
			mobiles[u.Mobile] = true
		}
		var depts []string
		for _, id := range u.Department {
			depts = append(depts, path(id))
		}
		sort.Strings(depts)
		d.Members[k] = member{Name: u.Name, Dept: strings.Join(depts, ";"), Mobile: u.Mobile, Email: u.Email,
			Position: u.Position, Enabled: u.Enable == 1, Leaders: strings.ToLower(strings.Join(u.DirectLeader, ";"))}
	}
	return d
}

// want is the directory the people should produce.
func want(ps []person) map[string]member {
	out := map[string]member{}
	for _, p := range ps {
		out[p.userid()] = member{Name: p.Name, Dept: p.Dept, Mobile: p.Mobile, Email: p.Email, Position: p.Position,
			Enabled: p.Status != "离职", Leaders: strings.ToLower(p.Manager)}
	}
	return out
}

// diffDirectory lists how the directory differs from the people (at most
// 20 lines), and the duplicates it holds.
func diffDirectory(got directory, ps []person) []string {
	var out []string
	w := want(ps)
	for id, m := range w {
		g, ok := got.Members[id]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("missing member %s", id))
		case g != m:
			out = append(out, fmt.Sprintf("member %s = %+v, want %+v", id, g, m))
		}
	}
	for id := range got.Members {
		if _, ok := w[id]; !ok {
			out = append(out, fmt.Sprintf("extra member %s", id))
		}
	}
	wantDepts := map[string]bool{}
	for _, p := range ps {
		parts := strings.Split(p.Dept, "/")
		for i := range parts {
			wantDepts[strings.Join(parts[:i+1], "/")] = true
		}
	}
	for p := range wantDepts {
		if _, ok := got.Depts[p]; !ok {
			out = append(out, fmt.Sprintf("missing department %s", p))
		}
	}
	for p := range got.Depts {
		if !wantDepts[p] {
			out = append(out, fmt.Sprintf("extra department %s", p))
		}
	}
	for _, p := range got.DupDepts {
		out = append(out, "duplicated department "+p)
	}
	for _, m := range got.DupMembers {
		out = append(out, "duplicated member "+m)
	}
	for _, m := range got.DupMobiles {
		out = append(out, "duplicated mobile "+m)
	}
	sort.Strings(out)
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... %d more differences", len(out)-20))
	}
	return out
}

// ---- the state store, read only -----------------------------------------

type journalRow struct {
	ID     int64
	Run    int64
	Op     string
	Object string
	Status string
	Code   int
	Msg    string
	After  string // JSON model.Person or model.Department, "" when none
}

type runRow struct {
	ID     int64
	Status string
	Report string
}

type store struct {
	Runs    []runRow
	Journal []journalRow
	Members map[string]bool // owned userids (lower)
	Depts   map[int64]bool  // owned department ids
}

// readStore reads the state SQLite file read-only (no orgsync process
// may hold it).
func readStore(t *testing.T, path string) store {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	must(t, err)
	defer db.Close()
	s := store{Members: map[string]bool{}, Depts: map[int64]bool{}}
	rows, err := db.Query(`SELECT id, status, COALESCE(report, '') FROM runs ORDER BY id`)
	must(t, err)
	for rows.Next() {
		var r runRow
		must(t, rows.Scan(&r.ID, &r.Status, &r.Report))
		s.Runs = append(s.Runs, r)
	}
	must(t, rows.Err())
	rows.Close()
	rows, err = db.Query(`SELECT id, run_id, op, object, status, errcode, errmsg, COALESCE(after, '') FROM journal ORDER BY id`)
	must(t, err)
	for rows.Next() {
		var j journalRow
		must(t, rows.Scan(&j.ID, &j.Run, &j.Op, &j.Object, &j.Status, &j.Code, &j.Msg, &j.After))
		s.Journal = append(s.Journal, j)
	}
	must(t, rows.Err())
	rows.Close()
	rows, err = db.Query(`SELECT userid_key FROM members`)
	must(t, err)
	for rows.Next() {
		var k string
		must(t, rows.Scan(&k))
		s.Members[strings.ToLower(k)] = true
	}
	rows.Close()
	rows, err = db.Query(`SELECT id FROM departments`)
	must(t, err)
	for rows.Next() {
		var id int64
		must(t, rows.Scan(&id))
		s.Depts[id] = true
	}
	rows.Close()
	return s
}

func applied(status string) bool { return status == "done" || status == "resolved" }

// auditProblems checks the journal against the directory: nothing pending
// or uncertain (an outcome still unknown),
// every member and department created exactly once, every disabled member
// disabled in the journal, every existing object owned, every member's
// name, position, mobile and email what its last applied entry says, and
// every failed entry saying why.
func auditProblems(st store, got directory) []string {
	var out []string
	creates := map[string]int{}
	deptCreates := map[string]int{}
	disables := map[string]int{}
	// lastAfter is what the audit log says each member was last made.
	type audited struct{ Name, Position, Mobile, Email string }
	lastAfter := map[string]audited{}
	for _, j := range st.Journal {
		if applied(j.Status) && strings.HasPrefix(j.Op, "user_") && j.After != "" && j.After != "null" {
			var a audited
			if json.Unmarshal([]byte(j.After), &a) == nil && a.Name != "" {
				lastAfter[strings.ToLower(j.Object)] = a
			}
		}
		if j.Status == "pending" || j.Status == "uncertain" {
			out = append(out, fmt.Sprintf("journal %d (run %d %s %s) still %s", j.ID, j.Run, j.Op, j.Object, j.Status))
		}
		if j.Status == "failed" && strings.TrimSpace(j.Msg) == "" {
			out = append(out, fmt.Sprintf("journal %d (run %d %s %s) failed with no error text", j.ID, j.Run, j.Op, j.Object))
		}
		if !applied(j.Status) {
			continue
		}
		switch j.Op {
		case "user_create":
			creates[strings.ToLower(j.Object)]++
		case "department_create":
			deptCreates[j.Object]++
		case "user_disable":
			disables[strings.ToLower(j.Object)]++
		}
	}
	for id, m := range got.Members {
		if n := creates[id]; n != 1 {
			out = append(out, fmt.Sprintf("member %s: %d applied user_create entries in the journal, want 1", id, n))
		}
		if !m.Enabled && disables[id] != 1 {
			out = append(out, fmt.Sprintf("member %s is disabled but has %d applied user_disable entries, want 1", id, disables[id]))
		}
		if !st.Members[id] {
			out = append(out, fmt.Sprintf("member %s exists in WeCom but is not owned in the shadow", id))
		}
		if a, ok := lastAfter[id]; ok && (a != audited{m.Name, m.Position, m.Mobile, m.Email}) {
			out = append(out, fmt.Sprintf("member %s in WeCom is %+v, but the audit log last made it %+v: a change nobody journaled", id,
				audited{m.Name, m.Position, m.Mobile, m.Email}, a))
		}
	}
	for obj, n := range deptCreates {
		if n != 1 {
			out = append(out, fmt.Sprintf("department %s: %d applied department_create entries, want 1", obj, n))
		}
	}
	if len(deptCreates) != len(got.Depts) {
		out = append(out, fmt.Sprintf("%d departments in WeCom, %d distinct applied department_create entries", len(got.Depts), len(deptCreates)))
	}
	for p, id := range got.Depts {
		if !st.Depts[id] {
			out = append(out, fmt.Sprintf("department %s (id %d) exists in WeCom but is not owned in the shadow", p, id))
		}
	}
	sort.Strings(out)
	if len(out) > 30 {
		out = append(out[:30], fmt.Sprintf("... %d more", len(out)-30))
	}
	return out
}

// getJSON fetches url into v.
func getJSON(url string, v any) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.Unmarshal(b, v)
}

func postJSON(url, body string) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}

// poll calls cond every 20ms until it holds or timeout passes.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
