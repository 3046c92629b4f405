package engine

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/testservers"
)

// hrPerson is one row of the HR export of a join, and what the other
// sources hold of the same person.
type hrPerson struct {
	id, name, dept, mobile, email, kind string
	account, mail, title                string // AD ("" account: no AD record)
	ext                                 string // badge system's extension ("" no badge record)
}

// joinEnv is a sync of an HR export joined with an "AD" export and,
// optionally, a badge system's export, against the WeCom emulator.
type joinEnv struct {
	*env
	people []hrPerson
	orphan []string // AD records of no HR person: account names
	badge  bool     // a third source is joined
	// adCut leaves the AD export's last line without its terminator (a
	// truncated file: the read is incomplete and drops that record).
	adCut  bool
	noAD   bool // the AD export is missing: the source fails
	noBdg  bool // the badge export is missing
	policy string
}

func newJoinEnv(t *testing.T) *joinEnv {
	en := &joinEnv{env: newEnv(t, true), policy: `{max_disables: "50%", max_deletes: 10, delete_after: 720h}`}
	for i := 1; i <= 10; i++ {
		p := hrPerson{id: fmt.Sprintf("E%03d", i), name: fmt.Sprintf("员工%d", i), dept: []string{"总部/研发", "总部/销售"}[i%2],
			mobile: fmt.Sprintf("1380013%04d", i), email: fmt.Sprintf("e%03d@hr.example.com", i), kind: "正式",
			account: fmt.Sprintf("user%02d", i), title: "工程师", ext: fmt.Sprintf("8%03d", i)}
		if i%2 == 1 {
			p.mail = fmt.Sprintf("user%02d@corp.example.com", i)
		}
		en.people = append(en.people, p)
	}
	en.people = append(en.people, hrPerson{id: "C001", name: "外包1", dept: "总部/销售", mobile: "13600000001", kind: "外包", account: "c001"})
	en.orphan = []string{"svc.backup"}
	return en
}

func (en *joinEnv) write() string {
	t := en.t
	t.Helper()
	var hr, ad, bdg strings.Builder
	hr.WriteString("工号,姓名,部门,手机,邮箱,类型\n")
	ad.WriteString("employeeID,sAMAccountName,mail,title\n")
	bdg.WriteString("工号,分机\n")
	for _, p := range en.people {
		fmt.Fprintf(&hr, "%s,%s,%s,%s,%s,%s\n", p.id, p.name, p.dept, p.mobile, p.email, p.kind)
		if p.account != "" {
			// AD writes employee ids in its own case, padded.
			fmt.Fprintf(&ad, " %s,%s,%s,%s\n", strings.ToLower(p.id), p.account, p.mail, p.title)
		}
		if p.ext != "" {
			fmt.Fprintf(&bdg, "%s,%s\n", p.id, p.ext)
		}
	}
	for i, o := range en.orphan {
		fmt.Fprintf(&ad, "X%03d,%s,,服务账号\n", 900+i, o)
	}
	adText := ad.String()
	if en.adCut {
		adText = strings.TrimSuffix(adText, "\n")
	}
	must(t, os.WriteFile(filepath.Join(en.dir, "hr.csv"), []byte(hr.String()), 0o644))
	for _, f := range []struct {
		name, text string
		gone       bool
	}{{"ad.csv", adText, en.noAD}, {"badge.csv", bdg.String(), en.noBdg}} {
		path := filepath.Join(en.dir, f.name)
		if f.gone {
			_ = os.Remove(path)
		} else {
			must(t, os.WriteFile(path, []byte(f.text), 0o644))
		}
	}
	badgeSrc, badgeOn, badgeRule := "", "", ""
	if en.badge {
		badgeSrc = fmt.Sprintf("\n  - name: badge\n    type: csv\n    config: {path: %s/badge.csv, settle: 0s}", en.dir)
		badgeOn, badgeRule = ", badge: 工号", "\n    telephone: badge.分机"
	}
	path := filepath.Join(en.dir, "orgsync.yaml")
	must(t, os.WriteFile(path, []byte(fmt.Sprintf(`sources:
  - name: hr
    type: csv
    config: {path: %[1]s/hr.csv, settle: 0s}
  - name: ad
    type: csv
    config: {path: %[1]s/ad.csv, settle: 0s}%[2]s
join:
  primary: hr
  on: {hr: 工号, ad: employeeID%[3]s}
mapping:
  key: hr.工号
  exclude: hr.类型 == "外包"
  user:
    userid: lower(ad.sAMAccountName ?? hr.工号)
    name: hr.姓名
    department: hr.部门
    position: ad.title
    mobile: hr.手机
    email: ad.mail ?? hr.邮箱%[4]s
target:
  config: {base_url: %[5]s, corp_id: %[6]s, secret: %[7]s}
policy: %[8]s
state: {path: %[1]s/state.db}
`, en.dir, badgeSrc, badgeOn, badgeRule, en.url, testCorp, testSecret, en.policy)), 0o644))
	return path
}

