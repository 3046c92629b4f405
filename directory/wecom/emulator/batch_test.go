package emulator

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const userHeader = "姓名,帐号,手机号,邮箱,所在部门,职位,性别,是否部门内领导,排序,别名,地址,座机,禁用,禁用项说明：(0-启用;1-禁用)\n"

func TestMediaUpload(t *testing.T) {
	e := newEnv(t, Options{MediaTTL: time.Hour})
	for _, c := range []struct {
		name, typ, field, file string
		data                   string
		want                   int
	}{
		{"40004: type parameter not a media type", "doc", "media", "a.csv", "hello world", 40004},
		{"44001: no part named media", "file", "file", "a.csv", "hello world", 44001},
		{"44001: empty file", "file", "media", "a.csv", "", 44001},
		{"40006: a file of 5 bytes", "file", "media", "a.csv", "12345", 40006},
		{"40005: an image that is not jpg or png", "image", "media", "a.txt", "not an image", 40005},
		{"0: a 6-byte file", "file", "media", "a.csv", "123456", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.upload(c.typ, c.field, c.file, []byte(c.data))
			expect(t, r, c.want)
			if c.want == 0 {
				if r.str("media_id") == "" || r.str("type") != "file" || r.str("created_at") == "" || r.str("errmsg") != "" {
					t.Fatalf("response %v", r)
				}
			}
		})
	}
	t.Run("40007: a media_id past its TTL", func(t *testing.T) {
		id := e.upload("file", "media", "u.csv", []byte(userHeader+"张三,zs,13800000000,,1,,,,,,,,0\n")).str("media_id")
		e.clock.Advance(time.Hour)
		expect(t, e.post("batch/syncuser", m{"media_id": id}), 40007)
	})
}

// submit uploads a CSV and starts an import job, returning the response.
func (e *env) submit(api, csv string) resp {
	e.t.Helper()
	up := e.upload("file", "media", "import.csv", []byte(csv))
	expect(e.t, up, 0)
	return e.post(api, m{"media_id": up.str("media_id")})
}

func (e *env) result(jobid string) resp {
	e.t.Helper()
	return e.get("batch/getresult", "jobid", jobid)
}

func TestBatchJobLifecycle(t *testing.T) {
	e := newEnv(t, Options{JobDelay: 3 * time.Second})
	csv := userHeader + "张三,zs,13800000000,,1,,男,,,,,,0,\n"
	r := e.submit("batch/syncuser", csv)
	expect(t, r, 0)
	jobid := r.str("jobid")
	if jobid == "" || len(jobid) > 64 {
		t.Fatalf("jobid %q", jobid)
	}
	t.Run("status 1 right after submission, no effects yet", func(t *testing.T) {
		r := e.result(jobid)
		expect(t, r, 0)
		if r["status"].(float64) != 1 || r.str("type") != "sync_user" || r["total"].(float64) != 1 || len(r.list("result")) != 0 {
			t.Fatalf("result %v", r)
		}
		if len(e.emu.State().Users) != 0 {
			t.Fatal("job applied early")
		}
	})
	t.Run("302008: another import while one runs", func(t *testing.T) {
		expect(t, e.submit("batch/syncuser", csv), 302008)
	})
	t.Run("status 2 while running", func(t *testing.T) {
		e.clock.Advance(1500 * time.Millisecond)
		r := e.result(jobid)
		if r["status"].(float64) != 2 || r["percentage"].(float64) != 50 {
			t.Fatalf("result %v", r)
		}
	})
	t.Run("status 3 with per-row results once done", func(t *testing.T) {
		e.clock.Advance(1500 * time.Millisecond)
		r := e.result(jobid)
		if r["status"].(float64) != 3 || r["percentage"].(float64) != 100 {
			t.Fatalf("result %v", r)
		}
		rows := r.list("result")
		if len(rows) != 1 || rows[0].(map[string]any)["userid"] != "zs" || rows[0].(map[string]any)["errcode"].(float64) != 0 {
			t.Fatalf("rows %v", rows)
		}
		if g := e.get("user/get", "userid", "zs"); g.str("gender") != "1" || g.str("name") != "张三" {
			t.Fatalf("user %v", g)
		}
	})
	t.Run("40088: unknown jobid", func(t *testing.T) {
		expect(t, e.result("jobid_nope"), 40088)
	})
	t.Run("40089: only the last 5 results are kept", func(t *testing.T) {
		var ids []string
		for i := 0; i < 5; i++ {
			r := e.submit("batch/syncuser", csv)
			expect(t, r, 0)
			ids = append(ids, r.str("jobid"))
			e.clock.Advance(3 * time.Second)
		}
		expect(t, e.result(jobid), 40089)
		expect(t, e.result(ids[0]), 0)
	})
}

