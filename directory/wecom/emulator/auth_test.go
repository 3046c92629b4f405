package emulator

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestGettoken(t *testing.T) {
	e := newEnv(t, Options{})
	cases := []struct {
		name  string
		query string
		want  int
	}{
		{"41004: corpsecret missing is reported before a missing corpid", "", 41004},
		{"41004: corpsecret missing with a corpid", "corpid=" + testCorp, 41004},
		{"41002: corpid missing", "corpsecret=" + editSecret, 41002},
		{"40013: wrong corpid", "corpid=ww000fake&corpsecret=" + editSecret, 40013},
		{"40001: wrong secret", "corpid=" + testCorp + "&corpsecret=nope", 40001},
		{"0: right corpid and secret", "corpid=" + testCorp + "&corpsecret=" + editSecret, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.raw(http.MethodGet, "/cgi-bin/gettoken?"+c.query, nil, "")
			expect(t, r, c.want)
			if c.want == 0 {
				tok := r.str("access_token")
				if tok == "" || len(tok) > 512 {
					t.Errorf("access_token length %d, want 1..512", len(tok))
				}
				if r["expires_in"].(float64) != 7200 {
					t.Errorf("expires_in %v, want 7200", r["expires_in"])
				}
				if r.str("errmsg") != "ok" {
					t.Errorf("errmsg %q, want ok", r.str("errmsg"))
				}
			}
		})
	}
}

func TestTokens(t *testing.T) {
	t.Run("each secret gets its own token", func(t *testing.T) {
		e := newEnv(t, Options{})
		if a, b := e.tokenFor(editSecret), e.tokenFor(readSecret); a == b {
			t.Fatal("two secrets share a token")
		}
	})
	t.Run("41001: a token in a header or the body is ignored", func(t *testing.T) {
		e := newEnv(t, Options{})
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/cgi-bin/user/create",
			strings.NewReader(`{"access_token":"`+e.token+`","userid":"a"}`))
		req.Header.Set("Authorization", "Bearer "+e.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(b), `"errcode":41001`) {
			t.Fatalf("got %s, want 41001", b)
		}
	})
	t.Run("40014: an unknown token, checked before body fields", func(t *testing.T) {
		e := newEnv(t, Options{})
		expect(t, e.postWith("bogus", "user/create", "{}"), 40014)
	})
	t.Run("42001: ExpireTokens makes every issued token expired, gettoken issues a new one", func(t *testing.T) {
		e := newEnv(t, Options{})
		old := e.token
		e.emu.ExpireTokens()
		expect(t, e.getWith(old, "department/simplelist"), 42001)
		fresh := e.tokenFor(editSecret)
		if fresh == old {
			t.Fatal("gettoken returned the expired token")
		}
		expect(t, e.getWith(fresh, "department/simplelist"), 0)
	})
	t.Run("40014: InvalidateTokens makes every issued token invalid", func(t *testing.T) {
		e := newEnv(t, Options{})
		old := e.token
		e.emu.InvalidateTokens()
		expect(t, e.getWith(old, "department/simplelist"), 40014)
		expect(t, e.getWith(e.tokenFor(editSecret), "department/simplelist"), 0)
	})
	t.Run("42001: a token past its TTL", func(t *testing.T) {
		e := newEnv(t, Options{TokenTTL: time.Hour})
		e.clock.Advance(59 * time.Minute)
		expect(t, e.get("department/simplelist"), 0)
		e.clock.Advance(time.Minute)
		expect(t, e.get("department/simplelist"), 42001)
	})
	t.Run("a repeat gettoken within the TTL returns the same token with the remaining lifetime", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.clock.Advance(100 * time.Second)
		r := e.raw(http.MethodGet, "/cgi-bin/gettoken?corpid="+testCorp+"&corpsecret="+editSecret, nil, "")
		if r.str("access_token") != e.token || r["expires_in"].(float64) != 7100 {
			t.Fatalf("got %v", r)
		}
	})
}

func TestRoles(t *testing.T) {
	e := newEnv(t, Options{})
	read, app := e.tokenFor(readSecret), e.tokenFor(appSecret)
	for _, c := range []struct {
		name string
		tok  string
		api  string
		body any
		want int
	}{
		{"48002: department/create with the read-only Contacts-Sync secret", read, "department/create", m{"name": "x", "parentid": 1}, 48002},
		{"48002: user/create with an app secret", app, "user/create", m{"userid": "a", "name": "a", "mobile": "13800000000"}, 48002},
		{"48002: batch/syncuser with the read-only secret", read, "batch/syncuser", m{"media_id": "x"}, 48002},
		{"48002: user/list_id with an app secret (Contacts-Sync only)", app, "user/list_id", m{}, 48002},
		{"0: user/list_id with the read-only Contacts-Sync secret", read, "user/list_id", m{}, 0},
	} {
		t.Run(c.name, func(t *testing.T) { expect(t, e.postWith(c.tok, c.api, c.body), c.want) })
	}
	t.Run("48002: department/delete (a GET write) with the read-only secret", func(t *testing.T) {
		expect(t, e.getWith(read, "department/delete", "id", "2"), 48002)
	})
}

