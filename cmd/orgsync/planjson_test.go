package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/mapping"
	"github.com/orgsync/orgsync/model"
	"github.com/orgsync/orgsync/plan"
)

// reviewedPlan has every kind of change and every other field of
// plan.Changes set.
func reviewedPlan() *plan.Changes {
	o := model.Origin{Source: "hr", Locator: "员工.csv:7"}
	p := &model.Person{Key: "E1", UserID: "zhangsan", Name: "张三 <&>", Departments: []string{"总部/研发"}, DirectLeaders: []string{"lisi"},
		Enabled: true, Origin: o}
	p.SetExtAttrs([]model.ExtAttr{{Name: "工位", Value: "A\u20281"}})
	q := *p
	q.Position = "主管"
	d := &model.Department{Key: "总部/研发", Name: "研发", ParentKey: "总部", Order: 9, ID: 10, Origin: o}
	u := func(op plan.Op) []plan.UserChange {
		return []plan.UserChange{{Op: op, UserID: "zhangsan", Key: "E1", Before: p, After: &q, Fields: []string{"position"}, Reason: string(op), Origin: o}}
	}
	dc := func(op plan.Op) []plan.DeptChange {
		return []plan.DeptChange{{Op: op, Key: d.Key, ID: 10, Before: d, After: d, What: []string{"name"}, Adopt: true, Reason: string(op), Origin: o}}
	}
	return &plan.Changes{
		DeptCreates: dc(plan.OpDeptCreate), DeptUpdates: dc(plan.OpDeptUpdate), DeptDeletes: dc(plan.OpDeptDelete),
		UserCreates: append(u(plan.OpUserCreate), plan.UserChange{Op: plan.OpUserCreate, UserID: "wangwu", After: &model.Person{UserID: "wangwu"}, Adopt: true}),
		UserUpdates: u(plan.OpUserUpdate), UserMoves: u(plan.OpUserMove), UserEnables: u(plan.OpUserEnable),
		UserDisables: u(plan.OpUserDisable), UserDeletes: u(plan.OpUserDelete),
		ForgetMembers: []string{"gone"}, ForgetDepts: []string{"总部/旧"}, RekeyDepts: map[string]string{"总部/研发": "总部/技术"},
		Held:    []plan.Held{{Op: plan.OpUserDelete, Object: "lisi", Reason: "over max_deletes"}},
		Notices: []plan.Notice{{Object: "admin", Msg: "not owned"}},
		Unowned: 2,
	}
}

func TestReviewedPlanSetsEveryField(t *testing.T) {
	v := reflect.ValueOf(reviewedPlan()).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("reviewedPlan leaves Changes.%s empty", v.Type().Field(i).Name)
		}
	}
}

func TestReadPlanDecodesWhatUnmarshalDecodes(t *testing.T) {
	want := reviewedPlan()
	indented, _ := json.MarshalIndent(want, "", "  ") // the files earlier versions saved
	var streamed, streamedIndented bytes.Buffer
	must(t, want.WriteJSON(&streamed, "", ""))
	must(t, want.WriteJSON(&streamedIndented, "", "  "))
	for name, file := range map[string][]byte{
		"compact":                    streamed.Bytes(),
		"--indent":                   streamedIndented.Bytes(),
		"an earlier version's":       indented,
		"members in another case":    bytes.Replace(streamed.Bytes(), []byte(`"user_creates"`), []byte(`"User_Creates"`), 1),
		"an unknown member":          append([]byte(`{"comment":{"by":["me"]},`), streamed.Bytes()[1:]...),
		"a trailing newline":         append(bytes.Clone(streamed.Bytes()), "\n\n"...),
		"null lists":                 []byte(`{"user_creates":null,"held":[],"unowned":1}`),
		"a list given twice":         []byte(`{"held":[{"op":"a"},{"op":"b"}],"held":[{"op":"c"}]}`),
		"empty":                      []byte(`{}`),
		"every list empty and a map": []byte(`{"department_creates":[],"rekey_departments":{"a":"b"},"unowned":0}`),
	} {
		t.Run(name, func(t *testing.T) {
			var u plan.Changes
			must(t, json.Unmarshal(file, &u))
			got, err := readPlan(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, &u) {
				t.Fatalf("readPlan = %+v\njson.Unmarshal = %+v", *got, u)
			}
			if strings.HasPrefix(name, "compact") || strings.HasPrefix(name, "--indent") || strings.HasPrefix(name, "an earlier") {
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("readPlan = %+v\nwant %+v", *got, *want)
				}
			}
		})
	}
}