func TestBatchSyncuserRows(t *testing.T) {
	e := newEnv(t, Options{JobDelay: -1, EmptyStringKeepsField: true})
	d := e.mkDept("D", 1)
	expect(t, e.post("user/create", m{"userid": "Old", "name": "Old", "mobile": "13800000001", "position": "keep me"}), 0)
	// UTF-8 with a BOM, 禁用 = 1 meaning disabled.
	csv := "\ufeff" + userHeader +
		fmt.Sprintf("新人,new1,13800000002,,%d;1,工程师,女,1;0,10;20,,,,0,\n", d) +
		"撞号,dup,13800000001,,1,,,,,,,,0,\n" +
		"坏号,_bad,13800000003,,1,,,,,,,,0,\n" +
		"老人,OLD,,,,,,,,,,,1,\n" +
		"无部门,nodept,13800000004,,999,,,,,,,,0,\n"
	r := e.submit("batch/syncuser", csv)
	expect(t, r, 0)
	res := e.result(r.str("jobid"))
	if res["status"].(float64) != 3 {
		t.Fatalf("result %v", res)
	}
	rows := res.list("result")
	want := []struct {
		userid string
		code   int
	}{{"new1", 0}, {"dup", 60104}, {"_bad", 40003}, {"OLD", 0}, {"nodept", 60003}}
	if len(rows) != len(want) {
		t.Fatalf("rows %v", rows)
	}
	for i, w := range want {
		row := rows[i].(map[string]any)
		t.Run(fmt.Sprintf("row %d (%s): errcode %d", i+1, w.userid, w.code), func(t *testing.T) {
			if row["userid"] != w.userid || int(row["errcode"].(float64)) != w.code {
				t.Fatalf("row %v", row)
			}
		})
	}
	t.Run("created rows follow the file: departments, order, leader flags", func(t *testing.T) {
		g := e.get("user/get", "userid", "new1")
		if fmt.Sprintf("%v %v %v %v", g["department"], g["order"], g["is_leader_in_dept"], g.str("gender")) != fmt.Sprintf("[%d 1] [10 20] [1 0] 2", d) {
			t.Fatalf("user %v", g)
		}
	})
	t.Run("禁用=1 disables (status 2); with EmptyStringKeepsField empty cells stay unchanged", func(t *testing.T) {
		g := e.get("user/get", "userid", "old")
		if g["status"].(float64) != StatusDisabled || g.str("name") != "老人" || g.str("position") != "keep me" || g.str("mobile") != "13800000001" {
			t.Fatalf("user %v", g)
		}
	})
}

// TestBatchSyncuserColumns: syncuser updates the columns present in the
// file (wecom-api.md §5.2), so for an existing member an empty cell in a
// present column clears that field (the default, stricter reading) and an
// absent column leaves it alone.
func TestBatchSyncuserColumns(t *testing.T) {
	for _, c := range []struct {
		name, csv  string
		wantCode   int
		wantPos    string
		wantMobile string
		wantAlias  string
	}{
		{"a column absent from the file is left as is", "帐号,职位\nold,新职位\n", 0, "新职位", "13800000001", "小明"},
		{"an empty cell in a present column clears the field", "帐号,职位,别名\nold,新职位,\n", 0, "新职位", "13800000001", ""},
		{"60129: an empty 手机号 cell clears the only contact", "帐号,手机号\nold,\n", 60129, "keep me", "13800000001", "小明"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Options{JobDelay: -1})
			expect(t, e.post("user/create", m{"userid": "old", "name": "Old", "mobile": "13800000001", "position": "keep me", "alias": "小明"}), 0)
			res := e.result(e.submit("batch/syncuser", c.csv).str("jobid"))
			rows := res.list("result")
			if len(rows) != 1 || int(rows[0].(map[string]any)["errcode"].(float64)) != c.wantCode {
				t.Fatalf("rows %v", rows)
			}
			g := e.get("user/get", "userid", "old")
			if g.str("position") != c.wantPos || g.str("mobile") != c.wantMobile || g.str("alias") != c.wantAlias || g.str("name") != "Old" {
				t.Fatalf("user %v", g)
			}
		})
	}
}