func TestRestrictedReads(t *testing.T) {
	e := newEnv(t, Options{RestrictedReads: true})
	e.mkUser("zhangsan")
	app := e.tokenFor(appSecret)
	for _, c := range []struct {
		api string
		kv  []string
	}{
		{"user/get", []string{"userid", "zhangsan"}},
		{"user/list", []string{"department_id", "1"}},
		{"user/simplelist", []string{"department_id", "1"}},
		{"department/list", nil},
		{"department/get", []string{"id", "1"}},
	} {
		t.Run("48009: "+c.api+" with the Contacts-Sync secret from a new IP", func(t *testing.T) {
			r := e.get(c.api, c.kv...)
			expect(t, r, 48009)
			if !strings.HasPrefix(r.str("errmsg"), "api forbidden for contact assistant") {
				t.Errorf("errmsg %q", r.str("errmsg"))
			}
		})
		t.Run("0: "+c.api+" with an app secret", func(t *testing.T) {
			expect(t, e.getWith(app, c.api, c.kv...), 0)
		})
	}
	t.Run("0: department/simplelist and user/list_id stay open", func(t *testing.T) {
		expect(t, e.get("department/simplelist"), 0)
		r := e.post("user/list_id", m{"limit": 10})
		expect(t, r, 0)
		if len(r.list("dept_user")) != 1 {
			t.Fatalf("dept_user %v", r["dept_user"])
		}
	})
}

func TestTrustedIPs(t *testing.T) {
	t.Run("60020: a caller outside the trusted IPs", func(t *testing.T) {
		e := newEnv(t, Options{TrustedIPs: []string{"192.0.2.1"}})
		expect(t, e.get("department/simplelist"), 60020)
	})
	t.Run("0: a trusted caller", func(t *testing.T) {
		e := newEnv(t, Options{TrustedIPs: []string{"127.0.0.1"}})
		expect(t, e.get("department/simplelist"), 0)
	})
}

func TestTransport(t *testing.T) {
	e := newEnv(t, Options{})
	t.Run("404 with an empty body for an unknown path", func(t *testing.T) {
		for _, p := range []string{"/cgi-bin/user/nope", "/cgi-bin/", "/elsewhere", "/emulator/nope"} {
			res, err := http.Get(e.srv.URL + p + "?access_token=" + e.token)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound || len(b) != 0 {
				t.Errorf("%s: HTTP %d %q, want 404 and no body", p, res.StatusCode, b)
			}
		}
	})
	t.Run("errmsg carries the hint, caller ip and more-info link", func(t *testing.T) {
		r := e.getWith("bogus", "department/simplelist")
		re := regexp.MustCompile(`^invalid access_token, hint: \[[^\]]+\], from ip: 127\.0\.0\.1, more info at https://open\.work\.weixin\.qq\.com/devtool/query\?e=40014$`)
		if !re.MatchString(r.str("errmsg")) {
			t.Fatalf("errmsg %q", r.str("errmsg"))
		}
	})
	t.Run("error bodies keep the endpoint's empty array defaults", func(t *testing.T) {
		r := e.getWith("bogus", "user/get", "userid", "x")
		for _, k := range []string{"department", "order", "is_leader_in_dept", "direct_leader"} {
			if l, ok := r[k].([]any); !ok || len(l) != 0 {
				t.Errorf("user/get error body %s = %v, want []", k, r[k])
			}
		}
		if l, ok := e.postWith("bogus", "user/list_id", m{})["dept_user"].([]any); !ok || len(l) != 0 {
			t.Error("user/list_id error body lacks dept_user: []")
		}
		if l, ok := e.getWith("bogus", "department/simplelist")["department_id"].([]any); !ok || len(l) != 0 {
			t.Error("department/simplelist error body lacks department_id: []")
		}
	})
	t.Run("GET on a POST API reports the fields as missing: 40003 for userid", func(t *testing.T) {
		expect(t, e.get("user/create"), 40003)
	})
	t.Run("40058: a body that is not JSON", func(t *testing.T) {
		expect(t, e.post("user/create", "{not json"), 40058)
	})
	t.Run("40066: department sent as a string", func(t *testing.T) {
		r := e.post("user/create", `{"userid":"a","name":"a","mobile":"13800000000","department":"[1, 2]"}`)
		expect(t, r, 40066)
		if !strings.HasPrefix(r.str("errmsg"), "Warning: wrong json format. invalid party list") {
			t.Errorf("errmsg %q", r.str("errmsg"))
		}
	})
	t.Run("success bodies say created, updated, deleted or ok", func(t *testing.T) {
		for _, c := range []struct {
			r    resp
			want string
		}{
			{e.post("department/create", m{"name": "D", "parentid": 1, "id": 50}), "created"},
			{e.post("department/update", m{"id": 50, "name": "D2"}), "updated"},
			{e.get("department/get", "id", "50"), "ok"},
			{e.get("department/delete", "id", "50"), "deleted"},
		} {
			expect(t, c.r, 0)
			if c.r.str("errmsg") != c.want {
				t.Errorf("errmsg %q, want %q", c.r.str("errmsg"), c.want)
			}
		}
	})
	t.Run("responses are raw UTF-8 without HTML escaping", func(t *testing.T) {
		expect(t, e.post("user/create", m{"userid": "html", "name": "研发", "mobile": "13800000099", "position": "<R&D>"}), 0)
		res, err := http.Get(e.srv.URL + "/cgi-bin/user/get?userid=html&access_token=" + e.token)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), `"研发"`) || !strings.Contains(string(b), `"<R&D>"`) {
			t.Fatalf("body %s", b)
		}
	})
}

