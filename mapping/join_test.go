package mapping

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/model"
)

// joinRules is the example: AD gives account names and mail, HR
// who exists, names and departments.
const joinRules = `
key: hr.工号
user:
  userid: lower(ad.sAMAccountName ?? hr.工号)
  name: hr.姓名
  department: hr.部门
  mobile: hr.手机
  email: ad.mail ?? hr.邮箱
`

var (
	hrHeader = []string{"工号", "姓名", "部门", "手机", "邮箱"}
	adHeader = []string{"employeeID", "sAMAccountName", "mail"}
)

func hrAD() *config.JoinSpec {
	return &config.JoinSpec{Primary: "hr", On: config.JoinOn{{Source: "hr", Expr: "工号", Line: 3}, {Source: "ad", Expr: "employeeID", Line: 3}}}
}

func compileJoin(t *testing.T, j *config.JoinSpec, rules string) *Mapper {
	t.Helper()
	cfg, err := decodeYAML(t, rules)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Join = j
	m, err := Compile(withFiles(cfg))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return m
}

func adBatch(rows ...[]string) *connectors.Batch {
	b := batch("ad", adHeader, rows...)
	for i := range b.Records {
		b.Records[i].Origin.Locator = "CN=" + rows[i][1] + ",OU=staff"
	}
	return b
}

func people(org model.Org) map[string]model.Person {
	out := map[string]model.Person{}
	for _, p := range org.People {
		out[p.Key] = p
	}
	return out
}

func texts[T interface{ Error() string }](l []T) []string {
	var out []string
	for _, e := range l {
		out = append(out, e.Error())
	}
	return out
}

func warnTexts(l []Warning) []string {
	var out []string
	for _, w := range l {
		out = append(out, w.String())
	}
	return out
}