func TestReadPlanRefusesWhatUnmarshalRefuses(t *testing.T) {
	var b bytes.Buffer
	must(t, reviewedPlan().WriteJSON(&b, "", ""))
	whole := b.String()
	for name, file := range map[string]string{
		"truncated":         whole[:len(whole)/2],
		"cut at the end":    whole[:len(whole)-1],
		"trailing data":     whole + `{"unowned":1}`,
		"an array":          `[{"unowned":1}]`,
		"a list not a list": `{"user_creates":{"op":"user_create"}}`,
		"a wrong type":      `{"unowned":"two"}`,
		"not JSON":          `plan: 3 changes`,
		"nothing":           ``,
	} {
		t.Run(name, func(t *testing.T) {
			var u plan.Changes
			if json.Unmarshal([]byte(file), &u) == nil {
				t.Fatalf("json.Unmarshal accepts %q: the case tests nothing", file)
			}
			if c, err := readPlan(strings.NewReader(file)); err == nil {
				t.Fatalf("readPlan accepted %q as %+v", file, *c)
			}
		})
	}
}

func TestPlanOutputJSONIsTheDocumentedObject(t *testing.T) {
	p := &engine.Prepared{
		Changes:  reviewedPlan(),
		Rejected: []mapping.RecordError{{Origin: model.Origin{Source: "hr", Locator: "a.csv:3"}, Key: "E9", Field: "mobile", Value: "x<y"}},
		Problems: []string{"hr: incomplete"},
		Refusal:  &plan.RefusedError{Reason: "too many disables"},
	}
	for _, tc := range []struct {
		name string
		p    *engine.Prepared
	}{{"everything", p}, {"nothing rejected", &engine.Prepared{Changes: &plan.Changes{}}}} {
		// What earlier versions printed, indented; --indent prints the same
		// bytes and the default the same object compact.
		var old bytes.Buffer
		writeJSON(&old, map[string]any{"changes": tc.p.Changes, "rejected": tc.p.Rejected, "source_problems": tc.p.Problems, "refusal": refusalText(tc.p.Refusal)})
		var indented, compact bytes.Buffer
		must(t, writePlanJSON(&indented, tc.p, true))
		must(t, writePlanJSON(&compact, tc.p, false))
		if indented.String() != old.String() {
			t.Errorf("%s: --indent prints\n%s\nwant\n%s", tc.name, indented.String(), old.String())
		}
		var want bytes.Buffer
		must(t, json.Compact(&want, old.Bytes()))
		if got := strings.TrimSuffix(compact.String(), "\n"); got != want.String() || strings.Count(compact.String(), "\n") != 1 {
			t.Errorf("%s: --output json prints\n%s\nwant one line\n%s", tc.name, compact.String(), want.String())
		}
	}
}

func TestLoadPlanIsTheDigestOfTheReviewedPlan(t *testing.T) {
	want := engine.PlanDigest(reviewedPlan())
	var compact, indented bytes.Buffer
	must(t, reviewedPlan().WriteJSON(&compact, "", ""))
	must(t, reviewedPlan().WriteJSON(&indented, "", "  "))
	earlier, _ := json.MarshalIndent(reviewedPlan(), "", "  ")
	// "unowned" is the last member plan --out writes; moved first, the
	// digest needs the whole plan.
	unownedFirst := `{"unowned":2,` + strings.Replace(compact.String()[1:], `,"unowned":2`, "", 1)
	dir := t.TempDir()
	for _, tc := range []struct{ name, file string }{
		{"compact, as plan --out writes it", compact.String() + "\n"},
		{"--indent", indented.String() + "\n"},
		{"an earlier version's", string(earlier)},
		{"members out of order", unownedFirst},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "plan.json")
			must(t, os.WriteFile(path, []byte(tc.file), 0o600))
			got, err := loadPlan(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("loadPlan = %x, want engine.PlanDigest of the plan %x", got, want)
			}
		})
	}
	if !strings.HasPrefix(unownedFirst, `{"unowned":2,"department_creates"`) || strings.Count(unownedFirst, "unowned") != 1 {
		t.Fatalf("the out-of-order file is %s", unownedFirst)
	}
}

