package httpjson

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/connectors/conformance"
)

func conformanceRecords(people []conformance.Person) []map[string]any {
	out := make([]map[string]any, len(people))
	for i, p := range people {
		out[i] = map[string]any{"工号": p.Key, "姓名": p.Name, "邮箱": p.Mail, "部门": map[string]any{"path": p.Dept}}
	}
	return out
}

const conformanceCursor = `
url: %s/open-apis/corehr/v1/employees
pagination: {type: cursor, param: page_token, next_path: data.page_token, has_more_path: data.has_more}
records_path: data.items
success_path: code
retry: {attempts: 2, min_wait: 1ms, max_wait: 2ms}
`

func TestConformanceCursor(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		KeyField:  "工号",
		NameField: "姓名",
		New: func(t *testing.T, people []conformance.Person) connectors.Source {
			h := newHR(t, conformanceRecords(people), 100)
			h.cursorStyle()
			return openYAML(t, nil, conformanceCursor, h.srv.URL)
		},
		Broken: func(t *testing.T, people []conformance.Person) connectors.Source {
			h := newHR(t, conformanceRecords(people), 100)
			pages := (len(people) + 99) / 100
			h.fault = func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == pages/2+1 {
					http.Error(w, "upstream gone", http.StatusBadGateway)
					return true
				}
				return false
			}
			h.cursorStyle()
			return openYAML(t, nil, conformanceCursor, h.srv.URL)
		},
		Unreachable: func(t *testing.T) connectors.Source {
			return openYAML(t, nil, conformanceCursor, closedURL(t))
		},
	})
}

// The same suite over page numbers with a total, where a lost page can
// only be told by the total.
func TestConformancePageWithTotal(t *testing.T) {
	const cfg = `
url: %s/api/v1/employees
pagination: {type: page, size_param: page_size, size: 100}
records_path: data.items
total_path: data.total
`
	conformance.Run(t, conformance.Harness{
		KeyField:  "工号",
		NameField: "姓名",
		New: func(t *testing.T, people []conformance.Person) connectors.Source {
			h := newHR(t, conformanceRecords(people), 100)
			h.pageStyle()
			return openYAML(t, nil, cfg, h.srv.URL)
		},
		Broken: func(t *testing.T, people []conformance.Person) connectors.Source {
			h := newHR(t, conformanceRecords(people), 100)
			h.fault = func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 3 { // an empty page in the middle: the end, as far as paging can tell
					writeJSON(w, map[string]any{"code": 0, "data": map[string]any{"items": []any{}, "total": len(people)}})
					return true
				}
				return false
			}
			h.pageStyle()
			return openYAML(t, nil, cfg, h.srv.URL)
		},
		Unreachable: func(t *testing.T) connectors.Source {
			return openYAML(t, nil, fmt.Sprintf("%s\nretry: {attempts: 1}\n", cfg), closedURL(t))
		},
	})
}
