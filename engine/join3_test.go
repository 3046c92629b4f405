package engine

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/testservers"
)

// hrAPIServer serves people as a cursor-paged HR API (two per page); down
// makes every page answer HTTP 500.
func hrAPIServer(t *testing.T, people func() []map[string]any, down *atomic.Bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, `{"code":500,"msg":"maintenance"}`, http.StatusInternalServerError)
			return
		}
		all := people()
		from := 0
		fmt.Sscan(r.URL.Query().Get("page_token"), &from)
		to := min(from+2, len(all))
		data := map[string]any{"items": all[from:to], "has_more": to < len(all), "total": len(all)}
		if to < len(all) {
			data["page_token"] = fmt.Sprint(to)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "data": data})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestAJoinOfCSVLDAPAndHTTP joins the HR export (primary), a real slapd
// (account names and mail) and an HR HTTP API (titles), over three days:
// a first sync, a day with a hire, a leaver and the HTTP API down (nothing
// destroyed, no title cleared), and the day it is back.
func TestAJoinOfCSVLDAPAndHTTP(t *testing.T) {
	const base = "ou=people,dc=example,dc=test"
	var seed testservers.LDIF
	for i := 1; i <= 6; i++ {
		seed.Entry(fmt.Sprintf("uid=user%02d,%s", i, base), "objectClass", "inetOrgPerson", "uid", fmt.Sprintf("user%02d", i),
			"cn", fmt.Sprintf("AD %d", i), "sn", "x", "mail", fmt.Sprintf("user%02d@corp.example.com", i), "employeeNumber", fmt.Sprintf("E%03d", i))
	}
	s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: seed.String()})
	emu, err := emulator.New(emulator.Options{CorpID: testCorp, RestrictedReads: true,
		Secrets: []emulator.SecretSpec{{Secret: testSecret, Role: emulator.RoleContactsSyncEdit}}}, zap.NewNop())
	must(t, err)
	wsrv := httptest.NewServer(emu)
	t.Cleanup(wsrv.Close)
	en := &env{t: t, dir: t.TempDir(), emu: emu, url: wsrv.URL}

	hrRows := []string{"E001,张三,总部/研发", "E002,李四,总部/研发", "E003,王五,总部/销售", "E004,赵六,总部/销售", "E005,钱七,总部/销售"}
	titles := map[string]string{"E001": "研发总监", "E002": "工程师", "E003": "销售总监", "E004": "客户经理", "E005": "客户经理", "E006": "工程师"}
	var down atomic.Bool
	api := hrAPIServer(t, func() []map[string]any {
		var out []map[string]any
		for _, r := range hrRows {
			id := strings.Split(r, ",")[0]
			out = append(out, map[string]any{"employee_id": id, "job": map[string]any{"title": titles[id]}})
		}
		return out
	}, &down)
	path := filepath.Join(en.dir, "orgsync.yaml")
	run := func() *Report {
		t.Helper()
		var b strings.Builder
		b.WriteString("工号,姓名,部门,手机\n")
		for _, r := range hrRows {
			fmt.Fprintf(&b, "%s,13800000%s\n", r, r[1:4]) // E003 → 13800000003
		}
		must(t, os.WriteFile(filepath.Join(en.dir, "hr.csv"), []byte(b.String()), 0o644))
		must(t, os.WriteFile(path, []byte(fmt.Sprintf(`sources:
  - name: hr
    type: csv
    config: {path: %[1]s/hr.csv, settle: 0s}
  - name: ad
    type: ldap
    config:
      url: %[2]s
      bind_dn: %[3]s
      bind_password: %[4]s
      base_dn: %[5]s
      filter: (objectClass=inetOrgPerson)
      attributes: [uid, mail, employeeNumber]
      key_attribute: uid
      timeout: 5s
  - name: titles
    type: http
    config:
      url: %[9]s/api/employees
      pagination: {type: cursor, param: page_token, next_path: data.page_token, has_more_path: data.has_more}
      records_path: data.items
      total_path: data.total
      success_path: code
      retry: {attempts: 2, min_wait: 10ms, max_wait: 20ms}
join:
  primary: hr
  on: {hr: 工号, ad: employeeNumber, titles: employee_id}
mapping:
  key: hr.工号
  user:
    userid: lower(ad.uid ?? hr.工号)
    name: hr.姓名
    department: hr.部门
    mobile: hr.手机
    email: ad.mail
    position: titles.job.title
target:
  config: {base_url: %[6]s, corp_id: %[7]s, secret: %[8]s}
policy: {max_disables: "100%%"}
state: {path: %[1]s/state.db}
`, en.dir, s.URL, s.ServiceDN, s.ServicePassword, base, en.url, testCorp, testSecret, api.URL)), 0o644))
		return syncConfig(t, path)
	}

	rep := run()
	if rep.Changes["user_create"] != 5 {
		t.Fatalf("day 1: %v rejected %v", rep.Changes.NonZero(), rep.Rejected)
	}
	if u := en.user("user01"); u == nil || u.Email != "user01@corp.example.com" || u.Position != "研发总监" || u.Name != "张三" {
		t.Fatalf("user01 = %+v", u)
	}
	js := &joinEnv{env: en}
	before := js.members()

	// Day 2: a hire, a leaver, and the HR API down.
	hrRows = append(hrRows[:1], append(hrRows[2:], "E006,孙八,总部/研发")...)
	down.Store(true)
	rep = run()
	noDestruction(t, rep)
	// Every person's title is unknown while the API is down: they are left
	// as they are (rejected, so protected), the hire waits, the leaver's
	// disable is held.
	if rep.Held != 1 || rep.RejectedRecords != 5 || !strings.Contains(strings.Join(rep.SourceProblems, ";"), "titles") {
		t.Fatalf("day 2: changes %v held %d rejected %d problems %v", rep.Changes.NonZero(), rep.Held, rep.RejectedRecords, rep.SourceProblems)
	}
	for k, v := range before {
		if after := js.members()[k]; after != v {
			t.Fatalf("day 2 changed %s: %s → %s", k, v, after)
		}
	}
	if rep.Status != StatusAttention {
		t.Fatalf("day 2 status %s", rep.Status)
	}

	// Day 3: the API is back: the leaver is disabled, the hire has a title.
	down.Store(false)
	rep = run()
	if rep.Changes["user_disable"] != 1 || rep.Held != 0 {
		t.Fatalf("day 3: %v held %d problems %v", rep.Changes.NonZero(), rep.Held, rep.SourceProblems)
	}
	if u := en.user("user06"); u == nil || u.Position != "工程师" || u.Email != "user06@corp.example.com" {
		t.Fatalf("the hire = %+v", u)
	}
	if u := en.user("user02"); u == nil || u.Status != 2 {
		t.Fatalf("the leaver = %+v", u)
	}
}
