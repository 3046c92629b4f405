package client_test

// The client's conformance suite against the WeCom emulator over real HTTP
// (loopback): every call, every error class, token expiry mid-run, 45009
// windows, retries on injected faults, restricted reads, and no secret or
// token in the client's logs or errors.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	wecom "github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/config"
)

const (
	corpID     = "wwconformance0001"
	editSecret = "edit-secret-9f8e7d6c5b4a"
	readSecret = "read-secret-1a2b3c4d5e6f"
	appSecret  = "app-secret-0z9y8x7w6v5u"
)

// env is one emulator behind httptest and a client pointed at it.
type env struct {
	t      *testing.T
	emu    *emulator.Server
	client *wecom.Client
	logs   *observer.ObservedLogs
	// clock is shared by the emulator (Options.Now) and the client
	// (Config.Clock): sleeping through a 45009 window moves both.
	clock *wecom.FakeClock

	mu     sync.Mutex
	tokens map[string]bool // every access_token the emulator was sent
	errs   []error         // every error the client returned, for the leak check
}

type setup struct {
	opts   emulator.Options
	secret string
	cfg    func(*wecom.Config)
}

func newEnv(t *testing.T, s setup) *env {
	t.Helper()
	e := &env{t: t, tokens: map[string]bool{}, clock: wecom.NewFakeClock(time.Date(2026, 3, 2, 9, 0, 10, 0, time.UTC))}
	s.opts.CorpID = corpID
	if s.opts.Secrets == nil {
		s.opts.Secrets = []emulator.SecretSpec{
			{Secret: editSecret, Role: emulator.RoleContactsSyncEdit},
			{Secret: readSecret, Role: emulator.RoleContactsSyncRead},
			{Secret: appSecret, Role: emulator.RoleApp},
		}
	}
	if s.opts.Now == nil {
		s.opts.Now = e.clock.Now
	}
	if s.opts.JobDelay == 0 {
		s.opts.JobDelay = 3 * time.Second // on the shared fake clock
	}
	emu, err := emulator.New(s.opts, zap.NewNop())
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	e.emu = emu
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("access_token"); tok != "" {
			e.mu.Lock()
			e.tokens[tok] = true
			e.mu.Unlock()
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); _ = emu.Close() })

	core, logs := observer.New(zapcore.DebugLevel)
	e.logs = logs
	secret := s.secret
	if secret == "" {
		secret = editSecret
	}
	cfg := wecom.Config{
		BaseURL: srv.URL, CorpID: corpID, Secret: config.Secret(secret),
		RetryWaitMin: time.Millisecond, RetryWaitMax: 4 * time.Millisecond, Timeout: 5 * time.Second,
		Clock: e.clock,
	}
	if s.cfg != nil {
		s.cfg(&cfg)
	}
	c, err := wecom.New(cfg, zap.New(core))
	if err != nil {
		t.Fatalf("wecom.New: %v", err)
	}
	e.client = c
	t.Cleanup(e.assertNoCredentials)
	return e
}

// check records err for the leak check and returns it.
func (e *env) check(err error) error {
	if err != nil {
		e.mu.Lock()
		e.errs = append(e.errs, err)
		e.mu.Unlock()
	}
	return err
}

func (e *env) must(err error) {
	e.t.Helper()
	if e.check(err) != nil {
		e.t.Fatalf("unexpected error: %v", err)
	}
}

// assertNoCredentials runs at cleanup: no secret and no token the emulator
// saw may appear in any client log line or returned error.
func (e *env) assertNoCredentials() {
	e.mu.Lock()
	defer e.mu.Unlock()
	needles := []string{editSecret, readSecret, appSecret}
	for tok := range e.tokens {
		needles = append(needles, tok)
	}
	wecom.AssertNoLeaks(e.t, e.logs, e.errs, needles...)
}

func user(id, name, mobile string, depts ...int) wecom.UserCreate {
	return wecom.UserCreate{UserID: id, Name: name, Mobile: mobile, Department: depts, ToInvite: wecom.Ptr(false)}
}