func TestUnicodeEscapes(t *testing.T) {
	body := `{"name":"\u7814\u53d1","parentid":1}`
	t.Run("40033: a \\uXXXX escape when RejectUnicodeEscapes is set", func(t *testing.T) {
		e := newEnv(t, Options{RejectUnicodeEscapes: true})
		expect(t, e.post("department/create", body), 40033)
		// An escaped backslash followed by u is not a \u escape.
		expect(t, e.post("user/create", `{"userid":"a","name":"a","mobile":"13800000000","position":"a\\u"}`), 0)
	})
	t.Run("0: escapes are accepted by default (UNCONFIRMED rule off)", func(t *testing.T) {
		e := newEnv(t, Options{})
		expect(t, e.post("department/create", body), 0)
		if got := e.emu.State().Departments[1].Name; got != "研发" {
			t.Fatalf("name %q", got)
		}
	})
}

func TestAppScope(t *testing.T) {
	const scoped = "scoped-app"
	e := newEnv(t, Options{Secrets: []SecretSpec{
		{Secret: editSecret, Role: RoleContactsSyncEdit},
		{Secret: scoped, Role: RoleApp, Scope: []int64{2}, StripSensitive: true},
	}})
	in := e.mkDept("In", 1, "id", 2)
	inChild := e.mkDept("InChild", in)
	out := e.mkDept("Out", 1)
	expect(t, e.post("user/create", m{"userid": "both", "name": "Both", "mobile": "13800000001", "email": "both@example.com",
		"gender": "2", "department": []int64{out, inChild}, "main_department": out}), 0)
	e.mkUser("outsider", out)
	tok := e.tokenFor(scoped)
	ids := func(r resp, key string) string {
		var s []string
		for _, x := range r.list(key) {
			s = append(s, fmt.Sprint(x.(map[string]any)["id"]))
		}
		return strings.Join(s, ",")
	}
	t.Run("department lists show only the scope's subtrees", func(t *testing.T) {
		if got := ids(e.getWith(tok, "department/simplelist"), "department_id"); got != fmt.Sprintf("%d,%d", in, inChild) {
			t.Fatalf("ids %s", got)
		}
	})
	for _, c := range []struct {
		name, api string
		kv        []string
	}{
		{"60011: department/get outside the scope", "department/get", []string{"id", fmt.Sprint(out)}},
		{"60011: department/list of a department outside the scope", "department/list", []string{"id", fmt.Sprint(out)}},
		{"60011: user/list of a department outside the scope", "user/list", []string{"department_id", fmt.Sprint(out)}},
		{"60011: user/get of a member outside the scope", "user/get", []string{"userid", "outsider"}},
	} {
		t.Run(c.name, func(t *testing.T) { expect(t, e.getWith(tok, c.api, c.kv...), 60011) })
	}
	t.Run("a member in scope shows only visible departments, without sensitive fields", func(t *testing.T) {
		r := e.getWith(tok, "user/get", "userid", "both")
		expect(t, r, 0)
		if fmt.Sprint(r["department"]) != fmt.Sprintf("[%d]", inChild) || r["main_department"].(float64) != 0 {
			t.Fatalf("departments %v main %v", r["department"], r["main_department"])
		}
		if r.str("mobile") != "" || r.str("email") != "" || r.str("gender") != "0" || r.str("name") != "Both" {
			t.Fatalf("user %v", r)
		}
	})
	t.Run("Contacts-Sync secrets can not carry a scope", func(t *testing.T) {
		if _, err := New(Options{Secrets: []SecretSpec{{Secret: "s", Role: RoleContactsSyncEdit, Scope: []int64{2}}}}, nil); err == nil {
			t.Fatal("accepted")
		}
	})
}
