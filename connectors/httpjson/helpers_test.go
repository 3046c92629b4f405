package httpjson

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
)

// employee is a fixture record as HR APIs return them: strings, a numeric
// id, a nested department, custom fields keyed in Chinese, a boolean.
func employee(i int) map[string]any {
	return map[string]any{
		"employee_id": fmt.Sprintf("E%05d", i),
		"name":        fmt.Sprintf("员工%d", i),
		"email":       fmt.Sprintf("user%05d@example.com", i),
		"user_id":     json.Number(strconv.Itoa(10000000 + i)),
		"active":      i%7 != 0,
		"dept":        map[string]any{"id": json.Number("10000001"), "name": "后端组", "path": []any{"总部", "研发中心", "后端组"}},
		"custom_fields": map[string]any{
			"工号": fmt.Sprintf("%05d", i),
		},
	}
}

func employees(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = employee(i + 1)
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func chunk(recs []map[string]any, from, n int) []map[string]any {
	if from >= len(recs) {
		return nil
	}
	return recs[from:min(from+n, len(recs))]
}

// fault is injected into a fake server's answer for one page (1-based);
// it returns true when it has answered.
type fault func(w http.ResponseWriter, r *http.Request, page int) bool

// hr is a fake HR API serving recs in pages of size, in one of the
// pagination styles, behind an optional authorization check.
type hr struct {
	t     *testing.T
	recs  []map[string]any
	size  int
	fault fault
	// authorized checks a page request; nil accepts all.
	authorized func(r *http.Request) bool
	requests   atomic.Int64
	mux        *http.ServeMux
	srv        *httptest.Server
}

func newHR(t *testing.T, recs []map[string]any, size int) *hr {
	h := &hr{t: t, recs: recs, size: size, mux: http.NewServeMux()}
	h.srv = httptest.NewServer(h.mux)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hr) url(p string) string { return h.srv.URL + p }

// handle registers a page handler; page(r) says which page r asks for.
func (h *hr) handle(pattern string, page func(r *http.Request) int, answer func(w http.ResponseWriter, r *http.Request, page int)) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		if h.authorized != nil && !h.authorized(r) {
			w.WriteHeader(http.StatusUnauthorized)
			writeJSON(w, map[string]any{"code": 99991663, "msg": "invalid access token"})
			return
		}
		p := page(r)
		if h.fault != nil && h.fault(w, r, p) {
			return
		}
		answer(w, r, p)
	})
}

func queryInt(r *http.Request, name string, def int) int {
	if v := r.URL.Query().Get(name); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
	}
	return def
}

// pageStyle: GET ?page=N&page_size=S → {"code":0,"data":{"items":[…],"total":T,"has_more":…}}
// (a CoreHR-like list).
func (h *hr) pageStyle() {
	h.handle("/api/v1/employees", func(r *http.Request) int { return queryInt(r, "page", 1) },
		func(w http.ResponseWriter, r *http.Request, page int) {
			size := queryInt(r, "page_size", h.size)
			items := chunk(h.recs, (page-1)*size, size)
			writeJSON(w, map[string]any{"code": 0, "data": map[string]any{
				"items": items, "total": len(h.recs), "has_more": page*size < len(h.recs),
			}})
		})
}

// offsetStyle: GET ?offset=O&limit=L → [...] at the root of {"results":…,"count":T};
// the server caps limit at h.size, as real ones do silently.
func (h *hr) offsetStyle() {
	h.handle("/people", func(r *http.Request) int { return queryInt(r, "offset", 0)/h.size + 1 },
		func(w http.ResponseWriter, r *http.Request, page int) {
			limit := min(queryInt(r, "limit", 20), h.size)
			writeJSON(w, map[string]any{"results": chunk(h.recs, queryInt(r, "offset", 0), limit), "count": len(h.recs)})
		})
}

// cursorStyle (Feishu): GET ?page_size=S&page_token=C →
// {"code":0,"msg":"success","data":{"items":[…],"page_token":"…","has_more":…}}.
// The cursor is opaque: "c" + the page number it leads to.
func (h *hr) cursorStyle() {
	h.handle("/open-apis/corehr/v1/employees", func(r *http.Request) int {
		c := r.URL.Query().Get("page_token")
		if c == "" {
			return 1
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(c, "c"))
		return n
	}, func(w http.ResponseWriter, r *http.Request, page int) {
		items := chunk(h.recs, (page-1)*h.size, h.size)
		more := page*h.size < len(h.recs)
		data := map[string]any{"items": items, "has_more": more}
		if more {
			data["page_token"] = "c" + strconv.Itoa(page+1)
		}
		writeJSON(w, map[string]any{"code": 0, "msg": "success", "data": data})
	})
}

