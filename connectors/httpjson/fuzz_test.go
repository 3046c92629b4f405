package httpjson

import (
	"testing"
)

// Any path parses or is refused, and any parsed path looks up without
// panicking.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"", "data.items", "@odata.nextLink", `["a.b"][0].c`, `a\.b`, "d.__next", "a[", `['x]`} {
		f.Add(s)
	}
	doc := map[string]any{"data": map[string]any{"items": []any{map[string]any{"a.b": "x"}}}, "@odata.nextLink": "n"}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePath(s)
		if err != nil {
			return
		}
		p.lookup(doc)
	})
}

// Any answer body is decoded and turned into records, or refused with an
// error: never a panic.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{
		`{"data":{"items":[{"id":1,"name":"张三","dept":{"id":2},"tags":[true,null]}],"total":1}}`,
		`{"data":{"items":null}}`, `{"data":{"items":[1]}}`, `[{"a":1}]`, `{"data":`, `{} {}`, `nul`,
	} {
		f.Add([]byte(s))
	}
	recs, _ := parsePath("data.items")
	total, _ := parsePath("data.total")
	s := &Source{}
	s.paths.records, s.paths.total = recs, total
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := decodeJSON(body)
		if err != nil {
			return
		}
		rs, err := s.records(v)
		if err != nil {
			return
		}
		_, _ = s.total(v)
		var b batchBuilder
		if _, err := b.addPage(rs, "https://hr/x", 1); err == nil {
			if bt := b.batch("hr", "https://hr/x"); len(bt.Records) != len(rs) {
				t.Fatalf("%d records from %d objects", len(bt.Records), len(rs))
			}
		}
	})
}
