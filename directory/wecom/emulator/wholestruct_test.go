package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// Requests below are written exactly as whole-struct SDKs send them
// (wecom-api.md §4.5): a Go SDK whose request structs have no omitempty
// sends every field with its zero value (0, "", null for a nil slice or
// pointer); a Java SDK serialising all its fields sends [] for empty lists,
// strings for gender and its read-only fields (status, avatar, qr_code) as
// it last read them.

// goUserCreate is user/create from a Go SDK with no omitempty: every field
// of its struct, zero unless set.
const goUserCreate = `{"userid":"zhangsan","name":"张三","alias":"","mobile":"13800000001","department":[2],"order":[0],` +
	`"position":"","gender":1,"email":"","biz_mail":"zhangsan@corp.example.com","is_leader_in_dept":null,"direct_leader":null,` +
	`"enable":1,"avatar_mediaid":"","telephone":"","address":"","main_department":0,"extattr":{"attrs":null},` +
	`"to_invite":false,"external_position":"","external_profile":{"external_corp_name":"","wechat_channels":{"nickname":""},"external_attr":null},` +
	`"nickname":"","new_userid":"","status":0,"avatar":"","thumb_avatar":"","qr_code":"","open_userid":""}`

// javaUserCreate is user/create from a Java SDK serialising all fields:
// [] for an unset order, gender as a string, read-only fields as last read.
const javaUserCreate = `{"userid":"LiSi","name":"李四","english_name":"","department":[2,3],"order":[],"is_leader_in_dept":[1,0],` +
	`"main_department":3,"position":"工程师","mobile":"","gender":"2","email":"lisi@example.com","telephone":"010-1234",` +
	`"enable":1,"direct_leader":["zhangsan"],"status":1,"avatar":"http://wework.qpic.cn/a/0","thumb_avatar":"",` +
	`"qr_code":"https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=x","isleader":0,"hide_mobile":0,"weixinid":"",` +
	`"extattr":{"attrs":[]},"to_invite":true}`

// goUserCreateNoEnable is user/create from the Go SDK when the caller did
// not set enable: it goes out as 0.
const goUserCreateNoEnable = `{"userid":"wangwu","name":"王五","alias":"","mobile":"","department":[10],"order":[0],` +
	`"position":"","gender":0,"email":"wangwu@example.com","biz_mail":"","is_leader_in_dept":[0],"direct_leader":null,` +
	`"enable":0,"avatar_mediaid":"","telephone":"","address":"","main_department":0,"extattr":{"attrs":null},` +
	`"to_invite":false,"external_position":"","nickname":"","new_userid":"","status":0,"avatar":"","thumb_avatar":"","qr_code":"","open_userid":""}`

// goUserUpdate is user/update from the Go SDK after reading the member and
// changing its position: every field filled from the read, plus zeros.
const goUserUpdate = `{"userid":"zhangsan","new_userid":"","name":"张三","alias":"","mobile":"13800000001","department":[2],"order":[0],` +
	`"position":"架构师","gender":"1","email":"","biz_mail":"zhangsan@corp.example.com","is_leader_in_dept":[0],"direct_leader":null,` +
	`"enable":1,"avatar_mediaid":"","telephone":"","address":"","main_department":0,"extattr":{"attrs":null},` +
	`"external_position":"","nickname":"","status":4,"avatar":"","thumb_avatar":"","qr_code":"","open_userid":""}`

// javaUserUpdate clears lisi's leader and position the documented way
// ([] and ""), sends gender "0" and a stale status, and leaves enable null.
const javaUserUpdate = `{"userid":"LiSi","name":"李四","department":[2,3],"order":[],"is_leader_in_dept":[1,0],"main_department":3,` +
	`"position":"","mobile":"","gender":"0","email":"lisi@example.com","telephone":"010-1234","enable":null,"direct_leader":[],` +
	`"status":5,"avatar":"http://wework.qpic.cn/a/0","qr_code":"","extattr":{"attrs":[]}}`

// wholeStructCall is one of the ordinary contact calls of a scenario that
// builds a small directory and takes it down again.
type wholeStructCall struct {
	name   string
	api    string
	query  string // GET parameters, or for POST the body
	post   bool
	detail bool // a detail read: 48009 in restricted mode
	want   int
	check  func(t *testing.T, r resp, s Snapshot)
}

