package httpjson

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pageConfig reads the CoreHR-like page server: 10 pages of 10.
const pageBase = `
url: %s/api/v1/employees
pagination: {type: page, size_param: page_size, size: 10, has_more_path: data.has_more}
records_path: data.items
`

const pageConfig = pageBase + "retry: {attempts: 3, min_wait: 1ms, max_wait: 5ms}\n"

// Every fault fails the read with an error that names the page; none
// yields a short batch that looks complete.
func TestFaultsFailTheReadNamingThePage(t *testing.T) {
	cases := []struct {
		name   string
		serve  func(h *hr)
		config string
		fault  fault
		is     error
		want   []string // in the message
	}{
		{
			name: "a 500 on page 7 of 10 that persists", serve: (*hr).pageStyle, config: pageConfig,
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 7 {
					http.Error(w, `{"code":500,"msg":"internal error"}`, http.StatusInternalServerError)
					return true
				}
				return false
			},
			is: ErrRequest, want: []string{"page 7 (", "page=7", "HTTP 500 Internal Server Error after 3 attempts", "internal error"},
		},
		{
			name: "a 429 storm whose Retry-After outlasts retry.max_time", serve: (*hr).pageStyle,
			config: pageBase + "retry: {attempts: 10, min_wait: 1ms, max_wait: 5ms, max_time: 1500ms}\n",
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 2 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
					return true
				}
				return false
			},
			is: ErrRequest, want: []string{"page 2 (", "HTTP 429 Too Many Requests after 2 attempts", "would pass retry.max_time 1.5s"},
		},
		{
			name: "truncated JSON", serve: (*hr).pageStyle, config: pageConfig,
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 3 {
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(`{"code":0,"data":{"items":[{"employee_id":"E00021","name":"员`))
					return true
				}
				return false
			},
			is: ErrAnswer, want: []string{"page 3 (", "not JSON", "truncated at byte"},
		},
		{
			name: "an HTML error page with status 200", serve: (*hr).pageStyle, config: pageConfig,
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 4 {
					w.Header().Set("Content-Type", "text/html")
					_, _ = w.Write([]byte(`<html><body>502 Bad Gateway</body></html>`))
					return true
				}
				return false
			},
			is: ErrAnswer, want: []string{"page 4 (", "not JSON (text/html", "502 Bad Gateway"},
		},
		{
			name: "a page that hangs past the timeout", serve: (*hr).pageStyle,
			config: pageBase + "timeout: 200ms\nretry: {attempts: 2, min_wait: 1ms, max_wait: 5ms}\n",
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 5 {
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
					return true
				}
				return false
			},
			is: ErrRequest, want: []string{"page 5 (", "after 2 attempts: no complete answer within timeout 200ms"},
		},
		{
			name: "a total that lies", serve: (*hr).pageStyle,
			config: `
url: %s/api/v1/employees
pagination: {type: page, size_param: page_size, size: 10}
records_path: data.items
total_path: data.total
`,
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				// The last page is lost: empty, while the total says 100.
				if page == 10 {
					writeJSON(w, map[string]any{"code": 0, "data": map[string]any{"items": []any{}, "total": 100}})
					return true
				}
				return false
			},
			is: ErrIncomplete, want: []string{"page 10 (", "read 90 records over 10 pages, but the answer says the total is 100"},
		},
		{
			name: "a total that changes during the read", serve: (*hr).pageStyle,
			config: pageConfig + "total_path: data.total\n",
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 6 {
					writeJSON(w, map[string]any{"code": 0, "data": map[string]any{"items": []any{employee(999)}, "total": 101, "has_more": true}})
					return true
				}
				return false
			},
			is: ErrIncomplete, want: []string{"page 6 (", "total changed from 100 to 101"},
		},
		{
			name: "a cursor that repeats", serve: (*hr).cursorStyle,
			config: `
url: %s/open-apis/corehr/v1/employees
pagination: {type: cursor, param: page_token, next_path: data.page_token, has_more_path: data.has_more}
records_path: data.items
`,
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 3 { // page 3 points back at page 2
					writeJSON(w, map[string]any{"code": 0, "data": map[string]any{"items": []any{employee(1000)}, "page_token": "c2", "has_more": true}})
					return true
				}
				return false
			},
			is: ErrIncomplete, want: []string{"page 3 (", "next page_token was already used by page 2"},
		},
		{
			name: "a server that ignores the page parameter", serve: (*hr).pageStyle,
			config: `
url: %s/api/v1/employees
pagination: {type: page, param: pageNo, size_param: page_size, size: 10}
records_path: data.items
`,
			is: ErrIncomplete, want: []string{"page 2 (", "page 2 repeats page 1", "ignores pageNo"},
		},
		{
			name: "max_pages reached", serve: (*hr).pageStyle, config: pageConfig + "max_pages: 3\n",
			is: ErrIncomplete, want: []string{"page 3 (", "max_pages 3 reached", "30 records read so far"},
		},
		{
			name: "a missing records_path", serve: (*hr).pageStyle, config: pageConfig,
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 4 {
					writeJSON(w, map[string]any{"code": 0, "data": map[string]any{"has_more": true}})
					return true
				}
				return false
			},
			is: ErrAnswer, want: []string{"page 4 (", "no records at data.items"},
		},
		{
			name: "an error code in a 200 answer (Feishu style)", serve: (*hr).pageStyle,
			config: pageConfig + "success_path: code\nmessage_path: msg\n",
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 2 {
					writeJSON(w, map[string]any{"code": 1254290, "msg": "request trigger frequency limit"})
					return true
				}
				return false
			},
			is: ErrAnswer, want: []string{"page 2 (", `code is "1254290", not 0: "request trigger frequency limit"`},
		},
		{
			name: "has_more without a cursor", serve: (*hr).cursorStyle,
			config: `
url: %s/open-apis/corehr/v1/employees
pagination: {type: cursor, param: page_token, next_path: data.page_token, has_more_path: data.has_more}
records_path: data.items
`,
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 2 {
					writeJSON(w, map[string]any{"code": 0, "data": map[string]any{"items": []any{employee(11)}, "has_more": true}})
					return true
				}
				return false
			},
			is: ErrAnswer, want: []string{"page 2 (", "says more pages follow (data.has_more) but has no cursor at data.page_token"},
		},
		{
			name: "a 404 fails at once", serve: (*hr).pageStyle, config: pageConfig,
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 2 {
					http.NotFound(w, r)
					return true
				}
				return false
			},
			is: ErrRequest, want: []string{"page 2 (", "HTTP 404 Not Found: 404 page not found"},
		},
		{
			name: "a next link to another host", serve: (*hr).odataStyle,
			config: "url: %s/odata/v4/People\npagination: {type: next_url, next_path: \"@odata.nextLink\"}\nrecords_path: value\n",
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 1 {
					writeJSON(w, map[string]any{"value": []any{employee(1)}, "@odata.nextLink": "https://evil.example.com/odata/v4/People?$skiptoken=1"})
					return true
				}
				return false
			},
			is: ErrAnswer, want: []string{"page 1 (", "points to https://evil.example.com", "refusing to send credentials"},
		},
		{
			name: "a next link back to the first page", serve: (*hr).odataStyle,
			config: "url: %s/odata/v4/People\npagination: {type: next_url, next_path: \"@odata.nextLink\"}\nrecords_path: value\n",
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 2 {
					writeJSON(w, map[string]any{"value": []any{employee(500)}, "@odata.nextLink": "/odata/v4/People"})
					return true
				}
				return false
			},
			is: ErrIncomplete, want: []string{"page 2 (", "the next URL at @odata.nextLink was already used by page 1"},
		},
		{
			name: "a redirect to another host", serve: (*hr).pageStyle, config: pageConfig,
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 2 {
					http.Redirect(w, r, "https://evil.example.com/steal", http.StatusFound)
					return true
				}
				return false
			},
			is: ErrRequest, want: []string{"page 2 (", "redirect refused to https://evil.example.com: credentials are not sent to another host"},
		},
		{
			name: "a record that is not an object", serve: (*hr).pageStyle, config: pageConfig,
			fault: func(w http.ResponseWriter, r *http.Request, page int) bool {
				if page == 2 {
					writeJSON(w, map[string]any{"code": 0, "data": map[string]any{"items": []any{employee(11), "E00012"}, "has_more": true}})
					return true
				}
				return false
			},
			is: ErrAnswer, want: []string{"page 2 (", "record 2 is a string, not an object"},
		},
		{
			name: "fewer than min_records", serve: (*hr).pageStyle, config: pageConfig + "min_records: 1000\n",
			is: ErrIncomplete, want: []string{"100 records, fewer than min_records 1000"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHR(t, employees(100), 10)
			h.fault = tc.fault
			tc.serve(h)
			src := openYAML(t, nil, tc.config, h.srv.URL)
			b, err := src.List(context.Background())
			if err == nil {
				t.Fatalf("no error; batch of %d records, complete=%v", len(b.Records), b.Complete)
			}
			if b != nil {
				t.Fatalf("a batch came with the error")
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error does not match %v: %v", tc.is, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// A 429 storm that ends is waited out, each wait as long as Retry-After
// asks (not the 1ms backoff), and the read completes.
func TestA429StormIsWaitedOutHonouringRetryAfter(t *testing.T) {
	h := newHR(t, employees(30), 10)
	var c counter
	h.fault = func(w http.ResponseWriter, r *http.Request, page int) bool {
		if page == 2 && c.inc("p2") <= 2 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	}
	h.pageStyle()
	logs := newLogs()
	src := openYAML(t, logs.log, pageConfig, h.srv.URL)
	start := time.Now()
	b := list(t, src)
	if len(b.Records) != 30 {
		t.Fatalf("%d records", len(b.Records))
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("read took %s: Retry-After: 1 twice was not honoured", d)
	}
	retries := logs.FilterMessage("retrying page").All()
	if len(retries) != 2 || retries[0].ContextMap()["status"] != int64(429) || retries[0].ContextMap()["page"] != int64(2) {
		t.Fatalf("retries logged: %v", retries)
	}
}

// A transient 500 and a connection dropped mid-body are retried.
func TestTransientFailuresAreRetried(t *testing.T) {
	h := newHR(t, employees(50), 10)
	var c counter
	h.fault = func(w http.ResponseWriter, r *http.Request, page int) bool {
		switch {
		case page == 2 && c.inc("p2") == 1:
			w.WriteHeader(http.StatusBadGateway)
			return true
		case page == 4 && c.inc("p4") == 1:
			// Promise more than is sent, then drop the connection.
			w.Header().Set("Content-Length", "5000")
			_, _ = w.Write([]byte(`{"code":0,"data":{"items":[`))
			if hj, ok := w.(http.Hijacker); ok {
				conn, _, _ := hj.Hijack()
				conn.Close()
			}
			return true
		}
		return false
	}
	h.pageStyle()
	b := list(t, openYAML(t, nil, pageConfig, h.srv.URL))
	if len(b.Records) != 50 {
		t.Fatalf("%d records", len(b.Records))
	}
	if c.get("p2") != 2 || c.get("p4") != 2 {
		t.Fatalf("attempts: page 2 %d, page 4 %d", c.get("p2"), c.get("p4"))
	}
}

// The context's deadline stops the read, naming the page it stopped at.
func TestTheContextDeadlineFailsTheReadNamingThePage(t *testing.T) {
	h := newHR(t, employees(100), 10)
	h.fault = func(w http.ResponseWriter, r *http.Request, page int) bool {
		time.Sleep(40 * time.Millisecond)
		return false
	}
	h.pageStyle()
	src := openYAML(t, nil, pageConfig, h.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := src.List(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrRequest) {
		t.Fatalf("got %v", err)
	}
	if !regexp.MustCompile(`^page [2-9] \(http://127\.0\.0\.1:\d+/api/v1/employees\?page=[2-9]&page_size=10\): `).MatchString(err.Error()) {
		t.Fatalf("the page is not named: %v", err)
	}
}

// The rate caps requests per second, and waiting for it does not count
// against a request's timeout.
func TestRateSpacesRequests(t *testing.T) {
	h := newHR(t, employees(40), 10)
	h.pageStyle()
	src := openYAML(t, nil, pageConfig+"rate: 10/s\ntimeout: 50ms\n", h.srv.URL)
	start := time.Now()
	list(t, src)
	// 4 requests at 10/s with a burst of 1: at least 3 × 100ms.
	if d := time.Since(start); d < 290*time.Millisecond {
		t.Fatalf("4 pages took %s at 10/s", d)
	}
}