// TestBatchDirectLeaderColumn: 直属上级 sets direct_leader only with
// ImportDirectLeaderColumn; otherwise it is an unknown column.
func TestBatchDirectLeaderColumn(t *testing.T) {
	for _, c := range []struct {
		name string
		on   bool
		want string
	}{
		{"ignored by default (the documented template has no such column)", false, "[]"},
		{"sets direct_leader with ImportDirectLeaderColumn", true, "[boss]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Options{JobDelay: -1, ImportDirectLeaderColumn: c.on})
			csv := "姓名,帐号,手机号,所在部门,直属上级\n老板,boss,13800000001,1,\n员工,staff,13800000002,1,boss\n"
			res := e.result(e.submit("batch/syncuser", csv).str("jobid"))
			for _, row := range res.list("result") {
				if row.(map[string]any)["errcode"].(float64) != 0 {
					t.Fatalf("row %v", row)
				}
			}
			if got := fmt.Sprint(e.get("user/get", "userid", "staff")["direct_leader"]); got != c.want {
				t.Fatalf("direct_leader %s, want %s", got, c.want)
			}
		})
	}
}

// TestBatchJobSpeed: with JobRowsPerSecond a job of n rows takes JobDelay +
// n / JobRowsPerSecond on the emulator's clock.
func TestBatchJobSpeed(t *testing.T) {
	e := newEnv(t, Options{JobDelay: time.Second, JobRowsPerSecond: 10})
	var csv strings.Builder
	csv.WriteString("姓名,帐号,手机号,所在部门\n")
	for i := 0; i < 40; i++ { // 1 s + 40 rows / 10 per second = 5 s
		fmt.Fprintf(&csv, "n,u%02d,138000000%02d,1\n", i, i)
	}
	id := e.submit("batch/syncuser", csv.String()).str("jobid")
	for _, c := range []struct {
		after      time.Duration
		wantStatus float64
	}{{2500 * time.Millisecond, 2}, {2499 * time.Millisecond, 2}, {time.Millisecond, 3}} {
		e.clock.Advance(c.after)
		if r := e.result(id); r["status"].(float64) != c.wantStatus {
			t.Fatalf("after +%s: %v", c.after, r)
		}
	}
}

func TestBatchFileErrors(t *testing.T) {
	e := newEnv(t, Options{JobDelay: -1})
	for _, c := range []struct {
		name, api, csv string
		want           int
	}{
		{"40092: no header row with 帐号", "batch/syncuser", "a,b,c\n1,2,3\n", 40092},
		{"40092: header only", "batch/syncuser", userHeader, 40092},
		{"40092: replaceuser without 所在部门 column", "batch/replaceuser", "姓名,帐号,手机号\n张三,zs,13800000000\n", 40092},
		{"302003: the same userid twice (ignoring case)", "batch/syncuser", userHeader + "a,zs,13800000000,,1\nb,ZS,13800000001,,1\n", 302003},
		{"302006: the same partyid twice", "batch/replaceparty", "部门名称,部门ID,父部门ID,排序\nA,2,1,\nB,2,1,\n", 302006},
		{"302007: sibling departments with the same name", "batch/replaceparty", "部门名称,部门ID,父部门ID,排序\nA,2,1,\nA,3,1,\n", 302007},
		{"302004: a department whose parent is not in the file", "batch/replaceparty", "部门名称,部门ID,父部门ID,排序\nA,2,77,\n", 302004},
		{"302004: a cycle", "batch/replaceparty", "部门名称,部门ID,父部门ID,排序\nA,2,3,\nB,3,2,\n", 302004},
		{"302004: an empty name", "batch/replaceparty", "部门名称,部门ID,父部门ID,排序\n,2,1,\n", 302004},
	} {
		t.Run(c.name, func(t *testing.T) { expect(t, e.submit(c.api, c.csv), c.want) })
	}
	t.Run("41006: media_id missing", func(t *testing.T) { expect(t, e.post("batch/syncuser", m{}), 41006) })
	t.Run("40007: unknown media_id", func(t *testing.T) { expect(t, e.post("batch/syncuser", m{"media_id": "nope"}), 40007) })
}

func TestBatchReplaceuser(t *testing.T) {
	t.Run("45026: deleting more than 80% of a small corp", func(t *testing.T) {
		e := newEnv(t, Options{JobDelay: -1})
		for i := 0; i < 10; i++ {
			e.mkUser(fmt.Sprintf("u%d", i))
		}
		expect(t, e.submit("batch/replaceuser", userHeader+"a,u0,,u0@example.com,1\n"), 45026)
		if n := len(e.emu.State().Users); n != 10 {
			t.Fatalf("%d users, want 10", n)
		}
	})
	t.Run("45026: deleting more than 50 people and more than 20%", func(t *testing.T) {
		e := newEnv(t, Options{JobDelay: -1})
		var keep strings.Builder
		keep.WriteString(userHeader)
		for i := 0; i < 260; i++ {
			e.mkUser(fmt.Sprintf("u%03d", i))
			if i < 200 { // deletes 60 of 260 = 23%
				fmt.Fprintf(&keep, "n,u%03d,,u%03d@example.com,1\n", i, i)
			}
		}
		expect(t, e.submit("batch/replaceuser", keep.String()), 45026)
	})
	t.Run("0: members missing from the file are deleted, the creator kept", func(t *testing.T) {
		e := newEnv(t, Options{JobDelay: -1, CreatorUserID: "boss"})
		for _, u := range []string{"boss", "a", "b", "c", "d", "gone"} {
			e.mkUser(u)
		}
		r := e.submit("batch/replaceuser", userHeader+"A,a,,a@example.com,1\nB,b,,b@example.com,1\nC,c,,c@example.com,1\nD,d,,d@example.com,1\nN,new,,new@example.com,1\n")
		expect(t, r, 0)
		res := e.result(r.str("jobid"))
		if res.str("type") != "replace_user" || len(res.list("result")) != 5 {
			t.Fatalf("result %v", res)
		}
		var ids []string
		for _, u := range e.emu.State().Users {
			ids = append(ids, u.UserID)
		}
		if got := strings.Join(ids, ","); got != "a,b,boss,c,d,new" {
			t.Fatalf("users %s", got)
		}
	})
}

func TestBatchReplaceparty(t *testing.T) {
	e := newEnv(t, Options{JobDelay: -1})
	a := e.mkDept("A", 1)
	b := e.mkDept("B", 1)
	emptyGone := e.mkDept("EmptyGone", a)
	busyGone := e.mkDept("BusyGone", 1)
	e.mkUser("member", busyGone)
	csv := "部门名称,部门ID,父部门ID,排序\n" +
		"Corp,1,0,\n" +
		fmt.Sprintf("A renamed,%d,1,\n", a) +
		fmt.Sprintf("B,%d,%d,50\n", b, a) +
		"New,500,1,3\n" +
		"Bad|Name,501,1,\n"
	r := e.submit("batch/replaceparty", csv)
	expect(t, r, 0)
	res := e.result(r.str("jobid"))
	if res.str("type") != "replace_party" {
		t.Fatalf("result %v", res)
	}
	got := map[float64]map[string]any{}
	for _, row := range res.list("result") {
		x := row.(map[string]any)
		got[x["partyid"].(float64)] = x
	}
	for _, c := range []struct {
		name   string
		id     int64
		action int
		code   int
	}{
		{"action 2: renamed", a, actionRenamed, 0},
		{"action 4|8: moved and re-ordered", b, actionMoved | actionReordered, 0},
		{"action 1: created", 500, actionCreated, 0},
		{"60009: a row with a forbidden character fails alone", 501, 0, 60009},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := got[float64(c.id)]
			if x == nil || int(x["action"].(float64)) != c.action || int(x["errcode"].(float64)) != c.code {
				t.Fatalf("row %v", x)
			}
		})
	}
	ids := map[int64]bool{}
	for _, d := range e.emu.State().Departments {
		ids[d.ID] = true
	}
	t.Run("departments missing from the file are deleted only when empty", func(t *testing.T) {
		if ids[emptyGone] || !ids[busyGone] {
			t.Fatalf("departments %v: want %d deleted and %d kept", ids, emptyGone, busyGone)
		}
	})
}

// TestImportTemplates loads the sample files in testdata (UTF-8 with a BOM,
// the community template headers) the way an admin would: replaceparty,
// then syncuser, polling getresult.
func TestImportTemplates(t *testing.T) {
	e := newEnv(t, Options{JobDelay: time.Second})
	run := func(api, file string) resp {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		r := e.submit(api, string(data))
		expect(t, r, 0)
		e.clock.Advance(time.Second)
		res := e.result(r.str("jobid"))
		if res["status"].(float64) != 3 {
			t.Fatalf("%s: %v", api, res)
		}
		for _, row := range res.list("result") {
			if c := row.(map[string]any)["errcode"].(float64); c != 0 {
				t.Errorf("%s: row %v", api, row)
			}
		}
		return res
	}
	run("batch/replaceparty", "departments.csv")
	run("batch/syncuser", "users.csv")
	st := e.emu.State()
	if len(st.Departments) != 5 || st.Departments[0].Name != "示例公司" || st.Departments[2].ParentID != 2 {
		t.Fatalf("departments %+v", st.Departments)
	}
	if len(st.Users) != 4 {
		t.Fatalf("users %+v", st.Users)
	}
	if d := e.get("department/get", "id", "2")["department"].(map[string]any); fmt.Sprint(d["department_leader"]) != "[zhangsan]" {
		t.Errorf("研发部 leaders %v", d["department_leader"])
	}
	if u := e.get("user/get", "userid", "zhaoliu"); u["status"].(float64) != StatusDisabled {
		t.Errorf("赵六 (禁用=1) status %v", u["status"])
	}
	if u := e.get("user/get", "userid", "lisi"); u.str("gender") != "2" || u.str("telephone") != "010-12345678" {
		t.Errorf("李四 %v", u)
	}
}

func TestAJobsResultOutlivesTheClientThatSubmittedIt(t *testing.T) {
	for _, c := range []struct {
		name  string
		ttl   time.Duration
		after time.Duration // from the job's end to the read
		want  int
	}{
		{"kept, with no TTL, a day later", 0, 24 * time.Hour, 0},
		{"kept within JobResultTTL", time.Hour, 59 * time.Minute, 0},
		{"40089 once JobResultTTL has passed", time.Hour, time.Hour, 40089},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Options{JobDelay: time.Minute, JobResultTTL: c.ttl, TokenTTL: time.Hour})
			r := e.submit("batch/syncuser", userHeader+"张三,zs,13800000000,,1,,男,,,,,,0,\n")
			expect(t, r, 0)
			jobid := r.str("jobid")
			// The submitting process is gone and its token expired: a new
			// process, with a token of its own, reads the job.
			e.clock.Advance(time.Minute + c.after)
			old := e.token
			e.token = e.tokenFor(editSecret)
			if e.token == old {
				t.Fatal("the expired token was handed out again")
			}
			res := e.result(jobid)
			expect(t, res, c.want)
			if c.want == 0 {
				rows := res.list("result")
				if res["status"].(float64) != 3 || len(rows) != 1 || rows[0].(map[string]any)["userid"] != "zs" {
					t.Fatalf("result %v", res)
				}
			}
		})
	}
}