func (en *joinEnv) build() *Engine {
	en.t.Helper()
	cfg, err := config.Load(en.write())
	must(en.t, err)
	e, err := Build(cfg, zap.NewNop())
	must(en.t, err)
	must(en.t, e.Open(context.Background()))
	en.t.Cleanup(func() { e.Close() })
	return e
}

func (en *joinEnv) run() *Report {
	en.t.Helper()
	e := en.build()
	defer e.Close()
	rep, err := e.RunOnce(context.Background(), Options{})
	if err != nil {
		en.t.Fatalf("sync: %v (report %+v)", err, rep)
	}
	return rep
}

func (en *joinEnv) explain(who string) string {
	en.t.Helper()
	e := en.build()
	defer e.Close()
	p, err := e.Prepare(context.Background(), 0)
	must(en.t, err)
	return strings.Join(Explain(p, who, "orgsync.yaml"), "\n")
}

// members is what WeCom holds of every member, to show a run changed nothing.
func (en *joinEnv) members() map[string]string {
	out := map[string]string{}
	for _, u := range en.emu.State().Users {
		out[u.UserID] = fmt.Sprintf("name=%s email=%s position=%s mobile=%s telephone=%s status=%d dept=%v",
			u.Name, u.Email, u.Position, u.Mobile, u.Telephone, u.Status, u.Department)
	}
	return out
}