func TestConformanceDepartments(t *testing.T) {
	e := newEnv(t, setup{})
	c, ctx := e.client, context.Background()

	rd, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{Name: "研发部 R&D", ParentID: 1, Order: wecom.Ptr(uint32(100))})
	e.must(err)
	if rd <= 1 {
		t.Fatalf("assigned id = %d, want > 1", rd)
	}
	fixed, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{ID: 50, Name: "Sales", ParentID: 1})
	e.must(err)
	if fixed != 50 {
		t.Errorf("explicit id: got %d, want 50", fixed)
	}
	child, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{Name: "后端", ParentID: rd})
	e.must(err)

	t.Run("detail reads are allowed without restricted reads", func(t *testing.T) {
		if ok, err := c.DetailReadsAllowed(ctx); !ok || e.check(err) != nil {
			t.Errorf("DetailReadsAllowed = %v, %v; want true, nil", ok, err)
		}
	})

	t.Run("get returns the name exactly as sent (raw UTF-8, & intact)", func(t *testing.T) {
		d, err := c.GetDepartment(ctx, rd)
		e.must(err)
		if d.Name != "研发部 R&D" || d.ParentID != 1 || d.Order != 100 {
			t.Errorf("department = %+v", d)
		}
	})

	t.Run("update moves and renames, leaving omitted fields unchanged", func(t *testing.T) {
		e.must(c.UpdateDepartment(ctx, wecom.DepartmentUpdate{ID: child, ParentID: wecom.Ptr(fixed), Name: wecom.Ptr("Backend")}))
		d, err := c.GetDepartment(ctx, child)
		e.must(err)
		if d.ParentID != fixed || d.Name != "Backend" {
			t.Errorf("after move: %+v", d)
		}
		e.must(c.UpdateDepartment(ctx, wecom.DepartmentUpdate{ID: child, Order: wecom.Ptr(uint32(7))}))
		d, err = c.GetDepartment(ctx, child)
		e.must(err)
		if d.Name != "Backend" || d.ParentID != fixed || d.Order != 7 {
			t.Errorf("an order-only update changed other fields: %+v", d)
		}
	})

	t.Run("list and simplelist agree with the emulator's state", func(t *testing.T) {
		refs, err := c.DepartmentSimpleList(ctx, 0)
		e.must(err)
		full, err := c.ListDepartments(ctx, 0)
		e.must(err)
		state := e.emu.State().Departments
		if len(refs) != len(state) || len(full) != len(state) {
			t.Fatalf("simplelist %d, list %d, state %d departments", len(refs), len(full), len(state))
		}
		byID := map[int]wecom.Department{}
		for _, d := range full {
			byID[d.ID] = d
		}
		for _, s := range state {
			d, ok := byID[int(s.ID)]
			if !ok || d.Name != s.Name || d.ParentID != int(s.ParentID) || d.Order != s.Order {
				t.Errorf("list has %+v for state %+v", d, s)
			}
		}
		sub, err := c.DepartmentSimpleList(ctx, fixed)
		e.must(err)
		ids := []int{}
		for _, r := range sub {
			ids = append(ids, r.ID)
		}
		if !slices.Contains(ids, child) || slices.Contains(ids, rd) {
			t.Errorf("simplelist(%d) = %v, want its subtree with %d and without %d", fixed, ids, child, rd)
		}
	})

	t.Run("tree rule errors come back typed", func(t *testing.T) {
		e.must(c.CreateUser(ctx, user("member1", "成员", "13800000001", child)))
		for _, tc := range []struct {
			name  string
			codes []int
			call  func() error
		}{
			{"a duplicate sibling name is 60008", []int{60008}, func() error {
				_, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{Name: "Sales", ParentID: 1})
				return err
			}},
			{"a duplicate id is 60008", []int{60008}, func() error {
				_, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{ID: 50, Name: "Other", ParentID: 1})
				return err
			}},
			{"a missing parent is 60004", []int{60004, 60124}, func() error {
				_, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{Name: "Orphan", ParentID: 9999})
				return err
			}},
			{"a forbidden character is 60009", []int{60009, 60125}, func() error {
				_, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{Name: "a*b", ParentID: 1})
				return err
			}},
			{"moving under a descendant is 60010", []int{60010}, func() error {
				return c.UpdateDepartment(ctx, wecom.DepartmentUpdate{ID: fixed, ParentID: wecom.Ptr(child)})
			}},
			{"deleting the root is 60007", []int{60007}, func() error { return c.DeleteDepartment(ctx, 1) }},
			{"deleting a department with members is 60005", []int{60005}, func() error { return c.DeleteDepartment(ctx, child) }},
			{"deleting a department with children is 60006", []int{60006}, func() error { return c.DeleteDepartment(ctx, fixed) }},
			{"an unknown department is 60003 or 60123", []int{60003, 60123}, func() error {
				_, err := c.GetDepartment(ctx, 4242)
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := e.check(tc.call())
				if !wecom.IsCode(err, tc.codes...) {
					t.Fatalf("err = %v, want errcode %v", err, tc.codes)
				}
				var ae *wecom.APIError
				if !errors.As(err, &ae) || ae.API == "" || wecom.IsConfig(err) {
					t.Errorf("not a plain *APIError with its API: %#v", err)
				}
				if strings.Contains(err.Error(), "hint:") || strings.Contains(err.Error(), "more info") {
					t.Errorf("error keeps WeCom's trace noise: %q", err)
				}
			})
		}
	})

	t.Run("delete removes an empty department", func(t *testing.T) {
		e.must(c.DeleteDepartment(ctx, rd))
		_, err := c.GetDepartment(ctx, rd)
		if !wecom.IsCode(e.check(err), 60003, 60123) {
			t.Errorf("after delete: %v", err)
		}
	})
}

