package emulator

import (
	"fmt"
	"strings"
	"testing"
)

func TestUserCreate(t *testing.T) {
	e := newEnv(t, Options{CreatorUserID: "founder"})
	d := e.mkDept("D", 1)
	expect(t, e.post("user/create", m{"userid": "ZhangSan", "name": "张三", "mobile": "+86 13800000001",
		"email": "zs@example.com", "biz_mail": "zs@corp.example.com", "department": []int64{d}}), 0)
	ok := func(extra m) m {
		b := m{"userid": "new1", "name": "New", "mobile": "13900000009"}
		for k, v := range extra {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	cases := []struct {
		name string
		body m
		want int
	}{
		{"40003: userid missing", ok(m{"userid": nil}), 40003},
		{"40003: userid starting with a symbol", ok(m{"userid": "_abc"}), 40003},
		{"40003: userid with a space", ok(m{"userid": "a b"}), 40003},
		{"40003: userid with a non-ASCII letter", ok(m{"userid": "张三"}), 40003},
		{"40058: userid over 64 bytes", ok(m{"userid": strings.Repeat("a", 65)}), 40058},
		{"60102: userid clash ignoring case", ok(m{"userid": "zhangsan"}), 60102},
		{"60112: name missing", ok(m{"name": nil}), 60112},
		{"60112: name over 64 characters", ok(m{"name": strings.Repeat("名", 65)}), 60112},
		{"60129: neither mobile nor email", ok(m{"mobile": nil}), 60129},
		{"60103: mobile with letters", ok(m{"mobile": "138abc00000"}), 60103},
		{"60103: mobile over 32 characters", ok(m{"mobile": strings.Repeat("1", 33)}), 60103},
		{"60104: mobile taken (same number without +86)", ok(m{"mobile": "13800000001"}), 60104},
		{"60105: email without @", ok(m{"email": "nobody.example.com"}), 60105},
		{"60106: email taken ignoring case", ok(m{"email": "ZS@example.com"}), 60106},
		{"60143: biz_mail invalid", ok(m{"biz_mail": "bad"}), 60143},
		{"60145: biz_mail taken", ok(m{"biz_mail": "zs@corp.example.com"}), 60145},
		{"60003: unknown department", ok(m{"department": []int64{999}}), 60003},
		{"40066: duplicate department", ok(m{"department": []int64{1, 1}}), 40066},
		{"60110: more than 100 departments", ok(m{"department": make([]int64, 101)}), 60110},
		{"60132: is_leader_in_dept length differs from department", ok(m{"department": []int64{1}, "is_leader_in_dept": []int{1, 0}}), 60132},
		{"60132: order length differs from department", ok(m{"department": []int64{1, d}, "order": []int{1}}), 60132},
		{"60111: direct_leader not a member", ok(m{"direct_leader": []string{"ghost"}}), 60111},
		{"40058: too many direct leaders", ok(m{"direct_leader": []string{"zhangsan", "zhangsan", "zhangsan", "zhangsan", "zhangsan", "zhangsan"}}), 40058},
		{"301012: position over 128 characters", ok(m{"position": strings.Repeat("p", 129)}), 301012},
		{"301013: telephone with letters", ok(m{"telephone": "call me"}), 301013},
		{"40058: gender not 1 or 2", ok(m{"gender": "male"}), 40058},
		{"40058: enable not 0 or 1", ok(m{"enable": 3}), 40058},
		{"301015: avatar_mediaid never uploaded", ok(m{"avatar_mediaid": "nope"}), 301015},
		{"40058: main_department not among department", ok(m{"department": []int64{1}, "main_department": d}), 40058},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.post("user/create", c.body)
			expect(t, r, c.want)
			if c.want == 60104 && !strings.HasPrefix(r.str("errmsg"), "mobile existed:ZhangSan,") {
				t.Errorf("errmsg %q, want it to name the owner", r.str("errmsg"))
			}
		})
	}
	t.Run("nothing was created by the failed calls", func(t *testing.T) {
		if n := len(e.emu.State().Users); n != 1 {
			t.Fatalf("%d users, want 1", n)
		}
	})
	t.Run("0: created with status 4 (not activated), stored case kept, found ignoring case", func(t *testing.T) {
		r := e.get("user/get", "userid", "ZHANGSAN")
		expect(t, r, 0)
		if r.str("userid") != "ZhangSan" || r["status"].(float64) != StatusNotActive || r["enable"].(float64) != 1 {
			t.Fatalf("user %v", r)
		}
		if r.str("gender") != "0" || len(r.list("order")) != 1 || len(r.list("is_leader_in_dept")) != 1 {
			t.Fatalf("defaults %v", r)
		}
	})
	t.Run("0: a user without department goes to the root", func(t *testing.T) {
		expect(t, e.post("user/create", ok(nil)), 0)
		if dep := e.get("user/get", "userid", "new1").list("department"); len(dep) != 1 || dep[0].(float64) != 1 {
			t.Fatalf("department %v", dep)
		}
	})
	t.Run("0: userid with every allowed character", func(t *testing.T) {
		expect(t, e.post("user/create", ok(m{"userid": "a.b-c_d@e9", "mobile": "13900000010"})), 0)
	})
	t.Run("60104: +86 prefix compared away the other way round", func(t *testing.T) {
		expect(t, e.post("user/create", ok(m{"userid": "plus", "mobile": "+8613900000010"})), 60104)
	})
}