func sameMembers(t *testing.T, before, after map[string]string) {
	t.Helper()
	var diffs []string
	for k, v := range after {
		if before[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: %s → %s", k, before[k], v))
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			diffs = append(diffs, k+" deleted")
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("WeCom changed:\n  %s", strings.Join(diffs, "\n  "))
	}
}

func noDestruction(t *testing.T, rep *Report) {
	t.Helper()
	for _, op := range []string{"user_disable", "user_delete", "user_update", "user_move", "department_delete"} {
		if rep.Changes[op] != 0 {
			t.Errorf("%s = %d during an outage (changes %v, problems %v)", op, rep.Changes[op], rep.Changes.NonZero(), rep.SourceProblems)
		}
	}
}

func TestAJoinOfHRAndADSyncsADayOfHiresLeaversAndAnOutage(t *testing.T) {
	en := newJoinEnv(t)

	// Day 1: HR decides who exists, AD gives account names and mail.
	rep := en.run()
	if rep.Changes["user_create"] != 10 || rep.SourceRecords["ad"] != 12 {
		t.Fatalf("first sync: %v records %v", rep.Changes.NonZero(), rep.SourceRecords)
	}
	if u := en.user("user01"); u == nil || u.Email != "user01@corp.example.com" || u.Name != "员工1" || u.Position != "工程师" {
		t.Fatalf("user01 = %+v: want AD's account and mail, HR's name", u)
	}
	if u := en.user("user02"); u == nil || u.Email != "e002@hr.example.com" {
		t.Fatalf("user02 = %+v: AD has no mail for it, want HR's", u)
	}
	if en.user("c001") != nil || en.user("svc.backup") != nil || en.user("X900") != nil {
		t.Fatal("created a contractor (excluded) or an AD account no HR record has")
	}
	warned := false
	for _, w := range rep.WarningList {
		warned = warned || strings.Contains(w.String(), `ad:ad.csv:13: join_key "X900": no hr record has this join key: not created`)
	}
	if !warned || rep.Status != StatusSucceeded {
		t.Fatalf("status %s, warnings %v: want the AD record of no HR person named", rep.Status, rep.WarningList)
	}
	out := en.explain("E001")
	for _, want := range []string{"hr: record hr:hr.csv:2", "ad: record ad:ad.csv:2", "userid: from ad", "email: from ad", "name: from hr"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain E001 lacks %q:\n%s", want, out)
		}
	}

	// Day 2: a hire (HR and AD), a leaver (gone from HR, still in AD), and
	// someone who becomes a contractor (excluded by rule).
	en.people = append(en.people, hrPerson{id: "E011", name: "新人", dept: "总部/研发", mobile: "13800130011", kind: "正式", account: "user11", mail: "user11@corp.example.com"})
	en.people[3].kind = "外包"                            // E004
	en.people = append(en.people[:2], en.people[3:]...) // E003 leaves HR; AD keeps user03
	en.orphan = append(en.orphan, "user03")
	rep = en.run()
	if rep.Changes["user_create"] != 1 || rep.Changes["user_disable"] != 2 || rep.Held != 0 {
		t.Fatalf("day 2: %v held %d", rep.Changes.NonZero(), rep.Held)
	}
	reasons := map[string]string{}
	for _, d := range rep.Plan.UserDisables {
		reasons[d.UserID] = d.Reason
	}
	if reasons["user03"] != "no longer in the source" ||
		reasons["user04"] != `excluded by rule mapping.exclude (line 13): hr.类型 == "外包": out of scope` {
		t.Fatalf("disable reasons: %q", reasons)
	}
	if out := en.explain("E004"); !strings.Contains(out, `excluded by rule mapping.exclude (line 13): hr.类型 == "外包"`) ||
		!strings.Contains(out, "orgsync manages WeCom member user04") {
		t.Fatalf("explain E004:\n%s", out)
	}
	if u := en.user("user11"); u == nil || u.Email != "user11@corp.example.com" {
		t.Fatalf("hire = %+v", u)
	}

	// Day 3: AD is unreadable. HR meanwhile has a leaver, a rename and a
	// hire: nothing is disabled, deleted or changed, no field is cleared.
	before := en.members()
	en.noAD = true
	en.people = en.people[1:] // E001 leaves
	en.people[0].name = "改名"  // E002
	en.people = append(en.people, hrPerson{id: "E012", name: "又一新人", dept: "总部/研发", mobile: "13800130012", kind: "正式", account: "user12"})
	rep = en.run()
	noDestruction(t, rep)
	if rep.Changes["user_create"] != 0 || rep.Held != 1 || len(rep.SourceProblems) != 1 || !strings.HasPrefix(rep.SourceProblems[0], "ad: ") {
		t.Fatalf("AD outage: changes %v held %d problems %v", rep.Changes.NonZero(), rep.Held, rep.SourceProblems)
	}
	if rep.Status != StatusAttention || rep.RejectedRecords != len(en.people) {
		t.Fatalf("AD outage: status %s, %d rejected of %d HR records", rep.Status, rep.RejectedRecords, len(en.people))
	}
	sameMembers(t, before, en.members())
	if out := en.explain("E002"); !strings.Contains(out, "the joined source ad could not be read") || !strings.Contains(out, "protected") {
		t.Fatalf("explain E002 in the outage:\n%s", out)
	}

	// Day 4: AD's export is cut short (its last line has no terminator, so
	// the read is incomplete): the people it has are synced (the hire, the
	// rename), the leaver's disable is held.
	en.noAD, en.adCut = false, true
	rep = en.run()
	if rep.Changes["user_create"] != 1 || rep.Changes["user_update"] != 1 || rep.Changes["user_disable"] != 0 || rep.Held != 1 {
		t.Fatalf("AD incomplete: changes %v held %d problems %v", rep.Changes.NonZero(), rep.Held, rep.SourceProblems)
	}
	if en.user("user12") == nil || en.user("user02").Name != "改名" {
		t.Fatal("the hire or the rename whose AD record was read is not made")
	}

	// Day 5: everything reads well: the leaver is disabled.
	en.adCut = false
	rep = en.run()
	if rep.Changes["user_disable"] != 1 || rep.Changes.Total() != 1 || rep.Held != 0 || rep.RejectedRecords != 0 {
		t.Fatalf("day 5: %v held %d rejected %v", rep.Changes.NonZero(), rep.Held, rep.Rejected)
	}
	if u := en.user("user01"); u.Status != 2 {
		t.Fatalf("user01 = %+v, want disabled", u)
	}
	if u := en.user("user02"); u.Name != "改名" || u.Email != "e002@hr.example.com" {
		t.Fatalf("user02 = %+v", u)
	}
}