func TestConformanceUsers(t *testing.T) {
	// RejectUnicodeEscapes proves the client sends raw UTF-8: an escaped
	// body would come back as 40033.
	e := newEnv(t, setup{opts: emulator.Options{RejectUnicodeEscapes: true}})
	c, ctx := e.client, context.Background()
	dept, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{Name: "Ops & Infra", ParentID: 1})
	e.must(err)

	zs := user("ZhangSan", "张三 <&>", "+86 13800000000", dept)
	zs.Email, zs.Position, zs.Alias, zs.Gender = "zs@example.com", "工程师", "老张", "1"
	zs.ExtAttr = &wecom.ExtAttr{Attrs: []wecom.ExtAttrItem{wecom.TextAttr("工号", "A&B<1>")}}
	e.must(c.CreateUser(ctx, zs))

	t.Run("get returns what create sent", func(t *testing.T) {
		u, err := c.GetUser(ctx, "ZhangSan")
		e.must(err)
		if u.Name != "张三 <&>" || u.Email != "zs@example.com" || u.Position != "工程师" || u.Alias != "老张" ||
			!slices.Equal(u.Department, []int{dept}) || u.Gender != "1" {
			t.Errorf("user = %+v", u)
		}
		if u.ExtAttr == nil || len(u.ExtAttr.Attrs) != 1 || u.ExtAttr.Attrs[0].Text == nil || u.ExtAttr.Attrs[0].Text.Value != "A&B<1>" {
			t.Errorf("extattr = %+v", u.ExtAttr)
		}
	})

	t.Run("update: pointer to empty clears, nil leaves unchanged", func(t *testing.T) {
		e.must(c.UpdateUser(ctx, wecom.UserUpdate{UserID: "zhangsan", Alias: wecom.Ptr("")}))
		u, err := c.GetUser(ctx, "ZhangSan")
		e.must(err)
		if u.Alias != "" || u.Position != "工程师" || u.Name != "张三 <&>" {
			t.Errorf("after clearing alias: alias=%q position=%q name=%q", u.Alias, u.Position, u.Name)
		}
	})

	t.Run("enable 0 disables (status 2) and enable 1 restores", func(t *testing.T) {
		e.must(c.UpdateUser(ctx, wecom.UserUpdate{UserID: "ZhangSan", Enable: wecom.Ptr(wecom.Disabled)}))
		u, err := c.GetUser(ctx, "ZhangSan")
		e.must(err)
		if u.Status != 2 {
			t.Errorf("status after disable = %d, want 2", u.Status)
		}
		e.must(c.UpdateUser(ctx, wecom.UserUpdate{UserID: "ZhangSan", Enable: wecom.Ptr(wecom.Enabled)}))
		u, err = c.GetUser(ctx, "ZhangSan")
		e.must(err)
		if u.Status == 2 {
			t.Errorf("status after enable = %d", u.Status)
		}
	})

	t.Run("member error classes are typed", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			codes []int
			call  func() error
		}{
			{"a userid differing only in case is 60102", []int{60102}, func() error {
				return c.CreateUser(ctx, user("zhangsan", "x", "13900000009", dept))
			}},
			{"a mobile already used is 60104", []int{60104}, func() error {
				return c.CreateUser(ctx, user("lisi", "李四", "+86 13800000000", dept))
			}},
			{"no mobile and no email is 60129", []int{60129}, func() error {
				return c.CreateUser(ctx, wecom.UserCreate{UserID: "wangwu", Name: "王五", Department: []int{dept}})
			}},
			{"updating an unknown userid is 60111", []int{60111}, func() error {
				return c.UpdateUser(ctx, wecom.UserUpdate{UserID: "nobody", Name: wecom.Ptr("x")})
			}},
			{"deleting an unknown userid is 60111", []int{60111}, func() error { return c.DeleteUser(ctx, "nobody") }},
			{"a bad userid is 40003", []int{40003}, func() error {
				return c.CreateUser(ctx, user("-bad id", "x", "13900000010", dept))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := e.check(tc.call()); !wecom.IsCode(err, tc.codes...) || wecom.IsConfig(err) {
					t.Fatalf("err = %v, want errcode %v", err, tc.codes)
				}
			})
		}
	})

	// 23 members in two departments, some in both: list_id rows are one per
	// (member, department).
	dept2, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{Name: "Two", ParentID: 1})
	e.must(err)
	for i := range 23 {
		depts := []int{dept}
		if i%3 == 0 {
			depts = append(depts, dept2)
		}
		e.must(c.CreateUser(ctx, user(fmt.Sprintf("u%02d", i), fmt.Sprintf("用户%d", i), fmt.Sprintf("1370000%04d", i), depts...)))
	}

	t.Run("list_id follows cursors and returns every (member, department) row", func(t *testing.T) {
		rows, err := c.ListUserIDs(ctx, 7)
		e.must(err)
		var want []string
		for _, u := range e.emu.State().Users {
			for _, d := range u.Department {
				want = append(want, fmt.Sprintf("%s/%d", u.UserID, d))
			}
		}
		var got []string
		for _, r := range rows {
			got = append(got, fmt.Sprintf("%s/%d", r.UserID, r.Department))
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("list_id rows:\n got %v\nwant %v", got, want)
		}
		pages := 0
		e.must(c.ListUserIDPages(ctx, 7, func([]wecom.DeptUser) error { pages++; return nil }))
		if wantPages := (len(want) + 6) / 7; pages != wantPages {
			t.Errorf("pages = %d, want %d", pages, wantPages)
		}
	})

	t.Run("list and simplelist return the department's members", func(t *testing.T) {
		full, err := c.ListUsers(ctx, dept2, false)
		e.must(err)
		simple, err := c.SimpleListUsers(ctx, dept2, false)
		e.must(err)
		if len(full) != 8 || len(simple) != 8 {
			t.Errorf("dept2 members: list %d, simplelist %d, want 8", len(full), len(simple))
		}
		all, err := c.ListUsers(ctx, 1, true)
		e.must(err)
		if len(all) != 24 {
			t.Errorf("fetch_child from root: %d members, want 24", len(all))
		}
	})

	t.Run("batchdelete deletes all or nothing, at most 200", func(t *testing.T) {
		err := c.BatchDeleteUsers(ctx, []string{"u00", "u01", "nobody"})
		if e.check(err) == nil {
			t.Fatal("batchdelete with an unknown id succeeded")
		}
		if n := len(e.emu.State().Users); n != 24 {
			t.Errorf("a failed batchdelete deleted members: %d left", n)
		}
		e.must(c.BatchDeleteUsers(ctx, []string{"u00", "U01"}))
		if n := len(e.emu.State().Users); n != 22 {
			t.Errorf("after batchdelete: %d members, want 22", n)
		}
		if err := c.BatchDeleteUsers(ctx, make([]string, 201)); !errors.Is(err, wecom.ErrTooManyUserIDs) {
			t.Errorf("201 ids: %v", err)
		}
	})

	t.Run("delete removes the member", func(t *testing.T) {
		e.must(c.DeleteUser(ctx, "u02"))
		_, err := c.GetUser(ctx, "u02")
		if !wecom.IsCode(e.check(err), 60111) {
			t.Errorf("get after delete: %v", err)
		}
	})
}