func TestLegacyDepartmentRequired(t *testing.T) {
	e := newEnv(t, Options{LegacyDepartmentRequired: true})
	t.Run("60127: department missing in legacy mode", func(t *testing.T) {
		expect(t, e.post("user/create", m{"userid": "a", "name": "a", "mobile": "13800000000"}), 60127)
		expect(t, e.post("user/create", m{"userid": "a", "name": "a", "mobile": "13800000000", "department": []int{}}), 60127)
	})
}

func TestMaxSeats(t *testing.T) {
	e := newEnv(t, Options{MaxSeats: 1})
	e.mkUser("one")
	t.Run("45024: seat quota reached", func(t *testing.T) {
		expect(t, e.post("user/create", m{"userid": "two", "name": "t", "mobile": "13800000000"}), 45024)
	})
}

func TestUserUpdate(t *testing.T) {
	e := newEnv(t, Options{})
	d1, d2 := e.mkDept("D1", 1), e.mkDept("D2", 1)
	expect(t, e.post("user/create", m{"userid": "Li", "name": "Li", "mobile": "13800000001", "email": "li@example.com",
		"department": []int64{d1, d2}, "order": []int{5, 6}, "is_leader_in_dept": []int{1, 0}, "position": "dev"}), 0)
	e.mkUser("other")
	get := func() resp { return e.get("user/get", "userid", "li") }

	t.Run("60111: unknown userid", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "ghost", "name": "x"}), 60111)
	})
	t.Run("301036: new_userid on a userid that is not system-generated", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "li", "new_userid": "li2"}), 301036)
	})
	t.Run("60104: mobile of another member", func(t *testing.T) {
		expect(t, e.post("user/create", m{"userid": "m2", "name": "m", "mobile": "13800000002"}), 0)
		expect(t, e.post("user/update", m{"userid": "li", "mobile": "13800000002"}), 60104)
	})
	t.Run("60106: email of another member", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "li", "email": "other@example.com"}), 60106)
	})
	t.Run("60129: clearing both mobile and email", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "li", "mobile": "", "email": ""}), 60129)
	})
	t.Run("60132: is_leader_in_dept length differs from the new department list", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "li", "department": []int64{d1}, "is_leader_in_dept": []int{1, 1}}), 60132)
	})
	t.Run("0: absent fields are unchanged, present ones replaced (userid matched ignoring case)", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "LI", "name": "Li Si"}), 0)
		r := get()
		if r.str("name") != "Li Si" || r.str("position") != "dev" || r.str("mobile") != "13800000001" || len(r.list("department")) != 2 {
			t.Fatalf("user %v", r)
		}
	})
	t.Run("0: an empty string clears a field, unlike an absent one", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "li", "position": ""}), 0)
		if r := get(); r.str("position") != "" || r.str("name") != "Li Si" {
			t.Fatalf("user %v", r)
		}
	})
	t.Run("0: department replaces the set and keeps order of remaining ones; order alone is ignored", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "li", "order": []int{9, 9}}), 0)
		expect(t, e.post("user/update", m{"userid": "li", "department": []int64{d2}}), 0)
		r := get()
		if fmt.Sprint(r["department"], r["order"], r["is_leader_in_dept"]) != fmt.Sprintf("[%d] [6] [0]", d2) {
			t.Fatalf("department %v order %v leader %v", r["department"], r["order"], r["is_leader_in_dept"])
		}
	})
	t.Run("enable 0 gives status 2, enable 1 brings back 4 (not activated)", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "li", "enable": 0}), 0)
		if r := get(); r["status"].(float64) != StatusDisabled || r["enable"].(float64) != 0 {
			t.Fatalf("user %v", r)
		}
		expect(t, e.post("user/update", m{"userid": "li", "enable": 1}), 0)
		if r := get(); r["status"].(float64) != StatusNotActive {
			t.Fatalf("user %v", r)
		}
	})
	t.Run("enable 1 brings an activated member back to status 1", func(t *testing.T) {
		e.emu.Activate("li")
		expect(t, e.post("user/update", m{"userid": "li", "enable": 0}), 0)
		expect(t, e.post("user/update", m{"userid": "li", "enable": 1}), 0)
		if r := get(); r["status"].(float64) != StatusActive {
			t.Fatalf("user %v", r)
		}
	})
	t.Run("a mobile update of an activated member is silently ignored", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "li", "mobile": "13800000099"}), 0)
		if r := get(); r.str("mobile") != "13800000001" {
			t.Fatalf("mobile %q", r.str("mobile"))
		}
	})
	t.Run("the freed mobile and email can be reused", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "other", "email": "other2@example.com"}), 0)
		expect(t, e.post("user/update", m{"userid": "li", "email": "other@example.com"}), 0)
	})
	t.Run("direct_leader must exist; a deleted leader disappears from reads", func(t *testing.T) {
		expect(t, e.post("user/update", m{"userid": "li", "direct_leader": []string{"OTHER"}}), 0)
		if l := get().list("direct_leader"); len(l) != 1 || l[0] != "other" {
			t.Fatalf("direct_leader %v", l)
		}
		expect(t, e.get("user/delete", "userid", "other"), 0)
		if l := get().list("direct_leader"); len(l) != 0 {
			t.Fatalf("direct_leader %v, want []", l)
		}
	})
}

