package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	wecom "github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/plan"
)

// row is one HR export row.
type row struct {
	id, name, dept, mobile, status, leader string
}

type env struct {
	t      *testing.T
	dir    string
	emu    *emulator.Server
	url    string
	cfg    string
	extra  string // extra YAML appended under policy
	maxDis string // policy.max_disables; default 25%
	rows   []row
	depts  [][4]string // code, name, parent, order
	e      *Engine
	second string // contents of the optional second source file ("" = no second source)
	target string // extra YAML under target.config
	note   bool   // the export has a 备注 column no rule reads
	paths  bool   // rows' dept is a "/"-path (departments from paths, no table)
	state  string // the state block's YAML; "" = SQLite in dir
}

const (
	testSecret = "engine-test-secret"
	testCorp   = "wwenginetest0001"
)

func newEnv(t *testing.T, restricted bool) *env {
	t.Helper()
	emu, err := emulator.New(emulator.Options{CorpID: testCorp, RestrictedReads: restricted,
		Secrets: []emulator.SecretSpec{{Secret: testSecret, Role: emulator.RoleContactsSyncEdit}}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	en := &env{t: t, dir: t.TempDir(), emu: emu, url: srv.URL}
	en.depts = [][4]string{{"D1", "总部", "", "100"}, {"D2", "研发中心", "D1", "50"}, {"D3", "销售部", "D1", "40"}, {"D4", "后端组", "D2", "10"}}
	for i := 1; i <= 20; i++ {
		d := []string{"D2", "D3", "D4"}[i%3]
		leader := ""
		if i > 1 {
			leader = "E001"
		}
		en.rows = append(en.rows, row{id: fmt.Sprintf("E%03d", i), name: fmt.Sprintf("员工%d", i), dept: d, mobile: fmt.Sprintf("1380013%04d", i), status: "在职", leader: leader})
	}
	return en
}

func (en *env) writeFiles() {
	en.t.Helper()
	var b strings.Builder
	note, noteCol := "", ""
	if en.note {
		note, noteCol = ",x", ",备注"
	}
	b.WriteString("工号,姓名,部门编码,手机,状态,直属上级工号" + noteCol + "\n")
	for _, r := range en.rows {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s%s\n", r.id, r.name, r.dept, r.mobile, r.status, r.leader, note)
	}
	must(en.t, os.WriteFile(filepath.Join(en.dir, "employees.csv"), []byte(b.String()), 0o644))
	b.Reset()
	b.WriteString("部门编码,部门名称,上级部门编码,排序\n")
	for _, d := range en.depts {
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", d[0], d[1], d[2], d[3])
	}
	must(en.t, os.WriteFile(filepath.Join(en.dir, "departments.csv"), []byte(b.String()), 0o644))
	if en.second != "" {
		must(en.t, os.WriteFile(filepath.Join(en.dir, "contractors.csv"), []byte(en.second), 0o644))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (en *env) config() string {
	second := ""
	if en.second != "" {
		second = fmt.Sprintf(`
  - name: contractors
    type: csv
    config: {path: %s/contractors.csv, settle: 0s, min_records: 2}`, en.dir)
	}
	return fmt.Sprintf(`sources:
  - name: hr
    type: csv
    config: {path: %[1]s/employees.csv, settle: 0s}%[4]s
mapping:
  key: 工号
  user:
    userid: lower(工号)
    name: 姓名
    department: 部门编码
    mobile: 手机
    enabled: 状态 != "离职"
    direct_leader: 直属上级工号
%[9]s
target:
  config:
    base_url: %[2]s
    corp_id: %[3]s
    secret: %[5]s
    concurrency: 4
%[8]s
policy:
  leavers: disable
  delete_after: 720h
  max_disables: %[7]s
  max_deletes: 10
%[6]s
%[10]s
`, en.dir, en.url, testCorp, second, testSecret, en.extra, cmp.Or(en.maxDis, "25%"), en.target, en.departments(), cmp.Or(en.state, "state: {path: "+en.dir+"/state.db}"))
}

func (en *env) departments() string {
	if en.paths {
		return ""
	}
	return fmt.Sprintf(`  departments:
    from: table
    table: {file: %s/departments.csv, code: 部门编码, name: 部门名称, parent: 上级部门编码, order: int(排序)}`, en.dir)
}

// open (re)builds the engine from the current files and config, as a new
// process would.
func (en *env) open() *Engine { return en.openWith(nil) }

// openWith is open with adjust, when set, called on the built engine
// before it opens (to give it another directory, say).
func (en *env) openWith(adjust func(*Engine)) *Engine {
	en.t.Helper()
	if en.e != nil {
		en.e.Close()
		en.e = nil
	}
	en.writeFiles()
	path := filepath.Join(en.dir, "orgsync.yaml")
	must(en.t, os.WriteFile(path, []byte(en.config()), 0o644))
	cfg, err := config.Load(path)
	must(en.t, err)
	e, err := Build(cfg, zap.NewNop())
	must(en.t, err)
	if adjust != nil {
		adjust(e)
	}
	must(en.t, e.Open(context.Background()))
	en.e = e
	en.t.Cleanup(func() { e.Close() })
	return e
}

func (en *env) sync(o Options) (*Report, error) {
	en.t.Helper()
	return en.open().RunOnce(context.Background(), o)
}

func (en *env) mustSync() *Report {
	en.t.Helper()
	rep, err := en.sync(Options{})
	if err != nil {
		en.t.Fatalf("sync: %v (report %+v)", err, rep)
	}
	return rep
}

func (en *env) user(userid string) *emulator.User {
	for _, u := range en.emu.State().Users {
		if strings.EqualFold(u.UserID, userid) {
			u := u
			return &u
		}
	}
	return nil
}

func (en *env) deptByName(name string) *emulator.Department {
	for _, d := range en.emu.State().Departments {
		if d.Name == name {
			d := d
			return &d
		}
	}
	return nil
}

func bothReadModes(t *testing.T, f func(t *testing.T, en *env)) {
	for _, restricted := range []bool{true, false} {
		name := "full reads"
		if restricted {
			name = "restricted reads (48009)"
		}
		t.Run(name, func(t *testing.T) { f(t, newEnv(t, restricted)) })
	}
}

func TestFirstSyncCreatesEveryoneAndASecondSyncMakesNoWrite(t *testing.T) {
	bothReadModes(t, func(t *testing.T, en *env) {
		rep := en.mustSync()
		if rep.Changes["user_create"] != 20 || rep.Changes["department_create"] != 4 || rep.Status != StatusSucceeded {
			t.Fatalf("first sync report: %+v", rep)
		}
		if u := en.user("e005"); u == nil || u.Name != "员工5" || len(u.DirectLeader) != 1 || u.DirectLeader[0] != "e001" {
			t.Fatalf("e005 in WeCom = %+v", u)
		}
		if d := en.deptByName("后端组"); d == nil || d.ParentID != en.deptByName("研发中心").ID {
			t.Fatalf("后端组 = %+v", d)
		}
		writes := en.emu.Stats().Writes
		rep = en.mustSync()
		if got := en.emu.Stats().Writes - writes; got != 0 {
			t.Fatalf("no-change sync made %d write calls (report %+v)", got, rep.Changes)
		}
		for op, n := range rep.Changes {
			if n != 0 {
				t.Fatalf("no-change sync reports %s=%d", op, n)
			}
		}
	})
}

func TestNextDayHiresLeaversMoversRehiresAndDepartmentChanges(t *testing.T) {
	bothReadModes(t, func(t *testing.T, en *env) {
		en.mustSync()
		// Day 2.
		en.rows = append(en.rows, row{id: "E100", name: "新人", dept: "D3", mobile: "13900000100", status: "在职", leader: "E001"})
		en.rows[4].dept = "D3"                  // E005 moves
		en.rows[6].status = "离职"                // E007 is marked as left
		en.rows = slices.Delete(en.rows, 9, 10) // E010 vanishes from the export
		en.depts[1][1] = "技术中心"                 // D2 renamed
		en.depts[3][2] = "D3"                   // 后端组 moves under 销售部
		rep := en.mustSync()
		want := map[string]int{"user_create": 1, "user_move": 1, "user_disable": 2, "department_update": 2}
		for op, n := range want {
			if rep.Changes[op] != n {
				t.Errorf("%s = %d, want %d (all: %v)", op, rep.Changes[op], n, rep.Changes)
			}
		}
		if rep.Changes["department_create"] != 0 || rep.Changes["department_delete"] != 0 {
			t.Errorf("a rename became create/delete: %v", rep.Changes)
		}
		if en.deptByName("研发中心") != nil || en.deptByName("技术中心") == nil {
			t.Errorf("rename not applied")
		}
		if en.deptByName("后端组").ParentID != en.deptByName("销售部").ID {
			t.Errorf("后端组 not moved")
		}
		if u := en.user("e007"); u == nil || u.Status != 2 {
			t.Errorf("e007 = %+v, want disabled (status 2)", u)
		}
		if u := en.user("e010"); u == nil || u.Status != 2 {
			t.Errorf("e010 = %+v, want disabled, not deleted", u)
		}
		if u := en.user("e005"); u == nil || !slices.Equal(u.Department, []int64{en.deptByName("销售部").ID}) {
			t.Errorf("e005 = %+v, want moved to 销售部", u)
		}
		// Day 3: E010 is rehired.
		en.rows = append(en.rows, row{id: "E010", name: "员工10", dept: "D2", mobile: "13800130010", status: "在职", leader: "E001"})
		creates := en.emu.Stats().Calls["user/create"]
		rep = en.mustSync()
		if rep.Changes["user_enable"] != 1 || en.emu.Stats().Calls["user/create"] != creates {
			t.Fatalf("rehire: %v (creates %d → %d)", rep.Changes, creates, en.emu.Stats().Calls["user/create"])
		}
		if u := en.user("e010"); u.Status == 2 {
			t.Fatalf("e010 still disabled")
		}
		// Thirty-one days later, the leaver E007 is deleted.
		en.open()
		en.e.SetClock(func() time.Time { return time.Now().Add(31 * 24 * time.Hour) })
		rep, err := en.e.RunOnce(context.Background(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Changes["user_delete"] != 1 || en.user("e007") != nil {
			t.Fatalf("delete_after: %v", rep.Changes)
		}
	})
}

// client talks to the emulator as an admin would by hand.
func (en *env) client() *wecom.Client {
	c, err := wecom.New(wecom.Config{BaseURL: en.url, CorpID: testCorp, Secret: config.Secret(testSecret)}, zap.NewNop())
	must(en.t, err)
	return c
}

func TestUnownedAndProtectedMembersAreNeverTouched(t *testing.T) {
	en := newEnv(t, true)
	en.mustSync()
	en.extra = "  protected: [e003]"
	ctx := context.Background()
	must(t, en.client().CreateUser(ctx, wecom.UserCreate{UserID: "handmade", Name: "手工", Mobile: "13700000001", Department: []int{1}}))
	en.rows[2].name = "改名"                 // protected e003 changes in HR
	en.rows = slices.Delete(en.rows, 5, 6) // E006 leaves
	writes := en.emu.Stats().Writes
	rep := en.mustSync()
	if rep.Unowned != 1 || rep.Changes["user_disable"] != 1 || en.emu.Stats().Writes-writes != 1 {
		t.Fatalf("report %+v, writes %d", rep, en.emu.Stats().Writes-writes)
	}
	if u := en.user("handmade"); u == nil || u.Status == 2 || u.Name != "手工" {
		t.Fatalf("handmade member touched: %+v", u)
	}
	if u := en.user("e003"); u.Name != "员工3" {
		t.Fatalf("protected member changed: %+v", u)
	}
}

func TestGuardRefusesAMassLeaverNightUntilApproved(t *testing.T) {
	en := newEnv(t, true)
	en.mustSync()
	en.rows = en.rows[:10] // half the company "left": a broken export
	writes := en.emu.Stats().Writes
	rep, err := en.sync(Options{})
	var refused *plan.RefusedError
	if !errors.As(err, &refused) || rep.Status != StatusRefused {
		t.Fatalf("got %v, status %s", err, rep.Status)
	}
	if !strings.Contains(rep.Refusal, "10 disables") || !strings.Contains(rep.Refusal, "25%") {
		t.Fatalf("refusal does not give counts and thresholds: %s", rep.Refusal)
	}
	if en.emu.Stats().Writes != writes {
		t.Fatal("a refused run wrote to WeCom")
	}
	rep, err = en.sync(Options{AllowDestructive: 10})
	if err != nil || rep.Changes["user_disable"] != 10 {
		t.Fatalf("approved run: %v %v", err, rep.Changes)
	}
}

func TestAnEmptySourceIsRefused(t *testing.T) {
	en := newEnv(t, true)
	en.mustSync()
	en.rows = nil
	_, err := en.sync(Options{})
	if !errors.Is(err, plan.ErrEmptySource) {
		t.Fatalf("got %v", err)
	}
}

func TestASourceErrorHoldsDisablesButCreatesGoOn(t *testing.T) {
	en := newEnv(t, true)
	en.second = "工号,姓名,部门编码,手机,状态,直属上级工号\nC001,外包1,D3,13600000001,在职,\nC002,外包2,D3,13600000002,在职,\n"
	en.mustSync()
	if en.user("c001") == nil {
		t.Fatal("contractor not created")
	}
	// The contractors export is truncated to one row (min_records: 2) and
	// HR hires someone.
	en.second = "工号,姓名,部门编码,手机,状态,直属上级工号\nC001,外包1,D3,13600000001,在职,\n"
	en.rows = append(en.rows, row{id: "E200", name: "新人", dept: "D2", mobile: "13900000200", status: "在职"})
	rep, err := en.sync(Options{})
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if rep.Changes["user_create"] != 1 || rep.Changes["user_disable"] != 0 || rep.Held != 2 {
		t.Fatalf("report: changes %v held %d problems %v", rep.Changes, rep.Held, rep.SourceProblems)
	}
	if len(rep.SourceProblems) != 1 || !strings.Contains(rep.SourceProblems[0], "contractors") {
		t.Fatalf("problems = %v", rep.SourceProblems)
	}
	if u := en.user("c002"); u == nil || u.Status == 2 {
		t.Fatalf("c002 = %+v: disabled although its source failed", u)
	}
}

func TestARejectedRecordProtectsItsMember(t *testing.T) {
	en := newEnv(t, true)
	en.mustSync()
	en.rows[3].mobile = "not-a-phone" // E004's record becomes invalid
	rep := en.mustSync()
	if rep.RejectedRecords != 1 || rep.Changes["user_disable"] != 0 {
		t.Fatalf("report: %+v", rep)
	}
	if !strings.Contains(rep.Rejected[0].Error(), "employees.csv:5") {
		t.Fatalf("rejection does not name file:line: %s", rep.Rejected[0].Error())
	}
	if u := en.user("e004"); u == nil || u.Status == 2 {
		t.Fatalf("e004 = %+v", u)
	}
}

func TestAdoptByMobileTakesOverAHandMadeMember(t *testing.T) {
	for _, adopt := range []bool{false, true} {
		t.Run(fmt.Sprintf("adopt mobile=%v", adopt), func(t *testing.T) {
			en := newEnv(t, true)
			if adopt {
				en.extra = "  adopt: [mobile]"
			}
			ctx := context.Background()
			// Made by hand before orgsync arrived, with E005's mobile (as +86).
			must(t, en.client().CreateUser(ctx, wecom.UserCreate{UserID: "LaoWang", Name: "老王", Mobile: "+86 13800130005", Department: []int{1}}))
			rep, err := en.sync(Options{})
			if !adopt {
				if err == nil || rep.Failed != 1 || rep.Failures[0].Code != 60104 {
					t.Fatalf("without adopt: err %v, failures %+v", err, rep.Failures)
				}
				if u := en.user("LaoWang"); u.Name != "老王" {
					t.Fatalf("unowned member changed: %+v", u)
				}
				return
			}
			if err != nil {
				t.Fatalf("sync: %v %+v", err, rep.Failures)
			}
			if en.user("e005") != nil {
				t.Fatal("created e005 although LaoWang is the same person")
			}
			u := en.user("LaoWang")
			if u.Name != "员工5" || !slices.Equal(u.DirectLeader, []string{"e001"}) {
				t.Fatalf("adopted member = %+v", u)
			}
			writes := en.emu.Stats().Writes
			en.mustSync()
			if w := en.emu.Stats().Writes - writes; w != 0 {
				t.Fatalf("the adopted member is not stable: %d writes", w)
			}
		})
	}
}

func TestDriftMadeByHandIsPutBack(t *testing.T) {
	bothReadModes(t, func(t *testing.T, en *env) {
		en.mustSync()
		ctx := context.Background()
		c := en.client()
		must(t, c.UpdateUser(ctx, wecom.UserUpdate{UserID: "e002", Department: wecom.Ptr([]int{1})}))
		must(t, c.DeleteUser(ctx, "e003"))
		rep := en.mustSync()
		if rep.Changes["user_move"] != 1 || rep.Changes["user_create"] != 1 {
			t.Fatalf("changes = %v", rep.Changes)
		}
		want := en.deptByName(map[string]string{"D2": "研发中心", "D3": "销售部", "D4": "后端组"}[en.rows[1].dept]).ID
		if u := en.user("e002"); !slices.Equal(u.Department, []int64{want}) {
			t.Fatalf("e002 departments = %v, want [%d]", u.Department, want)
		}
		if en.user("e003") == nil {
			t.Fatal("e003 not re-created")
		}
	})
}

func TestDepartmentsLeftEmptyAreDeletedAndOthersKept(t *testing.T) {
	en := newEnv(t, true)
	en.mustSync()
	ctx := context.Background()
	// Someone puts a member of their own into 销售部 (D3).
	must(t, en.client().CreateUser(ctx, wecom.UserCreate{UserID: "handmade", Name: "手工", Mobile: "13700000001",
		Department: []int{int(en.deptByName("销售部").ID)}}))
	// HR dissolves 后端组 (D4) and 销售部 (D3): everyone moves to 研发中心.
	en.depts = en.depts[:2]
	for i := range en.rows {
		en.rows[i].dept = "D2"
	}
	rep := en.mustSync()
	if rep.Changes["department_delete"] != 1 || en.deptByName("后端组") != nil {
		t.Fatalf("后端组 not deleted: %v", rep.Changes)
	}
	if en.deptByName("销售部") == nil {
		t.Fatal("销售部 deleted although a member orgsync does not own is in it")
	}
	found := false
	for _, n := range rep.Plan.Notices {
		found = found || (n.Object == "D3" && strings.Contains(n.Msg, "kept"))
	}
	if !found {
		t.Fatalf("no notice says why 销售部 is kept: %+v", rep.Plan.Notices)
	}
}

func TestStopEndsARunAtAChangeBoundaryWithNothingPendingInTheJournal(t *testing.T) {
	en := newEnv(t, true)
	slow, err := emulator.New(emulator.Options{CorpID: testCorp, RestrictedReads: true, Latency: 20 * time.Millisecond,
		Secrets: []emulator.SecretSpec{{Secret: testSecret, Role: emulator.RoleContactsSyncEdit}}}, zap.NewNop())
	must(t, err)
	srv := httptest.NewServer(slow)
	defer srv.Close()
	en.emu, en.url = slow, srv.URL
	e := en.open()
	stop := make(chan struct{})
	var once sync.Once
	// Stop after the 8th change (4 departments, then members), while
	// other calls are in flight.
	progress := func(done, total int) {
		if done >= 8 {
			once.Do(func() { close(stop) })
		}
	}
	rep, err := e.RunOnce(context.Background(), Options{Stop: stop, Progress: progress})
	if !errors.Is(err, ErrStopped) || len(rep.Pending) == 0 {
		t.Fatalf("got %v with %d pending", err, len(rep.Pending))
	}
	if pend, _ := e.Store().Pending(context.Background()); len(pend) != 0 {
		t.Fatalf("%d journal entries left pending: a call in flight was not let finish", len(pend))
	}
	made := len(slow.State().Users)
	if made == 0 || made == 20 {
		t.Fatalf("%d members made before the stop; the test wants a stop mid-apply", made)
	}
	rep = en.mustSync()
	if rep.Changes["user_create"] != 20-made || len(slow.State().Users) != 20 {
		t.Fatalf("rerun: %v, users %d", rep.Changes, len(slow.State().Users))
	}
}