func TestJoin(t *testing.T) {
	hr := func() *connectors.Batch {
		return batch("hr", hrHeader,
			[]string{"E1", "张三", "总部/研发", "13800000001", "zhangsan@hr.example"},
			[]string{"E2", "李四", "总部/研发", "13800000002", "lisi@hr.example"},
			[]string{"E3", "王五", "总部/销售", "13800000003", ""},
		)
	}
	cases := []struct {
		name     string
		batches  func() []*connectors.Batch
		want     map[string][2]string // key → userid, email
		rejected []string             // substrings, one per problem, in order
		warnings []string
	}{
		{
			name: "takes each field from the first source that has it",
			batches: func() []*connectors.Batch {
				return []*connectors.Batch{hr(), adBatch([]string{"E1", "zhang.san", "zhang.san@corp.example"}, []string{"e2 ", "li.si", ""})}
			},
			want: map[string][2]string{"E1": {"zhang.san", "zhang.san@corp.example"}, "E2": {"li.si", "lisi@hr.example"}, "E3": {"e3", ""}},
		},
		{
			name: "reports a record of another source that joins no one and never creates it",
			batches: func() []*connectors.Batch {
				return []*connectors.Batch{hr(), adBatch([]string{"E1", "zhang.san", ""}, []string{"E9", "svc.backup", ""}, []string{"", "admin", ""})}
			},
			want: map[string][2]string{"E1": {"zhang.san", "zhangsan@hr.example"}, "E2": {"e2", "lisi@hr.example"}, "E3": {"e3", ""}},
			warnings: []string{
				`ad:CN=svc.backup,OU=staff: join_key "E9": no hr record has this join key: not created (who exists is decided by hr) (rule employeeID)`,
				`ad:CN=admin,OU=staff: join_key "": empty join key: the record joins no one and is ignored (rule employeeID)`,
			},
		},
		{
			name: "rejects the person two records of another source claim",
			batches: func() []*connectors.Batch {
				return []*connectors.Batch{hr(), adBatch([]string{"E1", "zhang.san", ""}, []string{"E1", "zhang.san2", ""})}
			},
			want:     map[string][2]string{"E2": {"e2", "lisi@hr.example"}, "E3": {"e3", ""}},
			rejected: []string{`hr:t.csv:2: join_key "E1": ad has 2 records with this join key (CN=zhang.san,OU=staff; CN=zhang.san2,OU=staff): which is this person's can't be told, so the person is left as is (rule employeeID)`},
		},
		{
			name: "rejects every primary record of a join key they share, ignoring case",
			batches: func() []*connectors.Batch {
				b := hr()
				b.Records[1].Values[0] = "e1"
				return []*connectors.Batch{b, adBatch([]string{"E1", "zhang.san", ""})}
			},
			want: map[string][2]string{"E3": {"e3", ""}},
			rejected: []string{
				`hr:t.csv:2: join_key "E1": duplicate join key: every hr record with it is rejected (t.csv:2; t.csv:3) (rule 工号)`,
				`hr:t.csv:2: userid "e1": userid clashes`,
				`hr:t.csv:3: join_key "e1": duplicate join key: every hr record with it is rejected (t.csv:2; t.csv:3) (rule 工号)`,
				`hr:t.csv:3: userid "e1": userid clashes`,
			},
		},
		{
			name: "rejects a primary record with an empty join key and keeps what identifies it",
			batches: func() []*connectors.Batch {
				b := hr()
				b.Records[2].Values[0] = " "
				return []*connectors.Batch{b, adBatch([]string{"E1", "zhang.san", ""})}
			},
			want:     map[string][2]string{"E1": {"zhang.san", "zhangsan@hr.example"}, "E2": {"e2", "lisi@hr.example"}},
			rejected: []string{`hr:t.csv:4: join_key "": empty join key (rule 工号)`, `hr:t.csv:4: key "": empty key`, `userid`},
		},
		{
			name: "rejects, when another source failed, everyone its part is unknown for",
			batches: func() []*connectors.Batch {
				return []*connectors.Batch{hr()}
			},
			want: map[string][2]string{},
			rejected: []string{
				`hr:t.csv:2: join_key "E1": the joined source ad could not be read, so this person's ad record is unknown: left as is until ad is read again`,
				`hr:t.csv:3: join_key "E2": the joined source ad could not be read`,
				`hr:t.csv:4: join_key "E3": the joined source ad could not be read`,
			},
		},
		{
			name: "maps the people an incomplete source has, and leaves the others as they are",
			batches: func() []*connectors.Batch {
				ad := adBatch([]string{"E1", "zhang.san", ""})
				ad.Complete, ad.Incomplete = false, "page 3 failed"
				return []*connectors.Batch{hr(), ad}
			},
			want: map[string][2]string{"E1": {"zhang.san", "zhangsan@hr.example"}},
			rejected: []string{
				`hr:t.csv:3: join_key "E2": the joined source ad was not read completely (see its source problem) and has no record with this join key: left as is until ad is read completely`,
				`hr:t.csv:4: join_key "E3": the joined source ad was not read completely`,
			},
		},
		{
			name: "makes nobody when the primary failed",
			batches: func() []*connectors.Batch {
				return []*connectors.Batch{adBatch([]string{"E1", "zhang.san", ""})}
			},
			want: map[string][2]string{},
		},
	}
	m := compileJoin(t, hrAD(), joinRules)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := m.MapResult(c.batches())
			got := people(res.Org)
			if len(got) != len(c.want) {
				t.Errorf("people %v, want %v", got, c.want)
			}
			for k, w := range c.want {
				if p, ok := got[k]; !ok || p.UserID != w[0] || p.Email != w[1] {
					t.Errorf("%s = %+v, want userid %q email %q", k, p, w[0], w[1])
				}
			}
			rej := texts(res.Rejected)
			if len(rej) != len(c.rejected) {
				t.Errorf("rejected:\n  %s\nwant %d", strings.Join(rej, "\n  "), len(c.rejected))
			}
			for i := range min(len(rej), len(c.rejected)) {
				if !strings.Contains(rej[i], c.rejected[i]) {
					t.Errorf("rejected[%d] = %s\nwant it to contain %s", i, rej[i], c.rejected[i])
				}
			}
			ws := warnTexts(res.Warnings)
			if len(ws) != len(c.warnings) {
				t.Errorf("warnings:\n  %s\nwant %d", strings.Join(ws, "\n  "), len(c.warnings))
			}
			for i := range min(len(ws), len(c.warnings)) {
				if !strings.Contains(ws[i], c.warnings[i]) {
					t.Errorf("warnings[%d] = %s\nwant it to contain %s", i, ws[i], c.warnings[i])
				}
			}
		})
	}
}

