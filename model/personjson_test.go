package model

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// sameAsJSON checks UnmarshalPerson against json.Unmarshal on one input:
// both fail, or both give the same Person.
func sameAsJSON(t *testing.T, data []byte) {
	t.Helper()
	var want, got Person
	werr := json.Unmarshal(data, &want)
	gerr := UnmarshalPerson(data, &got, &Interner{})
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: error %v, json.Unmarshal's %v", data, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", data, got, want)
	}
}

var fullPerson = Person{Key: "E0000001", UserID: "zhangsan", Name: "张三", Position: "工程师", Mobile: "+86 13800000001",
	Email: "z@example.com", Gender: GenderMale, Departments: []string{"总部/研发", "总部/销售"}, DirectLeaders: []string{"lisi"}, Enabled: true,
	Origin: Origin{Source: "hr", Locator: "employees.csv:2"}}.With(PersonMore{Alias: "Sam", BizMail: "z@corp.example",
	Telephone: "010-1234", MainDepartment: "总部/研发", LeaderOf: []string{"总部/研发"},
	ExtAttrs: []ExtAttr{{Name: "工位", Value: "A-1"}, {Name: "x", Value: ""}}})

// TestPersonJSONKeepsItsForm: a Person's JSON is byte for byte what it was
// when every field was Person's own (the strings below were written by
// json.Marshal of that Person), so stored shadows and plan files read and
// compare as before; and it reads back to an equal Person.
func TestPersonJSONKeepsItsForm(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Person
		want string
	}{
		{"every field", fullPerson, `{"key":"E0000001","userid":"zhangsan","name":"张三","alias":"Sam","position":"工程师","mobile":"+86 13800000001","email":"z@example.com","biz_mail":"z@corp.example","telephone":"010-1234","gender":"1","departments":["总部/研发","总部/销售"],"main_department":"总部/研发","leader_of":["总部/研发"],"direct_leaders":["lisi"],"enabled":true,"extattrs":[{"name":"工位","value":"A-1"},{"name":"x","value":""}],"origin":{"Source":"hr","Locator":"employees.csv:2"}}`},
		{"a zero person", Person{}, `{"key":"","userid":"","name":"","enabled":false,"origin":{"Source":"","Locator":""}}`},
		{"escapes, and empty lists omitted", Person{Key: "a<b>&", Name: "\u2028x\xff"}.With(PersonMore{LeaderOf: []string{}, ExtAttrs: []ExtAttr{}}),
			`{"key":"a\u003cb\u003e\u0026","userid":"","name":"\u2028x\ufffd","enabled":false,"origin":{"Source":"","Locator":""}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for how, v := range map[string]any{"a value": tc.p, "a pointer": &tc.p, "an element": []Person{tc.p}, "a field": struct{ P Person }{tc.p}} {
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if got := string(b); !strings.Contains(got, tc.want) {
					t.Errorf("as %s:\n got %s\nwant %s", how, got, tc.want)
				}
			}
			var back Person
			if err := json.Unmarshal([]byte(tc.want), &back); err != nil {
				t.Fatal(err)
			}
			again, _ := json.Marshal(back)
			var twice Person
			if err := json.Unmarshal(again, &twice); err != nil || !reflect.DeepEqual(twice, back) {
				t.Errorf("read back, written and read again: %#v (%v), want %#v", twice, err, back)
			}
		})
	}
}

// TestPersonMoreIsNeverWrittenThrough: copies of a Person share its
// PersonMore, so a setter on one must leave the other as it was; and a
// PersonMore set back to all zero is nil again, so that equal Persons are
// deeply equal.
func TestPersonMoreIsNeverWrittenThrough(t *testing.T) {
	a := fullPerson
	b := a
	b.SetAlias("other")
	b.SetLeaderOf(nil)
	if a.Alias() != "Sam" || len(a.LeaderOf()) != 1 {
		t.Fatalf("a setter on a copy changed the original: alias %q, leader_of %v", a.Alias(), a.LeaderOf())
	}
	if b.Alias() != "other" || b.LeaderOf() != nil || b.Telephone() != "010-1234" {
		t.Fatalf("copy: alias %q, leader_of %v, telephone %q", b.Alias(), b.LeaderOf(), b.Telephone())
	}
	c := Person{Key: "e1"}
	c.SetTelephone("010-1")
	c.SetTelephone("")
	if !reflect.DeepEqual(c, Person{Key: "e1"}) {
		t.Fatalf("set and cleared: %#v, want the zero PersonMore nil", c)
	}
	var z Person
	if z.Alias() != "" || z.BizMail() != "" || z.Telephone() != "" ||
		z.MainDepartment() != "" || z.LeaderOf() != nil || z.ExtAttrs() != nil {
		t.Fatal("a zero Person reads as not zero")
	}
}

func TestUnmarshalPersonIsJSONUnmarshal(t *testing.T) {
	full, _ := json.Marshal(fullPerson)
	minimal, _ := json.Marshal(Person{})
	for _, tc := range []struct {
		name string
		data string
	}{
		{"every field, as json.Marshal writes it", string(full)},
		{"a zero person", string(minimal)},
		{"an empty object", `{}`},
		{"white space between tokens", " {\n \"key\" : \"E1\" ,\t\"enabled\" : true ,\"departments\" : [ \"a\" , \"b\" ] }\r\n"},
		{"an escaped quote in a name", `{"key":"E1","name":"a\"b"}`},
		{"an escaped unicode character", `{"name":"\u5f20\u4e09","departments":["\u003cdiv\u003e"]}`},
		{"a raw line separator", "{\"name\":\"a\u2028b\"}"},
		{"invalid UTF-8 in a value", "{\"name\":\"a\xffb\"}"},
		{"invalid UTF-8 in a department", "{\"departments\":[\"\xe5\xbc\"]}"},
		{"a control character in a value", "{\"name\":\"a\tb\"}"},
		{"an unknown key", `{"key":"E1","nickname":"x"}`},
		{"a key in other case", `{"Key":"E1","USERID":"u"}`},
		{"origin keys in lower case", `{"origin":{"source":"hr","locator":"f:1"}}`},
		{"null values", `{"key":null,"departments":null,"origin":null,"extattrs":null}`},
		{"empty lists", `{"departments":[],"extattrs":[],"direct_leaders":[]}`},
		{"a key twice", `{"key":"E1","key":"E2"}`},
		{"origin twice, merged by json", `{"origin":{"Source":"hr"},"origin":{"Locator":"f:1"}}`},
		{"extattrs twice", `{"extattrs":[{"name":"a","value":"1"}],"extattrs":[{"name":"b"}]}`},
		{"a number for enabled", `{"enabled":1}`},
		{"a string for enabled", `{"enabled":"true"}`},
		{"a number for a name", `{"name":12}`},
		{"null for the person", `null`},
		{"a list for the person", `[]`},
		{"trailing garbage", `{"key":"E1"}x`},
		{"two objects", `{"key":"E1"}{"key":"E2"}`},
		{"cut short in a string", `{"key":"E1`},
		{"cut short after a comma", `{"key":"E1",`},
		{"a trailing comma", `{"key":"E1",}`},
		{"a trailing comma in a list", `{"departments":["a",]}`},
		{"missing colon", `{"key" "E1"}`},
		{"tru", `{"enabled":tru}`},
		{"empty input", ``},
	} {
		t.Run(tc.name, func(t *testing.T) { sameAsJSON(t, []byte(tc.data)) })
	}
}

// TestUnmarshalPersonRandom round-trips random people whose text draws on
// everything json.Marshal escapes or replaces.
func TestUnmarshalPersonRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "0", " ", "张", "三", "研发", "/", "é", "😀", "\"", "\\", "<", ">", "&", "\u2028", "\t", "\n", "\x00", "\xff", "\xe5\xbc"}
	plain := 10 // alphabet[:plain] is read directly, the rest through json.Unmarshal
	var letters []string
	text := func() string { return randText(r, letters, 6) }
	list := func() []string {
		var l []string
		for n := r.IntN(3); n > 0; n-- {
			l = append(l, text())
		}
		return l
	}
	for i := 0; i < 20000; i++ {
		letters = alphabet
		if i%2 == 0 {
			letters = alphabet[:plain]
		}
		p := Person{Key: text(), UserID: text(), Name: text(), Position: text(), Mobile: text(), Email: text(),
			Departments: list(), DirectLeaders: list(), Enabled: r.IntN(2) == 0, Origin: Origin{Source: text(), Locator: text()}}
		p.Gender = Gender(text())
		more := PersonMore{Alias: text(), BizMail: text(), Telephone: text(),
			MainDepartment: text(), LeaderOf: list()}
		for n := r.IntN(3); n > 0; n-- {
			more.ExtAttrs = append(more.ExtAttrs, ExtAttr{Name: text(), Value: text()})
		}
		p.SetMore(more)
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		sameAsJSON(t, data)
	}
}