func wholeStructCalls() []wholeStructCall {
	return []wholeStructCall{
		{name: "department/create: id 0 is assigned, order 0 the default, name_en \"\" none",
			api: "department/create", post: true, query: `{"name":"研发中心","name_en":"","parentid":1,"order":0,"id":0}`,
			check: func(t *testing.T, r resp, s Snapshot) {
				if r["id"] != float64(2) {
					t.Errorf("id %v, want 2", r["id"])
				}
				wantDept(t, s, 2, "研发中心", "", 1, 0)
			}},
		{name: "department/create: a child with an order, id 0 assigned",
			api: "department/create", post: true, query: `{"name":"平台组","name_en":"","parentid":2,"order":100,"id":0}`,
			check: func(t *testing.T, r resp, s Snapshot) { wantDept(t, s, 3, "平台组", "", 2, 100) }},
		{name: "department/create: Java style with a given id, parentid as a string, read-only department_leader null",
			api: "department/create", post: true, query: `{"id":10,"name":"销售部","name_en":"Sales","parentid":"1","order":5,"department_leader":null}`,
			check: func(t *testing.T, r resp, s Snapshot) { wantDept(t, s, 10, "销售部", "Sales", 1, 5) }},
		{name: "department/update: parentid 0 is no move, order 0 the default order",
			api: "department/update", post: true, query: `{"id":3,"name":"平台部","name_en":"","parentid":0,"order":0}`,
			check: func(t *testing.T, r resp, s Snapshot) { wantDept(t, s, 3, "平台部", "", 2, 0) }},
		{name: "department/update: a move with every field sent",
			api: "department/update", post: true, query: `{"id":"10","name":"销售部","name_en":"Sales","parentid":2,"order":5,"department_leader":[]}`,
			check: func(t *testing.T, r resp, s Snapshot) { wantDept(t, s, 10, "销售部", "Sales", 2, 5) }},
		{name: "department/get", api: "department/get", query: "id=3", detail: true,
			check: func(t *testing.T, r resp, s Snapshot) {
				if d, _ := r["department"].(map[string]any); d["name"] != "平台部" || d["parentid"] != float64(2) {
					t.Errorf("department %v", r["department"])
				}
			}},
		{name: "department/list: id=0 is the root's subtree", api: "department/list", query: "id=0", detail: true,
			check: func(t *testing.T, r resp, s Snapshot) { wantIDs(t, r.list("department"), 1, 2, 3, 10) }},
		{name: "department/simplelist: id=0 is the root's subtree", api: "department/simplelist", query: "id=0",
			check: func(t *testing.T, r resp, s Snapshot) { wantIDs(t, r.list("department_id"), 1, 2, 3, 10) }},
		{name: "department/simplelist: a subtree", api: "department/simplelist", query: "id=2",
			check: func(t *testing.T, r resp, s Snapshot) { wantIDs(t, r.list("department_id"), 2, 3, 10) }},
		{name: "user/create: Go SDK, main_department 0, numeric gender, null arrays, read-only fields",
			api: "user/create", post: true, query: goUserCreate,
			check: func(t *testing.T, r resp, s Snapshot) {
				u := wantUser(t, s, "zhangsan")
				if u.MainDepartment != 2 || u.Gender != "1" || u.Enable != 1 || u.Status != StatusNotActive ||
					fmt.Sprint(u.Department, u.Order, u.IsLeaderInDept) != "[2] [0] [0]" || len(u.DirectLeader) != 0 ||
					u.Avatar != "" || u.ExtAttr != nil || u.ExternalProfile != nil {
					t.Errorf("user %+v", u)
				}
			}},
		{name: "user/create: Java SDK, order [], gender string, stale status, avatar and qr_code ignored",
			api: "user/create", post: true, query: javaUserCreate,
			check: func(t *testing.T, r resp, s Snapshot) {
				u := wantUser(t, s, "lisi")
				if u.UserID != "LiSi" || u.MainDepartment != 3 || u.Gender != "2" || u.Status != StatusNotActive ||
					fmt.Sprint(u.Department, u.Order, u.IsLeaderInDept, u.DirectLeader) != "[2 3] [0 0] [1 0] [zhangsan]" ||
					u.Avatar != "" || u.QRCode != "" || u.Position != "工程师" {
					t.Errorf("user %+v", u)
				}
			}},
		{name: "user/create: Go SDK with enable left at 0 creates a disabled member (default option)",
			api: "user/create", post: true, query: goUserCreateNoEnable,
			check: func(t *testing.T, r resp, s Snapshot) {
				u := wantUser(t, s, "wangwu")
				if u.Enable != 0 || u.Status != StatusDisabled || u.Gender != "0" || u.MainDepartment != 10 {
					t.Errorf("user %+v", u)
				}
			}},
		{name: "user/get", api: "user/get", query: "userid=zhangsan", detail: true,
			check: func(t *testing.T, r resp, s Snapshot) {
				if r.str("userid") != "zhangsan" || r.str("gender") != "1" || r["main_department"] != float64(2) {
					t.Errorf("user %v", r)
				}
			}},
		{name: "user/update: Go SDK read-modify-write; new_userid \"\", main_department 0 and direct_leader null are not given",
			api: "user/update", post: true, query: goUserUpdate,
			check: func(t *testing.T, r resp, s Snapshot) {
				u := wantUser(t, s, "zhangsan")
				if u.Position != "架构师" || u.MainDepartment != 2 || u.Enable != 1 || u.Status != StatusNotActive || u.Gender != "1" {
					t.Errorf("user %+v", u)
				}
			}},
		{name: "user/update: Java SDK; direct_leader [] and position \"\" clear, gender \"0\" unsets, enable null and status ignored",
			api: "user/update", post: true, query: javaUserUpdate,
			check: func(t *testing.T, r resp, s Snapshot) {
				u := wantUser(t, s, "lisi")
				if len(u.DirectLeader) != 0 || u.Position != "" || u.Gender != "0" || u.Enable != 1 || u.Status != StatusNotActive ||
					u.MainDepartment != 3 || fmt.Sprint(u.IsLeaderInDept) != "[1 0]" {
					t.Errorf("user %+v", u)
				}
			}},
		{name: "user/update: an explicit enable 1 enables the member created disabled",
			api: "user/update", post: true, query: `{"userid":"wangwu","new_userid":"","enable":1,"main_department":0,"department":null,"order":null,"is_leader_in_dept":null,"direct_leader":null}`,
			check: func(t *testing.T, r resp, s Snapshot) {
				if u := wantUser(t, s, "wangwu"); u.Enable != 1 || u.Status != StatusNotActive || fmt.Sprint(u.Department) != "[10]" {
					t.Errorf("user %+v", u)
				}
			}},
		{name: "user/list: fetch_child=1", api: "user/list", query: "department_id=2&fetch_child=1", detail: true,
			check: func(t *testing.T, r resp, s Snapshot) {
				wantUserIDs(t, r.list("userlist"), "zhangsan", "LiSi", "wangwu")
			}},
		{name: "user/simplelist: fetch_child=0 is the department alone", api: "user/simplelist", query: "department_id=3&fetch_child=0", detail: true,
			check: func(t *testing.T, r resp, s Snapshot) { wantUserIDs(t, r.list("userlist"), "LiSi") }},
		{name: "user/list_id: cursor \"\" is the first page", api: "user/list_id", post: true, query: `{"cursor":"","limit":10000}`,
			check: func(t *testing.T, r resp, s Snapshot) {
				if n := len(r.list("dept_user")); n != 4 || r.str("next_cursor") != "" {
					t.Errorf("%d rows, next_cursor %q: %v", n, r.str("next_cursor"), r)
				}
			}},
		{name: "user/getuserid", api: "user/getuserid", post: true, query: `{"mobile":"13800000001"}`,
			check: func(t *testing.T, r resp, s Snapshot) { wantStr(t, r, "userid", "zhangsan") }},
		{name: "user/get_userid_by_email: email_type 0 is the default (company mail)", api: "user/get_userid_by_email", post: true,
			query: `{"email":"zhangsan@corp.example.com","email_type":0}`,
			check: func(t *testing.T, r resp, s Snapshot) { wantStr(t, r, "userid", "zhangsan") }},
		{name: "user/delete", api: "user/delete", query: "userid=wangwu",
			check: func(t *testing.T, r resp, s Snapshot) { wantNoUser(t, s, "wangwu") }},
		{name: "user/batchdelete", api: "user/batchdelete", post: true, query: `{"useridlist":["lisi","ZhangSan"]}`,
			check: func(t *testing.T, r resp, s Snapshot) {
				if len(s.Users) != 0 {
					t.Errorf("users left: %+v", s.Users)
				}
			}},
		{name: "department/delete: an emptied department", api: "department/delete", query: "id=10",
			check: func(t *testing.T, r resp, s Snapshot) { wantNoDept(t, s, 10) }},
		{name: "department/delete: a leaf", api: "department/delete", query: "id=3",
			check: func(t *testing.T, r resp, s Snapshot) { wantNoDept(t, s, 3) }},
		{name: "department/simplelist: no id, the whole tree", api: "department/simplelist",
			check: func(t *testing.T, r resp, s Snapshot) { wantIDs(t, r.list("department_id"), 1, 2) }},
	}
}