func TestJoinKeepsTheIdentifiersOfARejectedPerson(t *testing.T) {
	m := compileJoin(t, hrAD(), joinRules)
	res := m.MapResult([]*connectors.Batch{batch("hr", hrHeader, []string{"E1", "张三", "总部", "13800000001", "z@hr.example"})})
	if len(res.Rejected) != 1 {
		t.Fatalf("rejected = %v", texts(res.Rejected))
	}
	r := res.Rejected[0]
	if r.Key != "E1" || r.Mobile != "+86 13800000001" && r.Mobile != "13800000001" || r.Email != "z@hr.example" {
		t.Fatalf("identifiers of the protected record: %+v", r)
	}
}

func TestJoinTracesWhereEachFieldCameFrom(t *testing.T) {
	m := compileJoin(t, hrAD(), joinRules)
	res := m.MapResult([]*connectors.Batch{
		batch("hr", hrHeader, []string{"E1", "张三", "总部", "13800000001", "same@example.com"}, []string{"E2", "李四", "总部", "13800000002", "lisi@hr.example"}),
		adBatch([]string{"E1", "zhang.san", "same@example.com"}),
	})
	lines := strings.Join(res.Join.Explain("E1"), "\n")
	for _, want := range []string{
		`joined on key "E1" (primary hr):`,
		`hr: record hr:t.csv:2`,
		`ad: record ad:CN=zhang.san,OU=staff`,
		`userid: from ad (rule lower(ad.sAMAccountName ?? hr.工号))`,
		`name: from hr (rule hr.姓名)`,
		`email: from hr or ad (the same value either way) (rule ad.mail ?? hr.邮箱)`,
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("explain E1 lacks %q:\n%s", want, lines)
		}
	}
	lines = strings.Join(res.Join.Explain("E2"), "\n")
	for _, want := range []string{
		`ad: no record with this join key: its fields are nil`,
		`userid: from hr (rule`,
		`email: from hr (rule`,
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("explain E2 lacks %q:\n%s", want, lines)
		}
	}
}

func TestJoinCompileErrors(t *testing.T) {
	cases := []struct {
		name  string
		join  *config.JoinSpec
		rules string
		want  string
	}{
		{"a bare column under a join", hrAD(), strings.Replace(joinRules, "name: hr.姓名", "name: 姓名", 1),
			`mapping.user.name (line 5): 姓名: 姓名 is not a field of a joined source: with join, name each field by its source (hr.姓名 or ad.姓名)`},
		{"a constant join key", &config.JoinSpec{Primary: "hr", On: config.JoinOn{{Source: "hr", Expr: "工号"}, {Source: "ad", Expr: `"x"`, Line: 4}}}, joinRules,
			`join.on.ad (line 4): "x": reads no column: every record would have the same join key`},
		{"a source named like a function", &config.JoinSpec{Primary: "hr", On: config.JoinOn{{Source: "hr", Expr: "工号"}, {Source: "lower", Expr: "x"}}}, joinRules,
			`join.on.lower: the source name "lower" is also a function's name: rename the source`},
		{"an unknown function in a join key", &config.JoinSpec{Primary: "hr", On: config.JoinOn{{Source: "hr", Expr: "lowr(工号)", Line: 3}, {Source: "ad", Expr: "employeeID"}}}, joinRules,
			`join.on.hr (line 3): lowr(工号): unknown function lowr`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := decodeYAML(t, c.rules)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Join = c.join
			_, err = Compile(withFiles(cfg))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant %s", err, c.want)
			}
		})
	}
}