func TestUnmarshalPersonInternsSharedValues(t *testing.T) {
	var in Interner
	var a, b Person
	for _, x := range []struct {
		p    *Person
		data string
	}{
		{&a, `{"key":"E1","position":"工程师","departments":["总部/研发"],"direct_leaders":["lisi"],"origin":{"Source":"hr","Locator":"f:2"}}`},
		{&b, `{"key":"E2","position":"工程师","departments":["总部/研发"],"direct_leaders":["lisi"],"origin":{"Source":"hr","Locator":"f:3"}}`},
	} {
		if err := UnmarshalPerson([]byte(x.data), x.p, &in); err != nil {
			t.Fatal(err)
		}
	}
	same := func(s, t string) bool { return unsafe.StringData(s) == unsafe.StringData(t) }
	if !same(a.Position, b.Position) || !same(a.Departments[0], b.Departments[0]) || !same(a.DirectLeaders[0], b.DirectLeaders[0]) ||
		!same(a.Origin.Source, b.Origin.Source) {
		t.Errorf("shared values are held twice: %+v %+v", a, b)
	}
	if a.Key != "E1" || b.Key != "E2" || a.Origin.Locator != "f:2" || b.Origin.Locator != "f:3" {
		t.Errorf("decoded %+v %+v", a, b)
	}
}