// TestWholeStructRequests runs the ordinary contact calls, as whole-struct
// SDKs send them, against the default emulator in both read modes: each
// gets the real server's documented answer and leaves the documented state.
// In restricted mode the detail reads answer 48009 and change nothing.
func TestWholeStructRequests(t *testing.T) {
	calls := wholeStructCalls()
	if len(calls) != 26 {
		t.Fatalf("%d calls, want the 26 ordinary contact calls", len(calls))
	}
	for _, restricted := range []bool{false, true} {
		t.Run(fmt.Sprintf("RestrictedReads=%v", restricted), func(t *testing.T) {
			e := newEnv(t, Options{RestrictedReads: restricted})
			for i, c := range calls {
				want := c.want
				if c.detail && restricted {
					want = 48009
				}
				ok := t.Run(fmt.Sprintf("%02d %s", i+1, c.name), func(t *testing.T) {
					before := e.emu.State()
					r := e.send(c)
					expect(t, r, want)
					after := e.emu.State()
					switch {
					case want != 0:
						if !snapshotsEqual(before, after) {
							t.Errorf("errcode %d changed the state", want)
						}
					case c.check != nil:
						c.check(t, r, after)
					}
				})
				if !ok {
					t.FailNow() // later calls build on this one
				}
			}
		})
	}
}