func TestConformanceBatchImports(t *testing.T) {
	e := newEnv(t, setup{})
	c, ctx := e.client, context.Background()

	parties := "部门名称,部门ID,父部门ID,排序\nEmulated Corp,1,0,\n总部,2,1,10\n分部,3,2,5\n"
	m, err := c.UploadMedia(ctx, "file", "party.csv", []byte(parties))
	e.must(err)
	job, err := c.ReplaceParties(ctx, wecom.BatchJob{MediaID: m.MediaID})
	e.must(err)
	res, err := c.WaitBatchResult(ctx, job, time.Second, 0)
	e.must(err)
	if res.Status != wecom.JobFinished || res.Type != "replace_party" || res.Total != 3 {
		t.Errorf("replace_party result = %+v", res)
	}
	for _, r := range res.Result {
		if r.ErrCode != 0 {
			t.Errorf("party row %+v failed", r)
		}
	}

	users := "姓名,帐号,手机号,邮箱,所在部门,职位,性别,是否部门内领导,排序,别名,地址,座机,禁用\n" +
		"赵六,zhaoliu,13600000001,,2,,男,0,0,,,,0\n" +
		"钱七,qianqi,13600000002,,3,,女,0,0,,,,1\n" +
		"孙八,sunba,13600000001,,3,,男,0,0,,,,0\n" // duplicate mobile: a per-row error
	m, err = c.UploadMedia(ctx, "file", "users.csv", []byte(users))
	e.must(err)
	job, err = c.SyncUsers(ctx, wecom.BatchJob{MediaID: m.MediaID, ToInvite: wecom.Ptr(false)})
	e.must(err)

	t.Run("a second job while one runs is 302008", func(t *testing.T) {
		_, err := c.SyncUsers(ctx, wecom.BatchJob{MediaID: m.MediaID})
		if !wecom.IsCode(e.check(err), wecom.CodeJobRunning) {
			t.Errorf("err = %v, want 302008", err)
		}
	})

	res, err = c.WaitBatchResult(ctx, job, time.Second, 0)
	e.must(err)
	if res.Status != wecom.JobFinished || res.Type != "sync_user" || len(res.Result) != 3 {
		t.Fatalf("sync_user result = %+v", res)
	}
	byID := map[string]int{}
	for _, r := range res.Result {
		byID[r.UserID] = r.ErrCode
	}
	if byID["zhaoliu"] != 0 || byID["qianqi"] != 0 || byID["sunba"] == 0 {
		t.Errorf("per-row results = %v, want sunba to fail on its duplicate mobile", byID)
	}
	u, err := c.GetUser(ctx, "qianqi")
	e.must(err)
	if u.Status != 2 {
		t.Errorf("禁用=1 gave status %d, want 2 (disabled)", u.Status)
	}

	t.Run("unknown and empty uploads are typed errors", func(t *testing.T) {
		_, err := c.BatchResult(ctx, "jobid_unknown")
		if !wecom.IsCode(e.check(err), 40088) {
			t.Errorf("unknown job: %v", err)
		}
		_, err = c.UploadMedia(ctx, "file", "empty.csv", nil)
		if !wecom.IsCode(e.check(err), 44001, 40006) {
			t.Errorf("empty upload: %v", err)
		}
		_, err = c.SyncUsers(ctx, wecom.BatchJob{MediaID: "3nosuchmedia"})
		if !wecom.IsCode(e.check(err), 40007) {
			t.Errorf("unknown media: %v", err)
		}
	})

	t.Run("replaceuser deletes everyone not in the file", func(t *testing.T) {
		only := "姓名,帐号,手机号,所在部门\n赵六,zhaoliu,13600000001,2\n"
		m, err := c.UploadMedia(ctx, "file", "replace.csv", []byte(only))
		e.must(err)
		job, err := c.ReplaceUsers(ctx, wecom.BatchJob{MediaID: m.MediaID, ToInvite: wecom.Ptr(false)})
		e.must(err)
		_, err = c.WaitBatchResult(ctx, job, time.Second, 0)
		e.must(err)
		var ids []string
		for _, u := range e.emu.State().Users {
			ids = append(ids, u.UserID)
		}
		if !slices.Equal(ids, []string{"zhaoliu"}) {
			t.Errorf("members after replaceuser = %v", ids)
		}
	})
}

func TestConformanceConfigErrors(t *testing.T) {
	ctx := context.Background()

	t.Run("a wrong secret stops with 40001 and gettoken is not called again", func(t *testing.T) {
		e := newEnv(t, setup{secret: "not-the-secret-123"})
		for range 5 {
			_, err := e.client.DepartmentSimpleList(ctx, 0)
			if !wecom.IsConfig(e.check(err)) || wecom.Code(err) != 40001 {
				t.Fatalf("err = %v, want configuration error 40001", err)
			}
		}
		if n := e.emu.Stats().Calls["gettoken"]; n != 1 {
			t.Errorf("gettoken calls = %d, want 1", n)
		}
		if e.emu.Stats().Calls["department/simplelist"] != 0 {
			t.Error("an API was called without a token")
		}
	})

	t.Run("a wrong corp id is 40013", func(t *testing.T) {
		e := newEnv(t, setup{cfg: func(c *wecom.Config) { c.CorpID = "wwwrongcorp" }})
		_, err := e.client.DepartmentSimpleList(ctx, 0)
		if !wecom.IsConfig(e.check(err)) || wecom.Code(err) != 40013 {
			t.Fatalf("err = %v", err)
		}
	})

	for _, tc := range []struct{ name, secret string }{
		{"a read-only Contacts-Sync secret", readSecret},
		{"an app secret", appSecret},
	} {
		t.Run(tc.name+" cannot write: 48002 names the edit secret", func(t *testing.T) {
			e := newEnv(t, setup{secret: tc.secret})
			err := e.check(e.client.CreateUser(ctx, user("a", "A", "13500000000", 1)))
			if !wecom.IsConfig(err) || wecom.Code(err) != 48002 || !strings.Contains(err.Error(), "API编辑通讯录") {
				t.Fatalf("err = %v", err)
			}
			if n := e.emu.Stats().Calls["user/create"]; n != 1 {
				t.Errorf("user/create calls = %d, want 1 (no retry)", n)
			}
		})
	}

	t.Run("restricted reads give the typed 48009 on detail reads only", func(t *testing.T) {
		e := newEnv(t, setup{opts: emulator.Options{RestrictedReads: true}})
		c := e.client
		e.must(c.CreateUser(ctx, user("a", "A", "13500000000", 1)))
		for name, call := range map[string]func() error{
			"user/get":        func() error { _, err := c.GetUser(ctx, "a"); return err },
			"user/list":       func() error { _, err := c.ListUsers(ctx, 1, false); return err },
			"user/simplelist": func() error { _, err := c.SimpleListUsers(ctx, 1, false); return err },
			"department/list": func() error { _, err := c.ListDepartments(ctx, 0); return err },
			"department/get":  func() error { _, err := c.GetDepartment(ctx, 1); return err },
		} {
			err := e.check(call())
			var ce *wecom.ConfigError
			if !errors.As(err, &ce) || ce.Code != 48009 || ce.API != name || !strings.Contains(err.Error(), "user/list_id") {
				t.Errorf("%s: err = %v, want *ConfigError 48009", name, err)
			}
		}
		if ok, err := c.DetailReadsAllowed(ctx); ok || e.check(err) != nil {
			t.Errorf("DetailReadsAllowed = %v, %v; want false, nil", ok, err)
		}
		rows, err := c.ListUserIDs(ctx, 100)
		e.must(err)
		refs, err := c.DepartmentSimpleList(ctx, 0)
		e.must(err)
		if len(rows) != 1 || len(refs) != 1 {
			t.Errorf("open reads: list_id %d rows, simplelist %d", len(rows), len(refs))
		}
	})

	t.Run("an untrusted IP is 60020 with the trusted-IP fix", func(t *testing.T) {
		e := newEnv(t, setup{opts: emulator.Options{TrustedIPs: []string{"192.0.2.1"}}})
		_, err := e.client.DepartmentSimpleList(ctx, 0)
		if !wecom.IsConfig(e.check(err)) || wecom.Code(err) != 60020 || !strings.Contains(err.Error(), "企业可信IP") {
			t.Fatalf("err = %v", err)
		}
		if n := e.emu.Stats().Calls["department/simplelist"]; n != 1 {
			t.Errorf("calls = %d, want 1", n)
		}
	})
}