func TestLoadPlanErrorsNameTheFileAndTheProblem(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	must(t, reviewedPlan().WriteJSON(&b, "", ""))
	whole := b.String()
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"truncated", whole[:len(whole)/2], []string{"unexpected EOF"}},
		{"a wrong type in a change", `{"user_creates":[{"userid":"a"},{"userid":7}]}`, []string{"user_creates: element 1: json: cannot unmarshal number"}},
		{"a wrong type out of order", `{"unowned":1,"held":[{"op":7}]}`, []string{"held: element 0: json: cannot unmarshal number"}},
		{"not JSON", "plan: 3 changes", []string{"invalid character 'p'", "at byte 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			must(t, os.WriteFile(path, []byte(tc.file), 0o600))
			_, err := loadPlan(path)
			if err == nil {
				t.Fatal("loadPlan accepted the file")
			}
			for _, w := range append(tc.want, "plan file "+path+": ") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := loadPlan(filepath.Join(dir, "none.json")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("a missing file: %v", err)
	}
}

// sync --plan applies a reviewed plan whatever its layout and refuses,
// writing nothing, when the plan or the world changed since.
func TestSyncPlanAppliesTheReviewedFileAndRefusesDrift(t *testing.T) {
	// No commas in the names: the config holds the test's directory in a
	// YAML flow mapping.
	for _, tc := range []struct {
		name    string
		indent  bool
		edit    func(file string) string // the file after the review
		people  int                      // in HR at sync time (5 at review)
		code    int
		say     string
		created int
	}{
		{name: "compact as plan --out writes it", people: 5, code: ExitOK, created: 5},
		{name: "--indent", indent: true, people: 5, code: ExitOK, created: 5},
		{name: "members out of order", people: 5, code: ExitOK, created: 5, edit: func(f string) string {
			return `{"unowned":0,` + strings.Replace(f[1:], `,"unowned":0`, "", 1)
		}},
		{name: "notices added", people: 5, code: ExitOK, created: 5, edit: func(f string) string {
			return `{"notices":[{"object":"root","msg":"不是我们的 <b>"}],` + f[1:]
		}},
		{name: "HR changed since", people: 6, code: ExitRefused, say: "no longer matches"},
		{name: "a change edited in the file", indent: true, people: 5, code: ExitRefused, say: "no longer matches", edit: func(f string) string {
			return strings.Replace(f, "员工3", "员工X", 1)
		}},
		{name: "a cut file", people: 5, code: ExitUsage, say: "unexpected EOF", edit: func(f string) string { return f[:len(f)/2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en := newCLIEnv(t, 5)
			planFile := filepath.Join(en.dir, "plan.json")
			args := []string{"plan", "-c", en.cfg, "--out", planFile}
			if tc.indent {
				args = append(args, "--indent")
			}
			if out, code := run(t, args...); code != ExitOK {
				t.Fatalf("plan exit %d: %s", code, out)
			}
			if tc.edit != nil {
				b, err := os.ReadFile(planFile)
				must(t, err)
				edited := tc.edit(string(b))
				if edited == string(b) {
					t.Fatal("the edit changes nothing")
				}
				must(t, os.WriteFile(planFile, []byte(edited), 0o600))
			}
			en.writePeople(t, tc.people)
			out, code := run(t, "sync", "-c", en.cfg, "--plan", planFile)
			if code != tc.code || !strings.Contains(out, tc.say) {
				t.Fatalf("sync --plan exit %d, want %d saying %q: %s", code, tc.code, tc.say, out)
			}
			if tc.code == ExitUsage && !strings.Contains(out, "plan file "+planFile) {
				t.Errorf("the error does not name the file: %s", out)
			}
			if n := len(en.emu.State().Users); n != tc.created {
				t.Fatalf("users in WeCom = %d, want %d", n, tc.created)
			}
		})
	}
}