func TestJoinProbe(t *testing.T) {
	m := compileJoin(t, hrAD(), strings.Replace(joinRules, "ad.mail ??", "ad.mial ??", 1))
	hr := batch("hr", hrHeader, []string{"E1", "张三", "总部", "13800000001", "z@hr.example"})
	err := m.Probe([]*connectors.Batch{hr, adBatch([]string{"E1", "zhang.san", ""})})
	if err == nil || !strings.Contains(err.Error(), `mapping.user.email (line 8): ad.mial ?? hr.邮箱: the source ad has no column "mial" (columns: employeeID, sAMAccountName, mail)`) {
		t.Fatalf("Probe: %v", err)
	}
	if err := m.Probe([]*connectors.Batch{hr}); err != nil {
		t.Fatalf("a failed source's columns are unknown, not missing: %v", err)
	}
	bad := compileJoin(t, &config.JoinSpec{Primary: "hr", On: config.JoinOn{{Source: "hr", Expr: "工号"}, {Source: "ad", Expr: "employeeId", Line: 3}}}, joinRules)
	err = bad.Probe([]*connectors.Batch{hr, adBatch([]string{"E1", "zhang.san", ""})})
	if err == nil || !strings.Contains(err.Error(), `join.on.ad (line 3): employeeId: the source ad has no column "employeeId"`) {
		t.Fatalf("Probe of a join key: %v", err)
	}
	m = compileJoin(t, hrAD(), joinRules)
	if err := m.Probe([]*connectors.Batch{hr, adBatch([]string{"E1", "zhang.san", ""})}); err != nil {
		t.Fatalf("Probe of a good join: %v", err)
	}
}

func TestJoinWithoutAJoinIsAUnion(t *testing.T) {
	m := compileYAML(t, baseRules)
	res := m.MapResult([]*connectors.Batch{
		batch("hr", baseHeader, []string{"E1", "张三", "总部", "13800000001", ""}),
		batch("contractors", baseHeader, []string{"C1", "外包", "总部", "13800000002", ""}),
	})
	if len(res.Org.People) != 2 || res.Join != nil {
		t.Fatalf("union: %+v", res.Org.People)
	}
}