func TestUserDelete(t *testing.T) {
	e := newEnv(t, Options{CreatorUserID: "Founder"})
	e.mkUser("founder")
	e.mkUser("Wang")
	t.Run("301005: deleting the creator", func(t *testing.T) {
		expect(t, e.get("user/delete", "userid", "FOUNDER"), 301005)
	})
	t.Run("41009: userid missing", func(t *testing.T) { expect(t, e.get("user/delete"), 41009) })
	t.Run("0: deleted ignoring case", func(t *testing.T) { expect(t, e.get("user/delete", "userid", "wang"), 0) })
	t.Run("60111: already deleted", func(t *testing.T) { expect(t, e.get("user/delete", "userid", "Wang"), 60111) })
	t.Run("60111: user/get after delete", func(t *testing.T) { expect(t, e.get("user/get", "userid", "Wang"), 60111) })
}

func TestUserBatchdelete(t *testing.T) {
	e := newEnv(t, Options{CreatorUserID: "founder"})
	for _, u := range []string{"a", "b", "c", "founder"} {
		e.mkUser(u)
	}
	t.Run("40032: more than 200 ids", func(t *testing.T) {
		ids := make([]string, 201)
		for i := range ids {
			ids[i] = "a"
		}
		expect(t, e.post("user/batchdelete", m{"useridlist": ids}), 40032)
	})
	t.Run("60111: one unknown id fails the whole call, deleting nothing", func(t *testing.T) {
		r := e.post("user/batchdelete", m{"useridlist": []string{"a", "ghost", "b"}})
		expect(t, r, 60111)
		if !strings.Contains(r.str("errmsg"), "ghost") {
			t.Errorf("errmsg %q should name the unknown id", r.str("errmsg"))
		}
		if n := len(e.emu.State().Users); n != 4 {
			t.Fatalf("%d users left, want 4", n)
		}
	})
	t.Run("301005: the creator in the list fails the whole call", func(t *testing.T) {
		expect(t, e.post("user/batchdelete", m{"useridlist": []string{"a", "founder"}}), 301005)
	})
	t.Run("40058: empty list", func(t *testing.T) {
		expect(t, e.post("user/batchdelete", m{"useridlist": []string{}}), 40058)
	})
	t.Run("0: deletes all, case-insensitively", func(t *testing.T) {
		r := e.post("user/batchdelete", m{"useridlist": []string{"A", "b"}})
		expect(t, r, 0)
		if r.str("errmsg") != "deleted" {
			t.Errorf("errmsg %q", r.str("errmsg"))
		}
		if n := len(e.emu.State().Users); n != 2 {
			t.Fatalf("%d users left, want 2", n)
		}
	})
}