// send makes one scenario call with the edit token.
func (e *env) send(c wholeStructCall) resp {
	e.t.Helper()
	if c.post {
		return e.post(c.api, c.query)
	}
	q, err := url.ParseQuery(c.query)
	if err != nil {
		e.t.Fatal(err)
	}
	q.Set("access_token", e.token)
	return e.raw(http.MethodGet, "/cgi-bin/"+c.api+"?"+q.Encode(), nil, "")
}

func snapshotsEqual(a, b Snapshot) bool {
	return fmt.Sprintf("%+v", normalise(a)) == fmt.Sprintf("%+v", normalise(b))
}

func findDept(s Snapshot, id int64) (Department, bool) {
	for _, d := range s.Departments {
		if d.ID == id {
			return d, true
		}
	}
	return Department{}, false
}

func findUser(s Snapshot, userid string) (User, bool) {
	for _, u := range s.Users {
		if strings.EqualFold(u.UserID, userid) {
			return u, true
		}
	}
	return User{}, false
}

func wantDept(t *testing.T, s Snapshot, id int64, name, nameEn string, parent int64, order uint32) {
	t.Helper()
	d, ok := findDept(s, id)
	if !ok {
		t.Fatalf("no department %d in %+v", id, s.Departments)
	}
	if d.Name != name || d.NameEn != nameEn || d.ParentID != parent || d.Order != order {
		t.Errorf("department %+v, want name %q name_en %q parentid %d order %d", d, name, nameEn, parent, order)
	}
}

func wantNoDept(t *testing.T, s Snapshot, id int64) {
	t.Helper()
	if _, ok := findDept(s, id); ok {
		t.Errorf("department %d still exists", id)
	}
}

func wantUser(t *testing.T, s Snapshot, userid string) User {
	t.Helper()
	u, ok := findUser(s, userid)
	if !ok {
		t.Fatalf("no member %s", userid)
	}
	return u
}

func wantNoUser(t *testing.T, s Snapshot, userid string) {
	t.Helper()
	if _, ok := findUser(s, userid); ok {
		t.Errorf("member %s still exists", userid)
	}
}

func wantStr(t *testing.T, r resp, k, want string) {
	t.Helper()
	if got := r.str(k); got != want {
		t.Errorf("%s %q, want %q: %v", k, got, want, r)
	}
}

// wantIDs checks the ids of department rows, in any order.
func wantIDs(t *testing.T, rows []any, want ...int64) {
	t.Helper()
	var got []int64
	for _, row := range rows {
		if d, ok := row.(map[string]any); ok {
			id, _ := d["id"].(float64)
			got = append(got, int64(id))
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("department ids %v, want %v", got, want)
	}
}

// wantUserIDs checks the userids of member rows, in any order.
func wantUserIDs(t *testing.T, rows []any, want ...string) {
	t.Helper()
	var got []string
	for _, row := range rows {
		if u, ok := row.(map[string]any); ok {
			id, _ := u["userid"].(string)
			got = append(got, id)
		}
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("userids %v, want %v", got, want)
	}
}