func TestScope(t *testing.T) {
	header := []string{"工号", "姓名", "部门", "手机", "类型"}
	rows := [][]string{
		{"E1", "张三", "总部", "13800000001", "正式"},
		{"C1", "外包", "总部", "13800000002", "外包"},
		{"I1", "实习", "总部", "bad-mobile", "实习"},
		{"X1", "怪", "总部", "13800000004", "?"},
	}
	base := "key: 工号\nuser: {userid: lower(工号), name: 姓名, department: 部门, mobile: 手机}\n"
	cases := []struct {
		name     string
		rules    string
		kept     []string
		excluded []string // Exclusion.String()
		rejected []string
	}{
		{
			name:  "exclude leaves matching records out of scope and neither maps nor rejects them",
			rules: `exclude: 类型 in ["外包", "实习"]`,
			kept:  []string{"E1", "X1"},
			excluded: []string{
				`hr:t.csv:3: excluded by rule mapping.exclude (line 3): 类型 in ["外包", "实习"]`,
				`hr:t.csv:4: excluded by rule mapping.exclude (line 3): 类型 in ["外包", "实习"]`,
			},
		},
		{
			name:     "include keeps only the records it is true for",
			rules:    `include: 类型 == "正式"`,
			kept:     []string{"E1"},
			excluded: []string{`hr:t.csv:3: excluded by rule mapping.include (line 3): 类型 == "正式" is false`, `t.csv:4`, `t.csv:5`},
		},
		{
			name:     "a rule that gives no yes/no value rejects the record instead of guessing",
			rules:    `exclude: '类型 == "外包" ? "yes" : 类型'`,
			kept:     []string{},
			excluded: []string{`t.csv:3`},
			rejected: []string{`hr:t.csv:2: exclude "正式": not a yes/no value`, `hr:t.csv:4: exclude "实习"`, `hr:t.csv:4: mobile`, `hr:t.csv:5: exclude "?"`},
		},
		{
			name:     "an empty include value rejects the record, an empty exclude value keeps it",
			rules:    "include: '类型 == \"?\" ? \"\" : true'\nexclude: '类型 == \"正式\" ? \"\" : false'",
			kept:     []string{"E1", "C1"},
			rejected: []string{`t.csv:4: mobile`, `hr:t.csv:5: include "": the rule gives an empty value, want yes or no: the record is left as is`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := compileYAML(t, base+c.rules)
			res := m.MapResult([]*connectors.Batch{batch("hr", header, rows...)})
			var kept []string
			for _, p := range res.Org.People {
				kept = append(kept, p.Key)
			}
			if strings.Join(kept, ",") != strings.Join(c.kept, ",") {
				t.Errorf("kept %v, want %v", kept, c.kept)
			}
			var ex []string
			for _, x := range res.Excluded {
				ex = append(ex, x.String())
			}
			if len(ex) != len(c.excluded) {
				t.Errorf("excluded %q, want %d", ex, len(c.excluded))
			}
			for i := range min(len(ex), len(c.excluded)) {
				if !strings.Contains(ex[i], c.excluded[i]) {
					t.Errorf("excluded[%d] = %s, want %s", i, ex[i], c.excluded[i])
				}
			}
			rej := texts(res.Rejected)
			if len(rej) != len(c.rejected) {
				t.Errorf("rejected %q, want %d", rej, len(c.rejected))
			}
			for i := range min(len(rej), len(c.rejected)) {
				if !strings.Contains(rej[i], c.rejected[i]) {
					t.Errorf("rejected[%d] = %s, want %s", i, rej[i], c.rejected[i])
				}
			}
		})
	}
	t.Run("an excluded record keeps its key and userid for the plan's reason", func(t *testing.T) {
		m := compileYAML(t, base+`exclude: 类型 == "外包"`)
		res := m.MapResult([]*connectors.Batch{batch("hr", header, rows...)})
		if x := res.Excluded[0]; x.Key != "C1" || x.UserID != "c1" {
			t.Fatalf("exclusion %+v", x)
		}
	})
	t.Run("under a join the rules read the merged record", func(t *testing.T) {
		m := compileJoin(t, hrAD(), joinRules+"exclude: ad.sAMAccountName startsWith \"svc.\"\n")
		res := m.MapResult([]*connectors.Batch{
			batch("hr", hrHeader, []string{"E1", "张三", "总部", "13800000001", ""}, []string{"E2", "备份", "总部", "13800000002", ""}),
			adBatch([]string{"E2", "svc.backup", ""}),
		})
		if len(res.Org.People) != 1 || len(res.Excluded) != 1 || res.Excluded[0].Key != "E2" || res.Excluded[0].UserID != "svc.backup" {
			t.Fatalf("people %+v excluded %+v", res.Org.People, res.Excluded)
		}
	})
}

func TestJoinOfThreeSourcesAndTheWholeRecordOfASource(t *testing.T) {
	j := &config.JoinSpec{Primary: "hr", On: config.JoinOn{{Source: "hr", Expr: "工号"}, {Source: "ad", Expr: "employeeID"}, {Source: "badge", Expr: "lower(工号)"}}}
	m := compileJoin(t, j, joinRules+"  position: 'ad == nil ? \"no account\" : ad[\"sAMAccountName\"]'\n  telephone: badge.分机 ?? \"\"\n")
	res := m.MapResult([]*connectors.Batch{
		batch("hr", hrHeader, []string{"E1", "张三", "总部", "13800000001", ""}, []string{"E2", "李四", "总部", "13800000002", "l@hr.example"}),
		adBatch([]string{"E1", "zhang.san", "z@corp.example"}),
		batch("badge", []string{"工号", "分机"}, []string{"e2", "8002"}),
	})
	got := people(res.Org)
	if p := got["E1"]; p.Position != "zhang.san" || p.Telephone() != "" || p.Email != "z@corp.example" {
		t.Errorf("E1 = %+v", p)
	}
	if p := got["E2"]; p.Position != "no account" || p.Telephone() != "8002" || p.UserID != "e2" {
		t.Errorf("E2 = %+v", p)
	}
	lines := strings.Join(res.Join.Explain("E2"), "\n")
	for _, want := range []string{"badge: record badge:t.csv:2", "ad: no record with this join key", "telephone: from badge", "position: from no source record"} {
		if !strings.Contains(lines, want) {
			t.Errorf("explain E2 lacks %q:\n%s", want, lines)
		}
	}
	// The badge system fails: everyone it would give a field is left as is.
	res = m.MapResult([]*connectors.Batch{
		batch("hr", hrHeader, []string{"E1", "张三", "总部", "13800000001", ""}),
		adBatch([]string{"E1", "zhang.san", "z@corp.example"}),
	})
	if len(res.Org.People) != 0 || len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Msg, "the joined source badge could not be read") {
		t.Fatalf("badge failed: people %+v rejected %v", res.Org.People, texts(res.Rejected))
	}
}