func TestUserLists(t *testing.T) {
	e := newEnv(t, Options{})
	d := e.mkDept("D", 1)
	sub := e.mkDept("Sub", d)
	expect(t, e.post("user/create", m{"userid": "low", "name": "low", "email": "low@example.com", "department": []int64{d}, "order": []int{1}}), 0)
	expect(t, e.post("user/create", m{"userid": "high", "name": "high", "email": "high@example.com", "department": []int64{d}, "order": []int{9}}), 0)
	expect(t, e.post("user/create", m{"userid": "deep", "name": "deep", "email": "deep@example.com", "department": []int64{sub}}), 0)
	names := func(r resp) string {
		var out []string
		for _, u := range r.list("userlist") {
			out = append(out, u.(map[string]any)["userid"].(string))
		}
		return strings.Join(out, ",")
	}
	ds := fmt.Sprint(d)
	t.Run("simplelist: members of one department, larger order first", func(t *testing.T) {
		if got := names(e.get("user/simplelist", "department_id", ds)); got != "high,low" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("list with fetch_child=1 includes sub-departments", func(t *testing.T) {
		if got := names(e.get("user/list", "department_id", ds, "fetch_child", "1")); got != "high,low,deep" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("60003: unknown department", func(t *testing.T) {
		expect(t, e.get("user/list", "department_id", "999"), 60003)
	})
}

func TestUserListID(t *testing.T) {
	e := newEnv(t, Options{})
	d := e.mkDept("D", 1)
	const n = 25
	for i := 0; i < n; i++ {
		deps := []int64{1}
		if i%5 == 0 {
			deps = []int64{1, d}
		}
		e.mkUser(fmt.Sprintf("user%02d", i), deps...)
	}
	wantRows := n + n/5
	for _, c := range []struct {
		name string
		body any
		want int
	}{
		{"40058: limit 0", m{"limit": 0}, 40058},
		{"40058: limit over 10000", m{"limit": 10001}, 40058},
		{"50100: a cursor that is not one of ours", m{"cursor": "garbage!!", "limit": 10}, 50100},
		{"50100: a base64 cursor of the wrong shape", m{"cursor": "Zm9vYmFy", "limit": 10}, 50100},
	} {
		t.Run(c.name, func(t *testing.T) { expect(t, e.post("user/list_id", c.body), c.want) })
	}
	for _, limit := range []int{1, 4, 7, 100} {
		t.Run(fmt.Sprintf("pages of %d: one row per (user, department), every row once, empty next_cursor at the end", limit), func(t *testing.T) {
			seen := map[string]bool{}
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > wantRows+1 {
					t.Fatal("paging does not end")
				}
				body := m{"limit": limit}
				if cursor != "" {
					body["cursor"] = cursor
				}
				r := e.post("user/list_id", body)
				expect(t, r, 0)
				rows := r.list("dept_user")
				if len(rows) > limit {
					t.Fatalf("%d rows over limit %d", len(rows), limit)
				}
				for _, row := range rows {
					x := row.(map[string]any)
					k := fmt.Sprint(x["userid"], "/", x["department"])
					if seen[k] {
						t.Fatalf("row %s twice", k)
					}
					seen[k] = true
				}
				cursor = r.str("next_cursor")
				if cursor == "" {
					break
				}
			}
			if len(seen) != wantRows {
				t.Fatalf("%d rows, want %d", len(seen), wantRows)
			}
		})
	}
	t.Run("a cursor survives the deletion of the user it points at", func(t *testing.T) {
		r := e.post("user/list_id", m{"limit": 3}) // user00 has two rows, user01 one
		cursor := r.str("next_cursor")             // points at user02
		expect(t, e.get("user/delete", "userid", "user02"), 0)
		r = e.post("user/list_id", m{"limit": 1, "cursor": cursor})
		expect(t, r, 0)
		if got := r.list("dept_user")[0].(map[string]any)["userid"]; got != "user03" {
			t.Fatalf("next row for %v, want user03", got)
		}
	})
}

func TestUserLookups(t *testing.T) {
	e := newEnv(t, Options{})
	expect(t, e.post("user/create", m{"userid": "Zhao", "name": "Zhao", "mobile": "+86 13800000001",
		"email": "zhao@example.com", "biz_mail": "zhao@corp.example.com"}), 0)
	for _, c := range []struct {
		name, api string
		body      m
		want      int
	}{
		{"0: getuserid by mobile without +86", "user/getuserid", m{"mobile": "13800000001"}, 0},
		{"46004: getuserid for an unknown mobile", "user/getuserid", m{"mobile": "13900000000"}, 46004},
		{"40058: getuserid without mobile", "user/getuserid", m{}, 40058},
		{"0: get_userid_by_email, company mail by default", "user/get_userid_by_email", m{"email": "ZHAO@corp.example.com"}, 0},
		{"0: get_userid_by_email, personal mail with email_type 2", "user/get_userid_by_email", m{"email": "zhao@example.com", "email_type": 2}, 0},
		{"46004: personal mail looked up as company mail", "user/get_userid_by_email", m{"email": "zhao@example.com"}, 46004},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.post(c.api, c.body)
			expect(t, r, c.want)
			if c.want == 0 && r.str("userid") != "Zhao" {
				t.Fatalf("userid %q", r.str("userid"))
			}
		})
	}
}
