package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/model"
)

func writeJSON(t *testing.T, c *Changes, prefix, indent string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := c.WriteJSON(&b, prefix, indent); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func mustDigest(t *testing.T, c *Changes) []byte {
	t.Helper()
	sum, err := Digest(c)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// htmlPlan has the characters an encoder may escape, in every place a
// string goes.
func htmlPlan() *Changes {
	p := &model.Person{UserID: "a&b", Name: "<script>alert('张')</script>", Position: "\"q\" \\ \t"}
	p.SetAlias("\u2028\u2029")
	return &Changes{
		UserCreates: []UserChange{{Op: OpUserCreate, UserID: p.UserID, After: p, Reason: "<new> & 新"}},
		RekeyDepts:  map[string]string{"<a>": "&b", "总部": "总部/新"},
		Held:        []Held{{Op: OpUserDelete, Object: "</held>", Reason: "&amp;"}},
	}
}

func TestDigestJSONIsTheDigestOfThePlanTheFileHolds(t *testing.T) {
	every := everyKind()
	compact := writeJSON(t, every, "", "")
	marshalIndent, _ := json.MarshalIndent(every, "", "  ") // HTML escaped: \u003c
	noNotices := *every
	noNotices.Notices = nil
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"every kind, compact", compact},
		{"every kind, --indent", writeJSON(t, every, "", "  ")},
		{"every kind, a prefix and tabs", writeJSON(t, every, "  ", "\t")},
		{"every kind, json.MarshalIndent with HTML escaped", marshalIndent},
		{"every kind, no notices", writeJSON(t, &noNotices, "", "")},
		{"every kind, a trailing newline", append(bytes.Clone(compact), "\n\n"...)},
		{"CJK and HTML characters, compact", writeJSON(t, htmlPlan(), "", "")},
		{"CJK and HTML characters, --indent", writeJSON(t, htmlPlan(), "", "  ")},
		{"an empty plan", writeJSON(t, &Changes{}, "", "")},
		{"an empty plan, --indent", writeJSON(t, &Changes{}, "", "  ")},
		{"an empty object", []byte(`{}`)},
		{"only notices", []byte(`{"notices":[{"object":"root","msg":"not owned"}]}`)},
		{"notices first", append([]byte(`{"notices":[{"object":"x","msg":"y"}],`), compact[1:]...)},
		{"notices last", append(bytes.TrimSuffix(bytes.Clone(compact), []byte("}")), `,"notices":[{"object":"x","msg":"y"}]}`...)},
		{"notices given twice", []byte(`{"notices":[{"msg":"a"}],"held":[{"op":"x"}],"notices":null,"unowned":1,"notices":[]}`)},
		{"members in another case", bytes.Replace(compact, []byte(`"user_creates"`), []byte(`"User_CREATES"`), 1)},
		{"an unknown member", append([]byte(`{"comment":{"by":["me",{"at":[1,2]}]},"x":null,`), compact[1:]...)},
		{"an unknown member in a change", []byte(`{"user_creates":[{"op":"user_create","userid":"a","extra":{"n":[1]}}]}`)},
		{"null lists", []byte(`{"user_creates":null,"held":[],"unowned":1}`)},
		{"empty lists and a map", []byte(`{"department_creates":[],"rekey_departments":{"b":"c","a":"b"},"unowned":0}`)},
		{"no unowned", []byte(`{"held":[{"op":"user_delete","object":"lisi","reason":"r"}]}`)},
		{"unowned null", []byte(`{"held":[{"op":"a"}],"unowned":null}`)},
		{"null elements", []byte(`{"user_creates":[null,{"userid":"a"}],"forget_members":[null,"b"]}`)},
		{"a change with its fields in another order", []byte(`{"user_creates":[{"reason":"r","userid":"a","op":"user_create","after":{"name":"甲","userid":"a"}}]}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ReadJSON(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var u Changes
			if err := json.Unmarshal(tc.file, &u); err != nil {
				t.Fatal(err)
			}
			got, err := DigestJSON(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatalf("DigestJSON: %v", err)
			}
			if want := mustDigest(t, c); !bytes.Equal(got.Sum, want) {
				t.Errorf("DigestJSON = %x, Digest of the plan ReadJSON reads = %x", got.Sum, want)
			}
			if want := mustDigest(t, &u); !bytes.Equal(got.Sum, want) {
				t.Errorf("DigestJSON = %x, Digest of the plan json.Unmarshal reads = %x", got.Sum, want)
			}
			if !reflect.DeepEqual(got.Counts, c.Counts()) {
				t.Errorf("DigestJSON counts %v, the plan counts %v", got.Counts, c.Counts())
			}
		})
	}
	if got, _ := DigestJSON(bytes.NewReader(compact)); !bytes.Equal(got.Sum, mustDigest(t, every)) {
		t.Errorf("the digest of WriteJSON's file is not the Digest of the plan written")
	}
}

func TestDigestJSONTellsChangedPlansApart(t *testing.T) {
	base := writeJSON(t, everyKind(), "", "")
	want, err := DigestJSON(bytes.NewReader(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		old, new string
		same     bool
	}{
		{"a character of a name", `"name":"张三"`, `"name":"张四"`, false},
		{"one byte of a reason", `"reason":"moved"`, `"reason":"moves"`, false},
		{"an adopt flag", `"adopt":true`, `"adopt":false`, false},
		{"a department id", `"id":12`, `"id":13`, false},
		{"the unowned count", `"unowned":3`, `"unowned":4`, false},
		{"a re-keyed department", `"a":"b"`, `"a":"c"`, false},
		{"a change fewer", `,{"op":"user_create","userid":"wangwu"`, `],"x":[{"op":"user_create","userid":"wangwu"`, false},
		{"a held change's object", `"object":"lisi"`, `"object":"lisj"`, false},
		{"a notice", `"msg":"not owned: left as is"`, `"msg":"other"`, true},
		{"an escaped character", `"name":"张三"`, `"name":"\u5f20三"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(base), tc.old) {
				t.Fatalf("the file has no %s", tc.old)
			}
			file := strings.Replace(string(base), tc.old, tc.new, 1)
			got, err := DigestJSON(strings.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			if same := bytes.Equal(got.Sum, want.Sum); same != tc.same {
				t.Fatalf("same digest = %v, want %v", same, tc.same)
			}
		})
	}
}

func TestDigestJSONRefusesWhatReadJSONRefuses(t *testing.T) {
	whole := string(writeJSON(t, everyKind(), "", ""))
	for _, tc := range []struct {
		name, file string
		want       string // in the error
	}{
		{"nothing", ``, "want a JSON object, found nothing"},
		{"white space", " \n", "want a JSON object, found nothing"},
		{"an array", `[{"unowned":1}]`, "want a JSON object, found ["},
		{"not JSON", `plan: 3 changes`, "invalid character 'p' looking for beginning of value (at byte 0)"},
		{"truncated", whole[:len(whole)/2], "unexpected EOF"},
		{"cut at the end", whole[:len(whole)-1], "unexpected EOF"},
		{"cut after a member name", `{"held"`, "unexpected EOF"},
		{"trailing data", whole + `{"unowned":1}`, "unexpected { after the plan, which ends at byte"},
		{"trailing garbage", whole + `x`, "after the plan: invalid character 'x'"},
		{"a list not a list", `{"user_creates":{"op":"user_create"}}`, "user_creates: want an array, found {"},
		{"a wrong type", `{"unowned":"two"}`, "unowned: json: cannot unmarshal string"},
		{"a wrong type in a change", `{"user_creates":[{"userid":"a"},{"userid":7}]}`, "user_creates: element 1: json: cannot unmarshal number"},
		{"bad syntax in a change", `{"held":[{"op":"a"},{"op":"b",}]}`, "held: element 1: invalid character '}' looking for beginning of object key string (in the value from byte 19)"},
		{"a wrong type in a notice", `{"notices":[{"msg":1}]}`, "notices: element 0: json: cannot unmarshal number"},
		{"bad syntax in an unknown member", `{"x":[1,,2],"unowned":1}`, "x: invalid character ','"},
		{"a member name not a string", `{unowned:1}`, "invalid character 'u' (at byte 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var u Changes
			if json.Unmarshal([]byte(tc.file), &u) == nil {
				t.Fatalf("json.Unmarshal accepts %q: the case tests nothing", tc.file)
			}
			_, rerr := ReadJSON(strings.NewReader(tc.file))
			_, derr := DigestJSON(strings.NewReader(tc.file))
			if rerr == nil || derr == nil {
				t.Fatalf("ReadJSON: %v, DigestJSON: %v; want both to refuse", rerr, derr)
			}
			if rerr.Error() != derr.Error() {
				t.Errorf("ReadJSON says %q, DigestJSON %q", rerr, derr)
			}
			if !strings.Contains(derr.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", derr, tc.want)
			}
		})
	}
}

func TestDigestJSONRefusesMembersOutOfOrder(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"a member before one it follows", `{"unowned":1,"held":[]}`, "held after unowned"},
		{"a list given twice", `{"held":[{"op":"a"}],"held":[{"op":"c"}]}`, "held after held"},
		{"lists in apply order, not field order", `{"user_deletes":[],"department_deletes":[],"user_moves":[]}`, "user_moves after department_deletes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadJSON(strings.NewReader(tc.file)); err != nil {
				t.Fatalf("ReadJSON refuses the file: %v", err)
			}
			_, err := DigestJSON(strings.NewReader(tc.file))
			if !errors.Is(err, ErrMemberOrder) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DigestJSON: %v, want ErrMemberOrder saying %q", err, tc.want)
			}
		})
	}
}

func TestDigestLeavesNoticesOut(t *testing.T) {
	with, without := everyKind(), everyKind()
	without.Notices = nil
	if !bytes.Equal(mustDigest(t, with), mustDigest(t, without)) {
		t.Error("notices change the digest")
	}
	if with.Notices == nil {
		t.Error("Digest cleared the plan's notices")
	}
	other := everyKind()
	other.UserCreates[1].Reason += "."
	if bytes.Equal(mustDigest(t, with), mustDigest(t, other)) {
		t.Error("a changed reason leaves the digest as it was")
	}
}