func TestAJoinOfThreeSourcesWithOneFailingHoldsEverythingItGives(t *testing.T) {
	for _, failing := range []string{"ad", "badge"} {
		t.Run(failing+" fails", func(t *testing.T) {
			en := newJoinEnv(t)
			en.badge = true
			rep := en.run()
			if rep.Changes["user_create"] != 10 {
				t.Fatalf("first sync: %v", rep.Changes.NonZero())
			}
			if u := en.user("user05"); u == nil || u.Telephone != "8005" || u.Email != "user05@corp.example.com" {
				t.Fatalf("user05 = %+v: want the badge system's extension and AD's mail", u)
			}
			out := en.explain("E005")
			for _, want := range []string{"badge: record badge:badge.csv:6", "telephone: from badge", "userid: from ad"} {
				if !strings.Contains(out, want) {
					t.Errorf("explain E005 lacks %q:\n%s", want, out)
				}
			}

			before := en.members()
			en.noAD, en.noBdg = failing == "ad", failing == "badge"
			en.people = en.people[1:]          // a leaver
			en.people[0].ext = "9999"          // a change the failing source can't confirm
			en.people[1].mail = "new@corp.com" // …and one from the other
			rep = en.run()
			noDestruction(t, rep)
			if rep.Held != 1 || len(rep.SourceProblems) != 1 || !strings.HasPrefix(rep.SourceProblems[0], failing+": ") {
				t.Fatalf("%s failed: changes %v held %d problems %v", failing, rep.Changes.NonZero(), rep.Held, rep.SourceProblems)
			}
			sameMembers(t, before, en.members())

			en.noAD, en.noBdg = false, false
			rep = en.run()
			if rep.Changes["user_disable"] != 1 || rep.Held != 0 || rep.RejectedRecords != 0 {
				t.Fatalf("recovered: %v held %d rejected %v", rep.Changes.NonZero(), rep.Held, rep.Rejected)
			}
			if u := en.user("user02"); u.Telephone != "9999" {
				t.Fatalf("user02 = %+v", u)
			}
		})
	}
}

func TestWithoutAJoinSeveralSourcesAreAUnion(t *testing.T) {
	en := newEnv(t, true)
	en.second = "工号,姓名,部门编码,手机,状态,直属上级工号\nC001,外包1,D3,13600000001,在职,\nC002,外包2,D3,13600000002,在职,\n"
	rep := en.mustSync()
	if rep.Changes["user_create"] != 22 || en.user("c002") == nil {
		t.Fatalf("union: %v", rep.Changes.NonZero())
	}
}

