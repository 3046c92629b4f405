package client

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// listIDBodies are pages in the forms WeCom and the emulator send and in
// forms the fast path leaves to encoding/json.
var listIDBodies = []string{
	`{"errcode":0,"errmsg":"ok","next_cursor":"c1","dept_user":[{"userid":"zhangsan","department":1},{"userid":"lisi","department":2}]}`,
	`{"dept_user":[{"department":1,"userid":"zhangsan"}],"errcode":0,"errmsg":"ok","next_cursor":""}`,
	`{ "errcode" : 0 , "errmsg" : "ok" , "dept_user" : [ { "userid" : "a" , "department" : 10 } ] }`,
	`{"errcode":0,"errmsg":"ok","dept_user":[]}`,
	`{"errcode":0,"errmsg":"ok"}`,
	`{}`,
	`{"errcode":0,"dept_user":[{"userid":"张三","department":1}]}`,
	`{"errcode":0,"dept_user":[{"userid":"a\u0062c","department":1}]}`,
	`{"errcode":0,"dept_user":[{"userid":"a","department":1,"extra":true}]}`,
	`{"errcode":0,"dept_user":[{"UserID":"a","department":1}]}`,
	`{"errcode":0,"Next_Cursor":"x","dept_user":[]}`,
	`{"errcode":0,"dept_user":null}`,
	`{"errcode":0,"dept_user":[{"userid":"a","department":1.5}]}`,
	`{"errcode":0,"dept_user":[{"userid":"a","department":1e2}]}`,
	`{"errcode":0,"dept_user":[{"userid":"a","department":-3}]}`,
	`{"errcode":0,"dept_user":[{"userid":"a","department":12345678901234567890}]}`,
	`{"errcode":0,"dept_user":[{"userid":"a","department":"1"}]}`,
	`{"errcode":0,"dept_user":[{"userid":1,"department":1}]}`,
	`{"errcode":0,"dept_user":[{"userid":"a","userid":"b","department":1}]}`,
	`{"next_cursor":"a","next_cursor":"b"}`,
	`{"errcode":0,"other":{"x":[1,{"y":"z\"w"}],"n":null,"t":true},"dept_user":[{"userid":"a","department":1}]}`,
	`{"errcode":0,"dept_user":[{"userid":"a\xffb","department":1}]}`,
	`[]`,
}

// TestListIDPageDecodesAsEncodingJSON checks the fast decode against
// encoding/json's decode of the plain struct: the same page, or the same
// error, for every body.
func TestListIDPageDecodesAsEncodingJSON(t *testing.T) {
	for _, body := range listIDBodies {
		t.Run(body, func(t *testing.T) { sameAsEncodingJSON(t, []byte(body)) })
	}
	t.Run("fast path taken for WeCom's shape", func(t *testing.T) {
		var p ListIDPage
		if !decodeListIDPage([]byte(listIDBodies[0]), &p) || len(p.DeptUser) != 2 || p.NextCursor != "c1" {
			t.Fatalf("fast path: %+v", p)
		}
	})
}

func sameAsEncodingJSON(t *testing.T, body []byte) {
	t.Helper()
	type plain ListIDPage
	var want plain
	werr := json.Unmarshal(body, &want)
	var got ListIDPage
	gerr := json.Unmarshal(body, &got)
	if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
		t.Fatalf("%s: error %v, encoding/json %v", body, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(ListIDPage(want), got) {
		t.Fatalf("%s: decoded %+v, encoding/json %+v", body, got, want)
	}
}

func FuzzListIDPage(f *testing.F) {
	for _, b := range listIDBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) || strings.Count(string(body), "[") > 50 {
			return
		}
		sameAsEncodingJSON(t, body)
	})
}