func TestConformanceTokenExpiry(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		code int
		kill func(*emulator.Server)
	}{
		{"tokens expired mid-run (42001)", 42001, (*emulator.Server).ExpireTokens},
		{"tokens invalidated mid-run (40014)", 40014, (*emulator.Server).InvalidateTokens},
	} {
		t.Run(tc.name+" are refetched once and the run continues", func(t *testing.T) {
			e := newEnv(t, setup{})
			c := e.client
			for i := range 10 {
				if i == 4 {
					tc.kill(e.emu)
				}
				e.must(c.CreateUser(ctx, user(fmt.Sprintf("t%d", i), "T", fmt.Sprintf("1350000000%d", i), 1)))
			}
			st := e.emu.Stats()
			if st.Calls["gettoken"] != 2 {
				t.Errorf("gettoken calls = %d, want 2", st.Calls["gettoken"])
			}
			if st.Errors["user/create"][tc.code] != 1 || st.Errors["user/create"][0] != 10 {
				t.Errorf("user/create errcodes = %v, want one %d and ten successes", st.Errors["user/create"], tc.code)
			}
		})
	}

	t.Run("expires_in is honoured: a new token after 80 percent of its life", func(t *testing.T) {
		e := newEnv(t, setup{opts: emulator.Options{TokenTTL: 100 * time.Second}})
		_, err := e.client.DepartmentSimpleList(ctx, 0)
		e.must(err)
		e.clock.Sleep(ctx, 85*time.Second)
		_, err = e.client.DepartmentSimpleList(ctx, 0)
		e.must(err)
		st := e.emu.Stats()
		if st.Calls["gettoken"] != 2 || len(st.Errors["department/simplelist"]) != 1 {
			t.Errorf("gettoken = %d, simplelist errcodes = %v: want a proactive refresh, no 42001",
				st.Calls["gettoken"], st.Errors["department/simplelist"])
		}
	})
}

