package wecom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory/wecom"
	"github.com/orgsync/orgsync/directory/wecom/client"
	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
	"github.com/orgsync/orgsync/state"
)

// encodeRaw encodes a request body as the client does: raw UTF-8, no HTML
// escaping.
func encodeRaw(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(buf.String())
}

// TestRequestBodiesLeaveOutAmbiguousZeros: the request structs never put a
// zero value on the wire that WeCom could read two ways (wecom-api.md §4.5,
// §10): what the caller did not mean is left out, and what it meant goes out
// in the form both readings agree on.
func TestRequestBodiesLeaveOutAmbiguousZeros(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want string
	}{
		{"UserCreate: zero fields are left out (main_department 0, gender \"\", enable nil, no arrays)",
			client.UserCreate{UserID: "a", Name: "A", Mobile: "13800000000"},
			`{"userid":"a","name":"A","mobile":"13800000000"}`},
		{"UserCreate: enable 1 is sent",
			client.UserCreate{UserID: "a", Name: "A", Email: "a@example.com", Department: []int{2}, Enable: client.Ptr(client.Enabled)},
			`{"userid":"a","name":"A","department":[2],"email":"a@example.com","enable":1}`},
		{"UserCreate: an empty extattr is [] (none), not null",
			client.UserCreate{UserID: "a", Name: "A", Mobile: "1", ExtAttr: &client.ExtAttr{}},
			`{"userid":"a","name":"A","mobile":"1","extattr":{"attrs":[]}}`},
		{"UserUpdate: main_department 0 is left out",
			client.UserUpdate{UserID: "a", MainDepartment: client.Ptr(0)}, `{"userid":"a"}`},
		{"UserUpdate: a set main_department is sent",
			client.UserUpdate{UserID: "a", MainDepartment: client.Ptr(3)}, `{"userid":"a","main_department":3}`},
		{"UserUpdate: gender \"\" (clear) goes out as \"0\", unset under every reading of \"\"",
			client.UserUpdate{UserID: "a", Gender: client.Ptr("")}, `{"userid":"a","gender":"0"}`},
		{"UserUpdate: gender \"2\" is sent as is",
			client.UserUpdate{UserID: "a", Gender: client.Ptr("2")}, `{"userid":"a","gender":"2"}`},
		{"UserUpdate: a pointer to a nil direct_leader clears ([]), never null (unchanged)",
			client.UserUpdate{UserID: "a", DirectLeader: client.Ptr([]string(nil))}, `{"userid":"a","direct_leader":[]}`},
		{"UserUpdate: pointers to nil department lists are [], never null",
			client.UserUpdate{UserID: "a", Department: client.Ptr([]int(nil)), Order: client.Ptr([]uint32(nil)), IsLeaderInDept: client.Ptr([]int(nil))},
			`{"userid":"a","department":[],"order":[],"is_leader_in_dept":[]}`},
		{"UserUpdate: enable 0 (disable) is sent",
			client.UserUpdate{UserID: "a", Enable: client.Ptr(client.Disabled)}, `{"userid":"a","enable":0}`},
		{"UserUpdate: \"\" on another text field is sent: clearing is what it means",
			client.UserUpdate{UserID: "a", Position: client.Ptr("")}, `{"userid":"a","position":""}`},
		{"UserUpdate: no HTML escaping inside the custom encoding",
			client.UserUpdate{UserID: "a", Position: client.Ptr("R&D <lead>")}, `{"userid":"a","position":"R&D <lead>"}`},
		{"UserUpdate: an ExtAttr with nil attrs clears ([])",
			client.UserUpdate{UserID: "a", ExtAttr: &client.ExtAttr{}}, `{"userid":"a","extattr":{"attrs":[]}}`},
		{"DepartmentCreate: parentid 0, id 0 and order nil are left out",
			client.DepartmentCreate{Name: "D"}, `{"name":"D"}`},
		{"DepartmentCreate: order 0, when set, is the default order",
			client.DepartmentCreate{Name: "D", ParentID: 1, Order: client.Ptr(uint32(0)), ID: 5},
			`{"name":"D","parentid":1,"order":0,"id":5}`},
		{"DepartmentUpdate: parentid 0 is left out",
			client.DepartmentUpdate{ID: 2, Name: client.Ptr("D"), ParentID: client.Ptr(0)}, `{"id":2,"name":"D"}`},
		{"DepartmentUpdate: a move is sent",
			client.DepartmentUpdate{ID: 2, ParentID: client.Ptr(1), Order: client.Ptr(uint32(0))}, `{"id":2,"parentid":1,"order":0}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := encodeRaw(t, c.in); got != c.want {
				t.Fatalf("body %s\nwant %s", got, c.want)
			}
		})
	}
}

// zeroOptionSets is every combination of the emulator's UNCONFIRMED
// zero-value options.
func zeroOptionSets() []emulator.Options {
	var out []emulator.Options
	for bits := 0; bits < 16; bits++ {
		out = append(out, emulator.Options{
			EnableZeroOnCreateIgnored: bits&1 != 0,
			EmptyStringKeepsField:     bits&2 != 0,
			ParentIDZeroLiteral:       bits&4 != 0,
			DeptListIDZeroWholeTree:   bits&8 != 0,
		})
	}
	return out
}

func optionName(o emulator.Options) string {
	return fmt.Sprintf("enable0ignored=%v,emptykeeps=%v,parent0literal=%v,list0tree=%v,restricted=%v",
		o.EnableZeroOnCreateIgnored, o.EmptyStringKeepsField, o.ParentIDZeroLiteral, o.DeptListIDZeroWholeTree, o.RestrictedReads)
}

// sentCall is one request the client made.
type sentCall struct {
	api   string
	query string
	body  []byte
}

// zeroEnv is the emulator behind a recorder of the client's requests.
type zeroEnv struct {
	emu    *emulator.Server
	client *client.Client
	store  *state.Store

	mu   sync.Mutex
	sent []sentCall
}

func newZeroEnv(t *testing.T, opts emulator.Options) *zeroEnv {
	t.Helper()
	opts.CorpID = "wwzerotest"
	opts.Secrets = []emulator.SecretSpec{{Secret: "zero-secret", Role: emulator.RoleContactsSyncEdit}}
	emu, err := emulator.New(opts, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	e := &zeroEnv{emu: emu}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		q := r.URL.Query()
		q.Del("access_token")
		e.mu.Lock()
		e.sent = append(e.sent, sentCall{api: strings.TrimPrefix(r.URL.Path, "/cgi-bin/"), query: q.Encode(), body: b})
		e.mu.Unlock()
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{BaseURL: srv.URL, CorpID: "wwzerotest", Secret: config.Secret("zero-secret"),
		RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.client, e.store = c, st
	return e
}

// ambiguities lists the zero values a request carries whose meaning
// depends on an UNCONFIRMED option (or that read as "not given" where the
// client may have meant something): null anywhere, main_department 0,
// enable 0 on create, gender "", new_userid "", parentid 0, id=0 on a
// department list.
func (c sentCall) ambiguities() []string {
	var out []string
	switch c.api {
	case "department/simplelist", "department/list":
		if strings.Contains("&"+c.query+"&", "&id=0&") {
			out = append(out, "id=0")
		}
	}
	if len(c.body) == 0 {
		return out
	}
	var b map[string]any
	if err := json.Unmarshal(c.body, &b); err != nil {
		return append(out, "undecodable body")
	}
	var nulls func(v any) bool
	nulls = func(v any) bool {
		switch x := v.(type) {
		case nil:
			return true
		case []any:
			for _, e := range x {
				if nulls(e) {
					return true
				}
			}
		case map[string]any:
			for _, e := range x {
				if nulls(e) {
					return true
				}
			}
		}
		return false
	}
	if nulls(b) {
		out = append(out, "null")
	}
	if v, ok := b["main_department"]; ok && v == float64(0) {
		out = append(out, "main_department 0")
	}
	if v, ok := b["gender"]; ok && v == "" {
		out = append(out, `gender ""`)
	}
	if v, ok := b["new_userid"]; ok && v == "" {
		out = append(out, `new_userid ""`)
	}
	if v, ok := b["parentid"]; ok && v == float64(0) {
		out = append(out, "parentid 0")
	}
	if v, ok := b["enable"]; ok && v == float64(0) && c.api == "user/create" {
		out = append(out, "enable 0 on create")
	}
	return out
}

// clientCalls makes the client's calls as orgsync and its tests make them,
// with the zero values a caller may leave in a request struct.
func clientCalls(t *testing.T, e *zeroEnv, restricted bool) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustID := func(id int, err error) int {
		t.Helper()
		must(err)
		return id
	}
	mustID(e.client.CreateDepartment(ctx, client.DepartmentCreate{Name: "研发", ParentID: 1, ID: 2}))
	mustID(e.client.CreateDepartment(ctx, client.DepartmentCreate{Name: "平台", ParentID: 2, ID: 3, Order: client.Ptr(uint32(0))}))
	sales := mustID(e.client.CreateDepartment(ctx, client.DepartmentCreate{Name: "销售", ParentID: 1, Order: client.Ptr(uint32(9))}))
	must(e.client.UpdateDepartment(ctx, client.DepartmentUpdate{ID: 3, Name: client.Ptr("平台部"), ParentID: client.Ptr(0)}))
	must(e.client.UpdateDepartment(ctx, client.DepartmentUpdate{ID: sales, ParentID: client.Ptr(2), Order: client.Ptr(uint32(0))}))
	if refs, err := e.client.DepartmentSimpleList(ctx, 0); err != nil || len(refs) != 4 {
		t.Fatalf("simplelist of the whole tree: %d rows, %v", len(refs), err)
	}
	if !restricted {
		if ds, err := e.client.ListDepartments(ctx, 0); err != nil || len(ds) != 4 {
			t.Fatalf("list of the whole tree: %d rows, %v", len(ds), err)
		}
	}

	must(e.client.CreateUser(ctx, client.UserCreate{UserID: "zhangsan", Name: "张三", Mobile: "13800000001",
		Department: []int{2}, Enable: client.Ptr(client.Enabled), ToInvite: client.Ptr(false)}))
	must(e.client.CreateUser(ctx, client.UserCreate{UserID: "LiSi", Name: "李四", Email: "lisi@example.com", Gender: "2",
		Department: []int{2, 3}, IsLeaderInDept: []int{0, 1}, MainDepartment: 3, DirectLeader: []string{"zhangsan"},
		ExtAttr: &client.ExtAttr{}, Position: "工程师"}))
	must(e.client.CreateUser(ctx, client.UserCreate{UserID: "wangwu", Name: "王五", Mobile: "13800000003", Department: []int{sales}}))
	must(e.client.UpdateUser(ctx, client.UserUpdate{UserID: "lisi", Gender: client.Ptr(""), MainDepartment: client.Ptr(0),
		DirectLeader: client.Ptr([]string(nil)), Position: client.Ptr("架构师")}))
	must(e.client.UpdateUser(ctx, client.UserUpdate{UserID: "lisi", Department: client.Ptr([]int{3}), MainDepartment: client.Ptr(0),
		IsLeaderInDept: client.Ptr([]int{1})}))
	must(e.client.UpdateUser(ctx, client.UserUpdate{UserID: "zhangsan", Enable: client.Ptr(client.Disabled)}))
	must(e.client.UpdateUser(ctx, client.UserUpdate{UserID: "wangwu", Enable: client.Ptr(client.Disabled)}))
	must(e.client.UpdateUser(ctx, client.UserUpdate{UserID: "wangwu", Enable: client.Ptr(client.Enabled), DirectLeader: client.Ptr([]string{"LiSi"})}))
	if rows, err := e.client.ListUserIDs(ctx, 100); err != nil || len(rows) != 3 {
		t.Fatalf("list_id: %d rows, %v", len(rows), err)
	}
	if id, err := e.client.UserIDByMobile(ctx, "13800000001"); err != nil || id != "zhangsan" {
		t.Fatalf("getuserid: %q, %v", id, err)
	}
	if id, err := e.client.UserIDByEmail(ctx, "lisi@example.com", client.EmailPersonal); err != nil || id != "LiSi" {
		t.Fatalf("get_userid_by_email: %q, %v", id, err)
	}
	if !restricted {
		u, err := e.client.GetUser(ctx, "lisi")
		must(err)
		if u.Gender != "0" || u.MainDepartment != 3 || len(u.DirectLeader) != 0 || u.Position != "架构师" {
			t.Fatalf("user/get %+v", u)
		}
	}
	must(e.client.DeleteUser(ctx, "wangwu"))
	must(e.client.CreateUser(ctx, client.UserCreate{UserID: "temp1", Name: "临时", Mobile: "13800000009"}))
	must(e.client.BatchDeleteUsers(ctx, []string{"temp1"}))
	mustID(e.client.CreateDepartment(ctx, client.DepartmentCreate{Name: "临时部", ParentID: 1, ID: 90}))
	must(e.client.DeleteDepartment(ctx, 90))
}

// applyOrg plans desired against the emulator and applies it as a sync
// does.
func applyOrg(t *testing.T, e *zeroEnv, desired model.Org) wecom.Result {
	t.Helper()
	ctx := context.Background()
	sh, err := e.store.LoadShadow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cur := readCurrent(t, e.client)
	ch := plan.Calculate(plan.Input{Desired: desired, Current: cur, Shadow: sh, Policy: plan.Policy{Mode: plan.ModeSync}, Now: time.Now()})
	run, _ := e.store.StartRun(ctx)
	a := &wecom.Applier{Client: e.client, Journal: e.store, RunID: run, Shadow: sh, RootID: 1, Concurrency: 1}
	res, err := a.Apply(ctx, ch)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(res.Failed)+len(res.Pending) != 0 {
		t.Fatalf("apply: failed %+v pending %+v", res.Failed, res.Pending)
	}
	return res
}

// zeroOrgs are two nights of an HR source: the second moves, promotes,
// re-orders and lets someone go, without clearing any text field.
func zeroOrgs() (first, second model.Org) {
	depts := []model.Department{
		{Key: "总部", Name: "总部"},
		{Key: "总部/研发", Name: "研发", ParentKey: "总部", Order: 20},
		{Key: "总部/销售", Name: "销售", ParentKey: "总部"},
	}
	people := []model.Person{
		model.Person{Key: "E1", UserID: "boss", Name: "老板", Mobile: "13900000001", Position: "经理",
			Gender: model.GenderMale, Departments: []string{"总部/研发"}, Enabled: true}.With(model.PersonMore{LeaderOf: []string{"总部/研发"}}),
		model.Person{Key: "E2", UserID: "Dev", Name: "开发", Email: "dev@example.com",
			Gender: model.GenderFemale, Departments: []string{"总部/研发", "总部/销售"}, DirectLeaders: []string{"boss"}, Enabled: true}.With(model.PersonMore{MainDepartment: "总部/销售"}),
		{Key: "E3", UserID: "sales", Name: "销售员", Mobile: "13900000003", Departments: []string{"总部/销售"}, Enabled: true},
	}
	first = model.Org{Departments: depts, People: people}

	second = model.Org{Departments: append([]model.Department(nil), depts...)}
	second.Departments[2].Order = 30
	second.Departments = append(second.Departments, model.Department{Key: "总部/研发/平台", Name: "平台", ParentKey: "总部/研发"})
	p := append([]model.Person(nil), people...)
	p[0].Position = "总监"
	p[1].Departments = []string{"总部/研发/平台"}
	p[1].SetMainDepartment("")
	p[1].DirectLeaders = nil
	second.People = p[:2]
	return first, second
}

// TestClientImmuneToZeroValueOptions runs the client's calls, and two
// nights of apply, against the emulator under every combination of its
// UNCONFIRMED zero-value options, in both read modes: the client never
// sends a zero value whose meaning they decide, and the directory ends up
// the same under all of them.
func TestClientImmuneToZeroValueOptions(t *testing.T) {
	first, second := zeroOrgs()
	for _, restricted := range []bool{false, true} {
		var want []byte
		for _, opts := range zeroOptionSets() {
			opts.RestrictedReads = restricted
			t.Run(optionName(opts), func(t *testing.T) {
				e := newZeroEnv(t, opts)
				clientCalls(t, e, restricted)
				applyOrg(t, e, first)
				applyOrg(t, e, second)
				for _, c := range e.sent {
					if a := c.ambiguities(); len(a) > 0 {
						t.Errorf("%s %s %s carries %s", c.api, c.query, c.body, strings.Join(a, ", "))
					}
				}
				for api, codes := range e.emu.Stats().Errors {
					for code, n := range codes {
						if code != 0 {
							t.Errorf("%s answered %d %d time(s)", api, code, n)
						}
					}
				}
				got, err := json.MarshalIndent(e.emu.State(), "", " ")
				if err != nil {
					t.Fatal(err)
				}
				if want == nil {
					want = got
					return
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("state differs from the default options':\n%s\nwant\n%s", got, want)
				}
			})
		}
		t.Run(fmt.Sprintf("restricted=%v: the resulting state is the one meant", restricted), func(t *testing.T) {
			var s emulator.Snapshot
			if err := json.Unmarshal(want, &s); err != nil {
				t.Fatal(err)
			}
			byID := map[string]emulator.User{}
			for _, u := range s.Users {
				byID[strings.ToLower(u.UserID)] = u
			}
			if u := byID["lisi"]; u.Gender != "0" || u.MainDepartment != 3 || len(u.DirectLeader) != 0 || fmt.Sprint(u.Department) != "[3]" {
				t.Errorf("lisi %+v", u)
			}
			if u := byID["zhangsan"]; u.Enable != 0 || u.Status != emulator.StatusDisabled {
				t.Errorf("zhangsan %+v", u)
			}
			if u := byID["sales"]; u.Enable != 0 {
				t.Errorf("the leaver is not disabled: %+v", u)
			}
			if u := byID["dev"]; len(u.DirectLeader) != 0 || len(u.Department) != 1 || u.MainDepartment != u.Department[0] {
				t.Errorf("dev %+v", u)
			}
			if u := byID["boss"]; u.Position != "总监" || u.Gender != "1" {
				t.Errorf("boss %+v", u)
			}
			if _, ok := byID["wangwu"]; ok {
				t.Errorf("wangwu not deleted")
			}
		})
	}
}

// TestClearingATextFieldDependsOnTheServer pins the one write the client
// cannot make immune: a text field is cleared only by "", and whether
// WeCom's user/update clears on "" is UNCONFIRMED (EmptyStringKeepsField).
// Gender is the exception: "" goes out as "0", unset either way.
func TestClearingATextFieldDependsOnTheServer(t *testing.T) {
	for _, keeps := range []bool{false, true} {
		t.Run(fmt.Sprintf("EmptyStringKeepsField=%v", keeps), func(t *testing.T) {
			e := newZeroEnv(t, emulator.Options{EmptyStringKeepsField: keeps})
			ctx := context.Background()
			if err := e.client.CreateUser(ctx, client.UserCreate{UserID: "a", Name: "A", Mobile: "13800000001", Position: "dev", Gender: "1"}); err != nil {
				t.Fatal(err)
			}
			if err := e.client.UpdateUser(ctx, client.UserUpdate{UserID: "a", Position: client.Ptr(""), Gender: client.Ptr("")}); err != nil {
				t.Fatal(err)
			}
			u := e.emu.State().Users[0]
			wantPosition := ""
			if keeps {
				wantPosition = "dev"
			}
			if u.Position != wantPosition || u.Gender != "0" {
				t.Fatalf("position %q gender %q, want %q \"0\"", u.Position, u.Gender, wantPosition)
			}
		})
	}
}
