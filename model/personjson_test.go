package model

import (
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

var fullPerson = Person{Key: "E0000001", UserID: "zhangsan", Name: "张三", Alias: "Sam", Position: "工程师", Mobile: "+86 13800000001",
	Email: "z@example.com", BizMail: "z@corp.example", Telephone: "010-1234", Gender: GenderMale,
	Departments: []string{"总部/研发", "总部/销售"}, MainDepartment: "总部/研发", LeaderOf: []string{"总部/研发"},
	DirectLeaders: []string{"lisi"}, Enabled: true, ExtAttrs: []ExtAttr{{Name: "工位", Value: "A-1"}, {Name: "x", Value: ""}},
	Origin: Origin{Source: "hr", Locator: "employees.csv:2"}}

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
	text := func() string {
		var b strings.Builder
		for n := r.IntN(6); n > 0; n-- {
			b.WriteString(letters[r.IntN(len(letters))])
		}
		return b.String()
	}
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
		p := Person{Key: text(), UserID: text(), Name: text(), Alias: text(), Position: text(), Mobile: text(), Email: text(),
			BizMail: text(), Telephone: text(), Gender: Gender(text()), Departments: list(), MainDepartment: text(),
			LeaderOf: list(), DirectLeaders: list(), Enabled: r.IntN(2) == 0, Origin: Origin{Source: text(), Locator: text()}}
		for n := r.IntN(3); n > 0; n-- {
			p.ExtAttrs = append(p.ExtAttrs, ExtAttr{Name: text(), Value: text()})
		}
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