func TestConformanceRateLimit(t *testing.T) {
	ctx := context.Background()

	t.Run("45009 windows are waited out, never hammered", func(t *testing.T) {
		e := newEnv(t, setup{opts: emulator.Options{RateLimitPerMinute: 5}})
		start := e.clock.Now()
		for i := range 12 {
			e.must(e.client.CreateUser(ctx, user(fmt.Sprintf("r%02d", i), "R", fmt.Sprintf("1340000%04d", i), 1)))
		}
		if n := len(e.emu.State().Users); n != 12 {
			t.Errorf("members = %d, want 12", n)
		}
		// The first 45009 shows the limit (5 accepted in its minute): the
		// client waits the window out and paces below it from then on.
		refused := e.emu.Stats().Errors["user/create"][45009]
		if refused != 1 {
			t.Errorf("45009 answers = %d, want exactly 1 (the client then paces at the limit it showed)", refused)
		}
		if s := e.client.Stats(); s.Bans["user/create"] != 1 || s.LearnedLimits["user/create"] != 5 {
			t.Errorf("client bans = %d, learned limit = %d, want 1 and 5", s.Bans["user/create"], s.LearnedLimits["user/create"])
		}
		if el := e.clock.Now().Sub(start); el < 110*time.Second || el > 3*time.Minute {
			t.Errorf("12 calls at 5/min took %s of emulator time, want about two windows", el)
		}
	})

	t.Run("a ban on one API fails fast without blocking other APIs", func(t *testing.T) {
		e := newEnv(t, setup{
			opts: emulator.Options{RateLimitPerMinute: 2},
			cfg:  func(c *wecom.Config) { c.MaxBanWait = time.Second },
		})
		c := e.client
		for i := range 2 {
			e.must(c.CreateUser(ctx, user(fmt.Sprintf("b%d", i), "B", fmt.Sprintf("1330000000%d", i), 1)))
		}
		err := e.check(c.CreateUser(ctx, user("b2", "B", "13300000002", 1)))
		var be *wecom.BanError
		if !errors.As(err, &be) || !errors.Is(err, wecom.ErrRateLimited) || be.API != "user/create" {
			t.Fatalf("err = %v, want *BanError for user/create", err)
		}
		before := e.emu.Stats().Calls["user/create"]
		err = e.check(c.CreateUser(ctx, user("b3", "B", "13300000003", 1)))
		if !errors.Is(err, wecom.ErrRateLimited) || e.emu.Stats().Calls["user/create"] != before {
			t.Errorf("second caller during the ban: err=%v, calls %d→%d", err, before, e.emu.Stats().Calls["user/create"])
		}
		if _, err := c.CreateDepartment(ctx, wecom.DepartmentCreate{Name: "Still works", ParentID: 1}); err != nil {
			t.Errorf("department/create blocked by the user/create ban: %v", e.check(err))
		}
		e.clock.Sleep(ctx, be.Until.Sub(e.clock.Now())+time.Second)
		e.must(c.CreateUser(ctx, user("b4", "B", "13300000004", 1)))
	})
}