// bodyCursorStyle (Beisen-like scroll search): POST {"scrollId":C,…} →
// {"code":"200","data":[…],"scrollId":"…","isLastData":…}.
func (h *hr) bodyCursorStyle() {
	h.handle("/TenantBaseExternal/api/v5/Employee/GetByTimeWindow", func(r *http.Request) int {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body["columns"] == nil {
			h.t.Errorf("the configured body was not sent: %v", body)
		}
		c, _ := body["scrollId"].(string)
		if c == "" {
			return 1
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(c, "s"))
		return n
	}, func(w http.ResponseWriter, r *http.Request, page int) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		last := page*h.size >= len(h.recs)
		writeJSON(w, map[string]any{"code": "200", "data": chunk(h.recs, (page-1)*h.size, h.size),
			"scrollId": "s" + strconv.Itoa(page+1), "isLastData": last})
	})
}

// odataStyle (OData v4, e.g. Dynamics, Graph): {"value":[…],"@odata.nextLink":URL}.
func (h *hr) odataStyle() {
	h.handle("/odata/v4/People", func(r *http.Request) int { return queryInt(r, "$skiptoken", 0)/h.size + 1 },
		func(w http.ResponseWriter, r *http.Request, page int) {
			skip := (page - 1) * h.size
			ans := map[string]any{"@odata.context": "$metadata#People", "value": chunk(h.recs, skip, h.size)}
			if skip+h.size < len(h.recs) {
				ans["@odata.nextLink"] = h.url("/odata/v4/People?$skiptoken=" + strconv.Itoa(skip+h.size))
			}
			writeJSON(w, ans)
		})
}

// sfStyle (SAP SuccessFactors OData v2): {"d":{"results":[…],"__next":"relative or absolute"}}.
func (h *hr) sfStyle() {
	h.handle("/odata/v2/PerPerson", func(r *http.Request) int { return queryInt(r, "skip", 0)/h.size + 1 },
		func(w http.ResponseWriter, r *http.Request, page int) {
			skip := (page - 1) * h.size
			d := map[string]any{"results": chunk(h.recs, skip, h.size)}
			if skip+h.size < len(h.recs) {
				d["__next"] = "/odata/v2/PerPerson?$format=json&skip=" + strconv.Itoa(skip+h.size)
			}
			writeJSON(w, map[string]any{"d": d})
		})
}

// linkStyle (GitHub/Personio-like): a bare array, Link: <…>; rel="next".
func (h *hr) linkStyle() {
	h.handle("/v1/company/employees", func(r *http.Request) int { return queryInt(r, "p", 1) },
		func(w http.ResponseWriter, r *http.Request, page int) {
			if page*h.size < len(h.recs) {
				w.Header().Add("Link", fmt.Sprintf(`<%s>; rel="prev", <%s>; rel="next last"`,
					h.url("/v1/company/employees?p="+strconv.Itoa(page-1)), "/v1/company/employees?p="+strconv.Itoa(page+1)))
			}
			recs := chunk(h.recs, (page-1)*h.size, h.size)
			if recs == nil {
				recs = []map[string]any{}
			}
			writeJSON(w, recs)
		})
}

// logs is an observed zap logger.
type logs struct {
	*observer.ObservedLogs
	log *zap.Logger
}

func newLogs() *logs {
	core, obs := observer.New(zapcore.DebugLevel)
	return &logs{ObservedLogs: obs, log: zap.New(core)}
}

// text renders every entry, message and fields, as the JSON encoder would.
func (l *logs) text() string {
	var b strings.Builder
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range l.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			panic(err)
		}
		b.Write(buf.Bytes())
		buf.Free()
	}
	return b.String()
}

// decodeConfig decodes and validates a config: block as the registry does.
func decodeConfig(t *testing.T, src string) (*Config, error) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	c := &Config{}
	if err := connectors.Decode(&n, c); err != nil {
		return nil, err
	}
	return c, c.Validate()
}

// openYAML decodes, validates and opens a source.
func openYAML(t *testing.T, log *zap.Logger, format string, args ...any) *Source {
	t.Helper()
	c, err := decodeConfig(t, fmt.Sprintf(format, args...))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	src, err := c.Open("hr", log)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return src.(*Source)
}

func list(t *testing.T, s connectors.Source) *connectors.Batch {
	t.Helper()
	b, err := s.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !b.Complete {
		t.Fatalf("incomplete: %s", b.Incomplete)
	}
	return b
}

// keys returns the employee_id of every record, checking each is unique.
func keys(t *testing.T, b *connectors.Batch, field string) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for i := range b.Records {
		k := b.Records[i].String(field)
		if seen[k] {
			t.Fatalf("key %s read twice", k)
		}
		seen[k] = true
		out = append(out, k)
	}
	return out
}

// closedURL is an address nothing listens on.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// counter counts calls per key, safe for handlers.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) inc(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
	return c.n[k]
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func drain(r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }
