package emulator

import (
	"fmt"
	"testing"
)

// zeroEnv is an emulator with departments 2 and 3 under the root and a
// member "li" in both (main department 3, leader "boss", position "dev",
// gender "2", an extattr), created with explicit values.
func zeroEnv(t *testing.T, opts Options) *env {
	t.Helper()
	e := newEnv(t, opts)
	e.mkDept("A", 1, "id", 2, "name_en", "A-en")
	e.mkDept("B", 1, "id", 3, "order", 7)
	e.mkUser("boss")
	expect(t, e.post("user/create", m{"userid": "li", "name": "Li", "mobile": "13800000001", "email": "li@example.com",
		"department": []int64{2, 3}, "order": []int{5, 6}, "is_leader_in_dept": []int{1, 0}, "main_department": 3,
		"position": "dev", "gender": "2", "alias": "L", "direct_leader": []string{"boss"},
		"extattr": m{"attrs": []m{{"type": 0, "name": "工号", "text": m{"value": "007"}}}}}), 0)
	return e
}

func (e *env) user(userid string) User {
	e.t.Helper()
	u, ok := findUser(e.emu.State(), userid)
	if !ok {
		e.t.Fatalf("no member %s", userid)
	}
	return u
}

// TestZeroValuesNotGiven covers the zero values that mean "not given"
// whatever the Options (wecom-api.md §4.5), on user/update, where "not
// given" shows: the member is left as it was.
func TestZeroValuesNotGiven(t *testing.T) {
	cases := []struct {
		name string
		body string
	}{
		{"main_department 0", `{"userid":"li","main_department":0}`},
		{"main_department \"0\"", `{"userid":"li","main_department":"0"}`},
		{"new_userid \"\" (no 301036)", `{"userid":"li","new_userid":""}`},
		{"null arrays", `{"userid":"li","department":null,"order":null,"is_leader_in_dept":null,"direct_leader":null}`},
		{"order [] and is_leader_in_dept [] (no 60132)", `{"userid":"li","order":[],"is_leader_in_dept":[]}`},
		{"null scalars", `{"userid":"li","name":null,"position":null,"gender":null,"enable":null,"mobile":null,"alias":null}`},
		{"extattr with attrs null", `{"userid":"li","extattr":{"attrs":null}}`},
		{"extattr {}", `{"userid":"li","extattr":{}}`},
		{"external_profile of zeros", `{"userid":"li","external_profile":{"external_corp_name":"","wechat_channels":{"nickname":""},"external_attr":null}}`},
		{"read-only fields of any type", `{"userid":"li","status":5,"avatar":"http://x/0","thumb_avatar":7,"qr_code":{"a":1},"open_userid":"o","english_name":"","isleader":1,"hide_mobile":"1","weixinid":null,"to_invite":"yes"}`},
		{"unknown fields", `{"userid":"li","no_such_field":[1,{"x":null}],"department_leader":["boss"]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := zeroEnv(t, Options{})
			before := normalise(e.emu.State())
			expect(t, e.post("user/update", c.body), 0)
			if after := normalise(e.emu.State()); fmt.Sprintf("%+v", after) != fmt.Sprintf("%+v", before) {
				t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before.Users, after.Users)
			}
		})
	}
}

// TestZeroValuesWithMeaning covers the zero values that do something:
// enable 0 on update disables, direct_leader [] clears, gender 0 unsets,
// main_department 0 beside a new department list picks the first one.
func TestZeroValuesWithMeaning(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		check func(u User) bool
	}{
		{"enable 0 on update disables", `{"userid":"li","enable":0}`,
			func(u User) bool { return u.Enable == 0 && u.Status == StatusDisabled }},
		{"enable \"0\" on update disables", `{"userid":"li","enable":"0"}`,
			func(u User) bool { return u.Enable == 0 && u.Status == StatusDisabled }},
		{"direct_leader [] clears", `{"userid":"li","direct_leader":[]}`,
			func(u User) bool { return len(u.DirectLeader) == 0 }},
		{"gender 0 unsets", `{"userid":"li","gender":0}`, func(u User) bool { return u.Gender == "0" }},
		{"gender \"0\" unsets", `{"userid":"li","gender":"0"}`, func(u User) bool { return u.Gender == "0" }},
		{"gender 1 as a number", `{"userid":"li","gender":1}`, func(u User) bool { return u.Gender == "1" }},
		{"gender \"1\" as a string", `{"userid":"li","gender":"1"}`, func(u User) bool { return u.Gender == "1" }},
		{"main_department 0 with a new department list: the first is the main one",
			`{"userid":"li","department":[2],"order":[0],"is_leader_in_dept":[0],"main_department":0}`,
			func(u User) bool {
				return u.MainDepartment == 2 && fmt.Sprint(u.Department, u.Order, u.IsLeaderInDept) == "[2] [0] [0]"
			}},
		{"order as numeric strings", `{"userid":"li","department":["3","2"],"order":["9","8"]}`,
			func(u User) bool { return fmt.Sprint(u.Department, u.Order) == "[3 2] [9 8]" }},
		{"extattr {\"attrs\": []} clears", `{"userid":"li","extattr":{"attrs":[]}}`,
			func(u User) bool { return string(compact(u.ExtAttr)) == `{"attrs":[]}` }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := zeroEnv(t, Options{})
			expect(t, e.post("user/update", c.body), 0)
			if u := e.user("li"); !c.check(u) {
				t.Fatalf("member %+v", u)
			}
		})
	}
	t.Run("user/create: main_department 0, gender 0, order [] are defaults", func(t *testing.T) {
		e := zeroEnv(t, Options{})
		expect(t, e.post("user/create", `{"userid":"new","name":"N","email":"new@example.com","department":[3,2],"order":[],"is_leader_in_dept":[],"main_department":0,"gender":0,"new_userid":""}`), 0)
		if u := e.user("new"); u.MainDepartment != 3 || u.Gender != "0" || fmt.Sprint(u.Order, u.IsLeaderInDept) != "[0 0] [0 0]" {
			t.Fatalf("member %+v", u)
		}
	})
	t.Run("user/get_userid_by_email: email_type 0 is company mail", func(t *testing.T) {
		e := zeroEnv(t, Options{})
		expect(t, e.post("user/update", m{"userid": "li", "biz_mail": "li@corp.example.com"}), 0)
		r := e.post("user/get_userid_by_email", `{"email":"li@corp.example.com","email_type":0}`)
		expect(t, r, 0)
		wantStr(t, r, "userid", "li")
		expect(t, e.post("user/get_userid_by_email", `{"email":"li@example.com","email_type":0}`), 46004)
	})
}

// TestOptionEnableZeroOnCreate: enable 0 on user/create is UNCONFIRMED.
func TestOptionEnableZeroOnCreate(t *testing.T) {
	body := `{"userid":"new","name":"N","email":"new@example.com","department":[1],"enable":0}`
	for _, c := range []struct {
		ignored      bool
		enable, stat int
	}{
		{false, 0, StatusDisabled}, // default: the documented meaning, a disabled member
		{true, 1, StatusNotActive},
	} {
		t.Run(fmt.Sprintf("EnableZeroOnCreateIgnored=%v", c.ignored), func(t *testing.T) {
			e := newEnv(t, Options{EnableZeroOnCreateIgnored: c.ignored})
			expect(t, e.post("user/create", body), 0)
			if u := e.user("new"); u.Enable != c.enable || u.Status != c.stat {
				t.Fatalf("enable %d status %d, want %d %d", u.Enable, u.Status, c.enable, c.stat)
			}
			t.Run("enable 1 and absent create enabled members either way", func(t *testing.T) {
				expect(t, e.post("user/create", `{"userid":"one","name":"O","email":"one@example.com","enable":1}`), 0)
				expect(t, e.post("user/create", `{"userid":"none","name":"X","email":"none@example.com"}`), 0)
				for _, id := range []string{"one", "none"} {
					if u := e.user(id); u.Enable != 1 || u.Status != StatusNotActive {
						t.Errorf("%s: enable %d status %d", id, u.Enable, u.Status)
					}
				}
			})
			t.Run("enable 0 on update disables either way", func(t *testing.T) {
				expect(t, e.post("user/update", `{"userid":"none","enable":0}`), 0)
				if u := e.user("none"); u.Enable != 0 || u.Status != StatusDisabled {
					t.Errorf("enable %d status %d", u.Enable, u.Status)
				}
			})
		})
	}
}

// TestOptionEmptyStringOnUpdate: "" on a text field of an update is
// UNCONFIRMED for members and departments.
func TestOptionEmptyStringOnUpdate(t *testing.T) {
	clearing := `{"userid":"li","position":"","alias":"","gender":"","telephone":"","address":"","external_position":"","mobile":""}`
	t.Run("EmptyStringKeepsField=false: \"\" clears (default)", func(t *testing.T) {
		e := zeroEnv(t, Options{})
		expect(t, e.post("user/update", clearing), 0)
		if u := e.user("li"); u.Position != "" || u.Alias != "" || u.Gender != "0" || u.Mobile != "" || u.Email != "li@example.com" {
			t.Fatalf("member %+v", u)
		}
		expect(t, e.post("user/update", `{"userid":"li","name":""}`), 60112)
		expect(t, e.post("user/update", `{"userid":"li","email":""}`), 60129) // the mobile is gone too
		expect(t, e.post("department/update", `{"id":2,"name":""}`), 60001)
		expect(t, e.post("department/update", `{"id":2,"name_en":""}`), 0)
		wantDept(t, e.emu.State(), 2, "A", "", 1, 0)
	})
	t.Run("EmptyStringKeepsField=true: \"\" leaves the field", func(t *testing.T) {
		e := zeroEnv(t, Options{EmptyStringKeepsField: true})
		before := e.user("li")
		expect(t, e.post("user/update", clearing), 0)
		expect(t, e.post("user/update", `{"userid":"li","name":"","email":"","biz_mail":"","nickname":"","avatar_mediaid":""}`), 0)
		if u := e.user("li"); fmt.Sprintf("%+v", normalise(Snapshot{Users: []User{u}})) != fmt.Sprintf("%+v", normalise(Snapshot{Users: []User{before}})) {
			t.Fatalf("member changed:\nbefore %+v\nafter  %+v", before, u)
		}
		expect(t, e.post("department/update", `{"id":2,"name":"","name_en":""}`), 0)
		wantDept(t, e.emu.State(), 2, "A", "A-en", 1, 0)
		t.Run("a non-empty value still replaces", func(t *testing.T) {
			expect(t, e.post("user/update", `{"userid":"li","position":"lead","name":""}`), 0)
			if u := e.user("li"); u.Position != "lead" || u.Name != "Li" {
				t.Fatalf("member %+v", u)
			}
		})
	})
}

// TestOptionParentIDZeroOnDepartmentUpdate: parentid 0 on
// department/update is UNCONFIRMED.
func TestOptionParentIDZeroOnDepartmentUpdate(t *testing.T) {
	t.Run("ParentIDZeroLiteral=false: not given, no move (default)", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.mkDept("A", 1, "id", 2)
		e.mkDept("B", 2, "id", 3)
		expect(t, e.post("department/update", `{"id":3,"name":"B2","parentid":0}`), 0)
		wantDept(t, e.emu.State(), 3, "B2", "", 2, 0)
		expect(t, e.post("department/update", `{"id":1,"name":"Corp","parentid":0,"order":0}`), 0)
		wantDept(t, e.emu.State(), 1, "Corp", "", 0, 0)
	})
	t.Run("ParentIDZeroLiteral=true: a parent id, 60004", func(t *testing.T) {
		e := newEnv(t, Options{ParentIDZeroLiteral: true})
		e.mkDept("A", 1, "id", 2)
		e.mkDept("B", 2, "id", 3)
		expect(t, e.post("department/update", `{"id":3,"name":"B2","parentid":0}`), 60004)
		wantDept(t, e.emu.State(), 3, "B", "", 2, 0)
		t.Run("the root, whose parentid is 0, is left as is", func(t *testing.T) {
			expect(t, e.post("department/update", `{"id":1,"name":"Corp","parentid":0}`), 0)
			wantDept(t, e.emu.State(), 1, "Corp", "", 0, 0)
		})
	})
}

// TestOptionDepartmentListIDZero: department/simplelist?id=0 (and list) is
// UNCONFIRMED. With a Contacts-Sync secret both readings give the whole
// tree; for an app secret scoped below the root they differ.
func TestOptionDepartmentListIDZero(t *testing.T) {
	secrets := []SecretSpec{{Secret: editSecret, Role: RoleContactsSyncEdit}, {Secret: appSecret, Role: RoleApp, Scope: []int64{2}}}
	for _, c := range []struct {
		wholeTree bool
		appCode   int
		appIDs    []int64
	}{
		{false, 60011, nil}, // default: the root, which the app cannot see
		{true, 0, []int64{2, 3}},
	} {
		t.Run(fmt.Sprintf("DeptListIDZeroWholeTree=%v", c.wholeTree), func(t *testing.T) {
			e := newEnv(t, Options{Secrets: secrets, DeptListIDZeroWholeTree: c.wholeTree})
			e.mkDept("A", 1, "id", 2)
			e.mkDept("B", 2, "id", 3)
			e.mkDept("C", 1, "id", 4)
			app := e.tokenFor(appSecret)
			for _, api := range []string{"department/simplelist", "department/list"} {
				key := map[string]string{"department/simplelist": "department_id", "department/list": "department"}[api]
				t.Run(api, func(t *testing.T) {
					r := e.get(api, "id", "0")
					expect(t, r, 0)
					wantIDs(t, r.list(key), 1, 2, 3, 4)
					r = e.getWith(app, api, "id", "0")
					expect(t, r, c.appCode)
					if c.appCode == 0 {
						wantIDs(t, r.list(key), c.appIDs...)
					}
				})
			}
		})
	}
}