func TestConformanceFaults(t *testing.T) {
	ctx := context.Background()

	t.Run("200 creates under 30% injected faults all succeed exactly once", func(t *testing.T) {
		e := newEnv(t, setup{
			opts: emulator.Options{Seed: 20260302, Faults: emulator.Faults{Rate: 0.3}},
			// WeCom advises 3 retries; at a 30% fault rate a call fails all
			// four attempts 0.8% of the time, so this stress test allows more.
			cfg: func(c *wecom.Config) { c.MaxRetries = 8; c.RatePerMinute = 9900 },
		})
		c := e.client
		var wg sync.WaitGroup
		errs := make([]error, 200)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < 200; i += 4 {
					errs[i] = e.check(c.CreateUser(ctx, user(fmt.Sprintf("f%03d", i), "故障测试", fmt.Sprintf("1320000%04d", i), 1)))
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("create f%03d: %v", i, err)
			}
		}
		users := e.emu.State().Users
		if len(users) != 200 {
			t.Errorf("members = %d, want 200", len(users))
		}
		est := e.emu.Stats()
		faults := 0
		for _, n := range est.Faults {
			faults += n
		}
		if faults < 30 {
			t.Errorf("only %d faults injected (%v): the test would prove little", faults, est.Faults)
		}
		if est.Errors["user/create"][0] != 200 || est.Errors["user/create"][60102] != 0 {
			t.Errorf("user/create errcodes = %v, want exactly 200 successes and no 60102", est.Errors["user/create"])
		}
		retries := e.client.Stats().Retries["user/create"]
		if retries != faults {
			t.Errorf("client retries = %d, injected faults = %d: every fault should cost one retry", retries, faults)
		}
	})

	t.Run("injected token expiry is survived", func(t *testing.T) {
		// Serial calls make the fault sequence a function of the seed. The
		// client re-sends once per call, so two expiries in a row on one
		// call would fail it, as they should.
		e := newEnv(t, setup{opts: emulator.Options{Seed: 7, Faults: emulator.Faults{Rate: 0.1, Kinds: []string{emulator.FaultTokenExpiry}}}})
		for i := range 30 {
			e.must(e.client.CreateUser(ctx, user(fmt.Sprintf("x%02d", i), "X", fmt.Sprintf("1310000%04d", i), 1)))
		}
		st := e.emu.Stats()
		if f := st.Faults[emulator.FaultTokenExpiry]; f == 0 || st.Calls["gettoken"] != f+1 {
			t.Errorf("%d expiries injected, %d gettoken calls: want one refetch per expiry", f, st.Calls["gettoken"])
		}
	})
}