// TestJoinAccountsForEveryRecord joins random sources (keys that repeat,
// differ in case, are blank; sources missing or incomplete) and checks
// that every primary record is mapped, rejected or excluded exactly once,
// that nobody comes from another source alone, and that a person whose
// other records are unknown is never mapped.
func TestJoinAccountsForEveryRecord(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() string {
		return []string{"E1", "e1", "E2", "E3", " E4 ", "", "E5", "E6", "E7"}[rng.IntN(9)]
	}
	j := &config.JoinSpec{Primary: "hr", On: config.JoinOn{{Source: "hr", Expr: "工号"}, {Source: "ad", Expr: "employeeID"}, {Source: "badge", Expr: "工号"}}}
	m := compileJoin(t, j, joinRules+"  telephone: badge.分机\nexclude: hr.姓名 == \"外包\"\n")
	for round := 0; round < 300; round++ {
		var hrRows, adRows, bRows [][]string
		for i := rng.IntN(8); i > 0; i-- {
			name := []string{"张三", "外包"}[rng.IntN(2)]
			hrRows = append(hrRows, []string{key(), name, "总部", fmt.Sprintf("138%08d", rng.IntN(1e8)), ""})
		}
		for i := rng.IntN(8); i > 0; i-- {
			adRows = append(adRows, []string{key(), fmt.Sprintf("u%d", rng.IntN(1000)), ""})
		}
		for i := rng.IntN(8); i > 0; i-- {
			bRows = append(bRows, []string{key(), "8001"})
		}
		batches := []*connectors.Batch{batch("hr", hrHeader, hrRows...)}
		adState, badgeState := rng.IntN(3), rng.IntN(3) // 0 read, 1 failed, 2 incomplete
		if adState != 1 {
			b := batch("ad", adHeader, adRows...)
			b.Complete = adState == 0
			batches = append(batches, b)
		}
		if badgeState != 1 {
			b := batch("badge", []string{"工号", "分机"}, bRows...)
			b.Complete = badgeState == 0
			batches = append(batches, b)
		}
		res := m.MapResult(batches)
		seen := map[string]int{}
		for _, p := range res.Org.People {
			seen[p.Origin.String()]++
			if p.Origin.Source != "hr" {
				t.Fatalf("round %d: a person from %s", round, p.Origin)
			}
			pt := res.Join.People[p.Key]
			for s, name := range res.Join.Sources {
				unknown := (name == "ad" && adState != 0) || (name == "badge" && badgeState != 0)
				if unknown && pt.Records[s] == (model.Origin{}) {
					t.Fatalf("round %d: %s mapped although its %s record is unknown", round, p.Key, name)
				}
			}
		}
		for _, o := range rejectedOrigins(res.Rejected) {
			seen[o]++
		}
		for _, x := range res.Excluded {
			seen[x.Origin.String()]++
		}
		if len(seen) != len(hrRows) {
			t.Fatalf("round %d: %d hr records accounted for, want %d", round, len(seen), len(hrRows))
		}
		for o, n := range seen {
			if n != 1 {
				t.Fatalf("round %d: %s is accounted for %d times", round, o, n)
			}
		}
		if _, err := res.Org.Index(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

func rejectedOrigins(errs []RecordError) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range errs {
		if o := e.Origin.String(); !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return out
}
