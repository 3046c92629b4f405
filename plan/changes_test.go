package plan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/orgsync/orgsync/model"
)

// everyKind is a plan with every kind of change and every other field of
// Changes set, with the characters JSON encoders treat specially (CJK,
// <>&, U+2028, quotes, a backslash).
func everyKind() *Changes {
	origin := model.Origin{Source: "hr", Locator: "员工.csv:12"}
	zhang := new(model.Person{Key: "E001", UserID: "zhangsan", Name: "张三", Position: "工程师\u2028\"主管\"",
		Mobile: "+86 13800138000", Email: "zhangsan@example.com", Gender: "1", Departments: []string{"总部/研发", "总部/销售"},
		DirectLeaders: []string{"lisi"}, Enabled: true, Origin: origin}.With(model.PersonMore{Alias: "Sam <ops> & co",
		BizMail: "zs@corp.example.com", Telephone: "010-1234\\5678", MainDepartment: "总部/研发",
		LeaderOf: []string{"总部/研发"}, ExtAttrs: []model.ExtAttr{{Name: "工位", Value: "A-1"}}}))
	moved := *zhang
	moved.Departments = []string{"总部/销售"}
	off := *zhang
	off.Enabled = false
	rd := &model.Department{Key: "总部/研发", Name: "研发", ParentKey: "总部", Order: 100, ID: 10, ParentID: 2, Origin: origin}
	rd2 := *rd
	rd2.Name = "研发中心"
	return &Changes{
		DeptCreates:   []DeptChange{{Op: OpDeptCreate, Key: rd.Key, ID: 10, After: rd, Reason: "new in the source", Origin: origin}},
		DeptUpdates:   []DeptChange{{Op: OpDeptUpdate, Key: rd.Key, ID: 10, Before: rd, After: &rd2, What: []string{"name"}, Reason: "renamed"}},
		UserCreates:   []UserChange{{Op: OpUserCreate, UserID: "zhangsan", Key: "E001", After: zhang, Reason: "new in the source", Origin: origin}, {Op: OpUserCreate, UserID: "wangwu", After: &model.Person{UserID: "wangwu", Name: "王五"}, Adopt: true, Reason: "adopted by userid"}},
		UserUpdates:   []UserChange{{Op: OpUserUpdate, UserID: "zhangsan", Before: zhang, After: zhang, Fields: []string{"position", "mobile"}, Reason: "changed in the source"}},
		UserMoves:     []UserChange{{Op: OpUserMove, UserID: "zhangsan", Before: zhang, After: &moved, Fields: []string{"department"}, Reason: "moved"}},
		UserEnables:   []UserChange{{Op: OpUserEnable, UserID: "zhangsan", Before: &off, After: zhang, Reason: "back in the source"}},
		UserDisables:  []UserChange{{Op: OpUserDisable, UserID: "zhangsan", Before: zhang, Reason: "离职"}},
		UserDeletes:   []UserChange{{Op: OpUserDelete, UserID: "zhangsan", Before: &off, Reason: "disabled for 720h"}},
		DeptDeletes:   []DeptChange{{Op: OpDeptDelete, Key: "总部/旧", ID: 12, Before: rd, Reason: "gone from the source"}},
		ForgetMembers: []string{"gone1", "gone2"},
		ForgetDepts:   []string{"总部/没了"},
		RekeyDepts:    map[string]string{"总部/研发": "总部/技术", "a": "b"},
		Held:          []Held{{Op: OpUserDisable, Object: "lisi", Reason: "source incomplete"}},
		Notices:       []Notice{{Object: "root", Msg: "not owned: left as is"}},
		Unowned:       3,
	}
}

func TestEveryKindSetsEveryField(t *testing.T) {
	v := reflect.ValueOf(everyKind()).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("everyKind leaves Changes.%s empty: set it, so that WriteJSON is tested on it", v.Type().Field(i).Name)
		}
	}
}

func TestWriteJSONStreamsWhatMarshalWrites(t *testing.T) {
	marshal := func(c *Changes, prefix, indent string) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent(prefix, indent)
		if err := enc.Encode(c); err != nil {
			t.Fatal(err)
		}
		return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	}
	for name, c := range map[string]*Changes{"every kind": everyKind(), "empty": {}, "only held": {Held: everyKind().Held}, "an empty list": {UserCreates: []UserChange{}}} {
		for _, layout := range []struct{ prefix, indent string }{{"", ""}, {"", "  "}, {"    ", "\t"}} {
			var b bytes.Buffer
			if err := c.WriteJSON(&b, layout.prefix, layout.indent); err != nil {
				t.Fatal(err)
			}
			if got, want := b.String(), marshal(c, layout.prefix, layout.indent); got != want {
				t.Errorf("%s, indent %q: WriteJSON wrote\n%s\nencoding/json writes\n%s", name, layout.indent, got, want)
			}
			var back Changes
			if err := json.Unmarshal(b.Bytes(), &back); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if name == "every kind" && !reflect.DeepEqual(&back, c) {
				t.Errorf("%s, indent %q: decodes to\n%+v\nwant\n%+v", name, layout.indent, back, *c)
			}
		}
	}
}

func TestWriteJSONEmptyPlan(t *testing.T) {
	var b bytes.Buffer
	if err := (&Changes{}).WriteJSON(&b, "", ""); err != nil {
		t.Fatal(err)
	}
	if b.String() != `{"unowned":0}` {
		t.Fatalf("empty plan = %s", b.String())
	}
}
