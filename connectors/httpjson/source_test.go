package httpjson

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

// Every pagination style reads every record exactly once, in order.
func TestPaginationStylesReadEveryRecordOnce(t *testing.T) {
	const n, size = 95, 10
	cases := []struct {
		name   string
		serve  func(h *hr)
		config string // %s is the server's URL
		pages  int64  // requests the read takes
	}{
		{"page with has_more (CoreHR list)", (*hr).pageStyle, `
url: %s/api/v1/employees
pagination: {type: page, size_param: page_size, size: 10, has_more_path: data.has_more}
records_path: data.items
total_path: data.total
success_path: code
message_path: msg
`, 10},
		{"page until an empty page, without has_more", (*hr).pageStyle, `
url: %s/api/v1/employees
pagination: {type: page, size_param: page_size, size: 10}
records_path: data.items
`, 11},
		{"page stops at the total", (*hr).pageStyle, `
url: %s/api/v1/employees
pagination: {type: page, size_param: page_size, size: 10}
records_path: data.items
total_path: data.total
`, 10},
		{"offset advances by what was received when the server caps the limit", (*hr).offsetStyle, `
url: %s/people
pagination: {type: offset, size: 50}
records_path: results
total_path: count
`, 10},
		{"cursor in the query (Feishu page_token)", (*hr).cursorStyle, `
url: %s/open-apis/corehr/v1/employees
query: {page_size: "10"}
pagination: {type: cursor, param: page_token, next_path: data.page_token, has_more_path: data.has_more}
records_path: data.items
success_path: code
`, 10},
		{"cursor in a POST body (scroll search)", (*hr).bodyCursorStyle, `
url: %s/TenantBaseExternal/api/v5/Employee/GetByTimeWindow
method: POST
body: {columns: [employee_id, name], capacity: 10}
pagination: {type: cursor, param: scrollId, in: body, next_path: scrollId, last_path: isLastData}
records_path: data
success_path: code
success_value: "200"
`, 10},
		{"next_url at @odata.nextLink (OData v4)", (*hr).odataStyle, `
url: %s/odata/v4/People
pagination: {type: next_url, next_path: "@odata.nextLink"}
records_path: value
`, 10},
		{"next_url at d.__next, relative (SuccessFactors OData v2)", (*hr).sfStyle, `
url: %s/odata/v2/PerPerson
query: {$format: json}
pagination: {type: next_url, next_path: d.__next}
records_path: d.results
`, 10},
		{"link_header rel=next", (*hr).linkStyle, `
url: %s/v1/company/employees
pagination: {type: link_header}
`, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHR(t, employees(n), size)
			tc.serve(h)
			src := openYAML(t, nil, tc.config, h.srv.URL)
			b := list(t, src)
			got := keys(t, b, "employee_id")
			if len(got) != n {
				t.Fatalf("read %d records, want %d", len(got), n)
			}
			for i, k := range got {
				if want := employee(i + 1)["employee_id"]; k != want {
					t.Fatalf("record %d is %s, want %s", i, k, want)
				}
			}
			if tc.pages > 0 && h.requests.Load() != tc.pages {
				t.Fatalf("%d requests, want %d", h.requests.Load(), tc.pages)
			}
		})
	}
}

// Values keep what mapping needs: number text unmangled, nested objects and
// arrays addressable, booleans as text, null as nil; names are the sorted
// union of the keys of all pages.
func TestRecordValuesKeepJSONMeaning(t *testing.T) {
	recs := []map[string]any{
		{"id": json.Number("10000001"), "code": "00123", "ratio": json.Number("1.5"), "big": json.Number("12345678901234567890"),
			"active": true, "manager": nil, "dept": map[string]any{"name": "后端组", "id": json.Number("42")},
			"custom_fields": map[string]any{"工号": "00123"}, "tags": []any{"a", json.Number("7"), false}},
		{"id": json.Number("10000002"), "extra": "only here"},
	}
	h := newHR(t, recs, 1)
	h.pageStyle()
	b := list(t, openYAML(t, nil, "url: %s/api/v1/employees\npagination: {type: page, size_param: page_size, size: 1}\nrecords_path: data.items\n", h.srv.URL))
	wantNames := []string{"active", "big", "code", "custom_fields", "dept", "extra", "id", "manager", "ratio", "tags"}
	if !reflect.DeepEqual(b.Records[0].Names, wantNames) || b.Columns != nil {
		t.Fatalf("names %v, columns %v, want %v", b.Records[0].Names, b.Columns, wantNames)
	}
	r := b.Records[0]
	get := func(n string) any { v, _ := r.Get(n); return v }
	for n, want := range map[string]any{
		"id": "10000001", "code": "00123", "ratio": "1.5", "big": "12345678901234567890", "active": "true", "manager": nil,
		"dept":          map[string]any{"name": "后端组", "id": "42"},
		"custom_fields": map[string]any{"工号": "00123"},
		"tags":          []any{"a", "7", "false"},
		"extra":         nil,
	} {
		if got := get(n); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", n, got, want)
		}
	}
	if r.String("id") != "10000001" {
		t.Errorf("String(id) = %q", r.String("id"))
	}
	if v, _ := b.Records[1].Get("dept"); v != nil {
		t.Errorf("a key the record lacks is %#v, want nil", v)
	}
	if want := h.srv.URL + "/api/v1/employees?page=2&page_size=1#2.1"; b.Records[1].Origin.Locator != want {
		t.Errorf("origin %q, want %q", b.Records[1].Origin.Locator, want)
	}
	if b.Location != h.srv.URL+"/api/v1/employees" || b.Source != "hr" || b.Records[0].Origin.Source != "hr" {
		t.Errorf("location %q source %q", b.Location, b.Source)
	}
}

func TestPaths(t *testing.T) {
	doc := map[string]any{
		"data":            map[string]any{"items": []any{"x", map[string]any{"k": "v"}}, "page.token": "p"},
		"@odata.nextLink": "next",
		"@odata":          map[string]any{"count": "shadowed"},
		"d":               map[string]any{"__next": "n2"},
		"a.b":             map[string]any{"c": "abc"},
		"weird]key":       "w",
	}
	cases := []struct {
		path string
		want any
		ok   bool
	}{
		{"", doc, true},
		{"data.items.0", "x", true},
		{"data.items[1].k", "v", true},
		{"data.items.2", nil, false},
		{"@odata.nextLink", "next", true},
		{"@odata.count", "shadowed", true},
		{`["@odata.nextLink"]`, "next", true},
		{`['@odata.nextLink']`, "next", true},
		{`@odata\.nextLink`, "next", true},
		{"d.__next", "n2", true},
		{"data.page.token", "p", true},
		{"a.b.c", "abc", true},
		{`["weird]key"]`, "w", true},
		{"data.missing", nil, false},
		{"data.items.k", nil, false},
	}
	for _, tc := range cases {
		p, err := parsePath(tc.path)
		if err != nil {
			t.Fatalf("%q: %v", tc.path, err)
		}
		got, ok := p.lookup(doc)
		if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%q = %v, %v; want %v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
	for _, bad := range []string{"a..b", ".a", "a.", "a[", "a[x]", `a["x]`, `a\`, `a[0]b`} {
		if _, err := parsePath(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestNextLinkFindsRelNext(t *testing.T) {
	cases := map[string]string{
		`<https://h/p?page=2>; rel="next"`:                                 "https://h/p?page=2",
		`<https://h/p?page=1>; rel="prev", <https://h/p?page=3>; rel=next`: "https://h/p?page=3",
		`<https://h/p?a=1,2>; title="x, y"; rel="last next"`:               "https://h/p?a=1,2",
		`<https://h/p?page=9>; rel="last"`:                                 "",
		``:                                                                 "",
	}
	for in, want := range cases {
		if got := nextLink([]string{in}); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func TestRedactedURLKeepsPaginationParamsAndHidesCredentials(t *testing.T) {
	r := newRedactor("page_token")
	got := r.rawURL("https://u:p@hr.example.com/x?access_token=abc&page_token=c2&sign=zz&page=3&api_key=k")
	want := "https://hr.example.com/x?access_token=REDACTED&page_token=c2&sign=REDACTED&page=3&api_key=REDACTED"
	if got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
}

func TestCancelledContextStopsBeforeAnyRequest(t *testing.T) {
	h := newHR(t, employees(3), 10)
	h.pageStyle()
	src := openYAML(t, nil, "url: %s/api/v1/employees\nrecords_path: data.items\n", h.srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.List(ctx); err == nil {
		t.Fatal("no error")
	}
	if h.requests.Load() != 0 {
		t.Fatalf("%d requests", h.requests.Load())
	}
}