func TestJoinConfigErrors(t *testing.T) {
	en := newJoinEnv(t)
	good, err := os.ReadFile(en.write())
	must(t, err)
	cases := []struct {
		name, from, to, want string
	}{
		{"an unknown key", "  primary: hr\n", "  primary: hr\n  primry: hr\n", "orgsync.yaml:10: join.primry: unknown key; did you mean primary?"},
		{"a primary that is no source", "  primary: hr\n", "  primary: people\n", `orgsync.yaml:9: join.primary: "people" is not a configured source (sources: hr, ad)`},
		{"a key for no source", "ad: employeeID}", "ad: employeeID, ldap: uid}", `join.on.ldap: "ldap" is not a configured source (sources: hr, ad)`},
		{"no key for the primary", "on: {hr: 工号, ad: employeeID}", "on: {ad: employeeID, ad2: x}", `join.on: no key for the primary source "hr"`},
		{"a join of one source", "on: {hr: 工号, ad: employeeID}", "on: {hr: 工号}", "join.on: a join needs a key for the primary and for at least one more source"},
		{"a bare column under a join", "name: hr.姓名", "name: 姓名", "mapping.user.name (line 16): 姓名: 姓名 is not a field of a joined source"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(string(good), c.from, c.to, 1)
			path := filepath.Join(t.TempDir(), "orgsync.yaml")
			must(t, os.WriteFile(path, []byte(text), 0o644))
			cfg, err := config.Load(path)
			if err == nil {
				_, err = Build(cfg, zap.NewNop())
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant %s", err, c.want)
			}
		})
	}
	t.Run("a source of people outside the join", func(t *testing.T) {
		text := strings.Replace(string(good), "join:\n", fmt.Sprintf("  - name: contractors\n    type: csv\n    config: {path: %s/hr.csv, settle: 0s}\njoin:\n", en.dir), 1)
		path := filepath.Join(t.TempDir(), "orgsync.yaml")
		must(t, os.WriteFile(path, []byte(text), 0o644))
		cfg, err := config.Load(path)
		must(t, err)
		_, err = Build(cfg, zap.NewNop())
		if err == nil || !strings.Contains(err.Error(), "sources.2 (contractors, line 8): not in join.on: with join, every source of people needs a join key") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestAJoinOfCSVAndARealDirectory joins the HR export with a real slapd
// (inetOrgPerson's employeeNumber is the join key), then kills the
// directory: nothing is disabled and no field it gives is cleared.
func TestAJoinOfCSVAndARealDirectory(t *testing.T) {
	const base = "ou=people,dc=example,dc=test"
	var seed testservers.LDIF
	for i := 1; i <= 4; i++ {
		seed.Entry(fmt.Sprintf("uid=user%02d,%s", i, base), "objectClass", "inetOrgPerson", "uid", fmt.Sprintf("user%02d", i),
			"cn", fmt.Sprintf("AD %d", i), "sn", "x", "mail", fmt.Sprintf("user%02d@corp.example.com", i), "employeeNumber", fmt.Sprintf("E%03d", i))
	}
	s := testservers.StartSlapd(t, testservers.SlapdOptions{Seed: seed.String()})
	emu, err := emulator.New(emulator.Options{CorpID: testCorp, RestrictedReads: true,
		Secrets: []emulator.SecretSpec{{Secret: testSecret, Role: emulator.RoleContactsSyncEdit}}}, zap.NewNop())
	must(t, err)
	en := &env{t: t, dir: t.TempDir(), emu: emu}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	en.url = srv.URL
	hr := "工号,姓名,部门,手机\nE001,张三,总部/研发,13800000001\nE002,李四,总部/研发,13800000002\nE003,王五,总部/销售,13800000003\nE004,赵六,总部/销售,13800000004\nE005,新人,总部/销售,13800000005\n"
	must(t, os.WriteFile(filepath.Join(en.dir, "hr.csv"), []byte(hr), 0o644))
	path := filepath.Join(en.dir, "orgsync.yaml")
	write := func() {
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
join:
  primary: hr
  on: {hr: 工号, ad: employeeNumber}
mapping:
  key: hr.工号
  user:
    userid: lower(ad.uid ?? hr.工号)
    name: hr.姓名
    department: hr.部门
    mobile: hr.手机
    email: ad.mail
target:
  config: {base_url: %[6]s, corp_id: %[7]s, secret: %[8]s}
policy: {max_disables: "100%%"}
state: {path: %[1]s/state.db}
`, en.dir, s.URL, s.ServiceDN, s.ServicePassword, base, en.url, testCorp, testSecret)), 0o644))
	}
	run := func() *Report {
		t.Helper()
		write()
		return syncConfig(t, path)
	}
	rep := run()
	if rep.Changes["user_create"] != 5 {
		t.Fatalf("first sync: %v rejected %v", rep.Changes.NonZero(), rep.Rejected)
	}
	if u := en.user("user03"); u == nil || u.Email != "user03@corp.example.com" || u.Name != "王五" {
		t.Fatalf("user03 = %+v", u)
	}
	if u := en.user("e005"); u == nil || u.Email != "" {
		t.Fatalf("e005 (no directory entry yet) = %+v", u)
	}
	js := &joinEnv{env: en}
	before := js.members()

	s.Kill()
	must(t, os.WriteFile(filepath.Join(en.dir, "hr.csv"), []byte(strings.Replace(hr, "E002,李四,总部/研发,13800000002\n", "", 1)), 0o644))
	rep = run()
	noDestruction(t, rep)
	if rep.Held != 1 || len(rep.SourceProblems) != 1 {
		t.Fatalf("dead directory: changes %v held %d problems %v", rep.Changes.NonZero(), rep.Held, rep.SourceProblems)
	}
	sameMembers(t, before, js.members())

	must(t, s.Start())
	rep = run()
	if rep.Changes["user_disable"] != 1 || rep.Held != 0 {
		t.Fatalf("recovered: %v held %d problems %v", rep.Changes.NonZero(), rep.Held, rep.SourceProblems)
	}
}

func TestAJoinedSourceThatShrankSharplyChangesNoFieldItGives(t *testing.T) {
	en := newJoinEnv(t)
	en.run()
	before := en.members()
	// A wrong filter: AD's export comes back complete-looking with one
	// account of twelve. Mapped without it, ten people would lose their
	// title and have their mail replaced by HR's.
	for i := 1; i < len(en.people); i++ {
		en.people[i].account = ""
	}
	en.orphan = nil
	rep := en.run()
	noDestruction(t, rep)
	if len(rep.SourceProblems) != 1 || !strings.Contains(rep.SourceProblems[0], "ad: 1 records, 11 fewer than the 12 of its last good read") {
		t.Fatalf("problems %v", rep.SourceProblems)
	}
	if rep.RejectedRecords != 10 || !strings.Contains(rep.Rejected[0].Msg, "the joined source ad was not read completely") {
		t.Fatalf("rejected %d: %v", rep.RejectedRecords, rep.Rejected)
	}
	sameMembers(t, before, en.members())
}

// syncConfig runs one sync of the config file at path, as a new process
// would, and fails the test if the run fails.
func syncConfig(t *testing.T, path string) *Report {
	t.Helper()
	cfg, err := config.Load(path)
	must(t, err)
	e, err := Build(cfg, zap.NewNop())
	must(t, err)
	must(t, e.Open(context.Background()))
	defer e.Close()
	rep, err := e.RunOnce(context.Background(), Options{})
	if err != nil {
		t.Fatalf("sync: %v (%+v)", err, rep)
	}
	return rep
}