func FuzzUnmarshalPerson(f *testing.F) {
	full, _ := json.Marshal(fullPerson)
	f.Add(full)
	f.Add([]byte(`{"key":"E1","origin":{"Source":"hr"},"origin":{"Locator":"x"}}`))
	f.Add([]byte(`{"name":"a\"b","departments":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) { sameAsJSON(t, data) })
}

func BenchmarkUnmarshalPerson(b *testing.B) {
	data, _ := json.Marshal(fullPerson)
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var p Person
			if err := json.Unmarshal(data, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UnmarshalPerson", func(b *testing.B) {
		var in Interner
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var p Person
			if err := UnmarshalPerson(data, &p, &in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// sameAsReflection checks that p's JSON, written by hand, is what
// encoding/json writes of its personWire, with HTML escaping off (as the
// plan's encoder) and on (json.Marshal).
func sameAsReflection(t *testing.T, p Person) {
	t.Helper()
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p.wire()); err != nil {
		t.Fatal(err)
	}
	if got := p.AppendJSON(nil); !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte{'\n'})) {
		t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want.Bytes())
	}
	got, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := json.Marshal(p.wire()); !bytes.Equal(got, w) {
		t.Fatalf("json.Marshal:\n got %s\nwant %s", got, w)
	}
}

func TestPersonJSONIsReflections(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "Z", "张", "三", " ", "\"", "\\", "/", "<", ">", "&", "\u2028", "\u2029", "\x00", "\x01", "\x1f",
		"\b", "\f", "\n", "\r", "\t", "\x7f", "\xff", "\xe4\xb8", "é", "😀", "\ufffd"}
	text := func() string { return randText(r, pieces, 5) }
	list := func() []string {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		var l []string
		for n := 1 + r.IntN(3); n > 0; n-- {
			l = append(l, text())
		}
		return l
	}
	for i := 0; i < 20000; i++ {
		p := Person{Key: text(), UserID: text(), Name: text(), Position: text(), Mobile: text(), Email: text(),
			Departments: list(), DirectLeaders: list(), Enabled: r.IntN(2) == 0, Origin: Origin{Source: text(), Locator: text()}}
		if r.IntN(2) == 0 {
			p.Gender = Gender(text())
			more := PersonMore{Alias: text(), BizMail: text(), Telephone: text(),
				MainDepartment: text(), LeaderOf: list()}
			if r.IntN(2) == 0 {
				more.ExtAttrs = []ExtAttr{}
				for n := r.IntN(3); n > 0; n-- {
					more.ExtAttrs = append(more.ExtAttrs, ExtAttr{Name: text(), Value: text()})
				}
			}
			p.SetMore(more)
		}
		sameAsReflection(t, p)
	}
}

func FuzzPersonJSON(f *testing.F) {
	f.Add("E1", "张三", "a\u2028<b>\xff", "\x01\"\\")
	f.Fuzz(func(t *testing.T, key, name, alias, ext string) {
		p := Person{Key: key, Name: name, Departments: []string{name, alias}}.With(PersonMore{Alias: alias,
			ExtAttrs: []ExtAttr{{Name: ext, Value: key}}})
		sameAsReflection(t, p)
	})
}

// randText joins fewer than max pieces drawn at random.
func randText(r *rand.Rand, pieces []string, max int) string {
	var b strings.Builder
	for n := r.IntN(max); n > 0; n-- {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}
