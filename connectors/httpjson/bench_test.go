package httpjson

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-cleanhttp"
)

// benchServer serves 100,000 people over 1,000 pre-encoded pages of a
// CoreHR-like list, so that the server's own JSON encoding is not measured.
func benchServer(b *testing.B, n, size int) *httptest.Server {
	pages := make([][]byte, n/size+2)
	recs := employees(n)
	for p := 1; p < len(pages); p++ {
		items := chunk(recs, (p-1)*size, size)
		if items == nil {
			items = []map[string]any{}
		}
		buf, err := json.Marshal(map[string]any{"code": 0, "msg": "success", "data": map[string]any{
			"items": items, "total": n, "has_more": p*size < n,
		}})
		if err != nil {
			b.Fatal(err)
		}
		pages[p] = buf
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if p < 1 || p >= len(pages) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(pages[p])
	}))
	b.Cleanup(srv.Close)
	return srv
}

// floor is the least any HTTP JSON source must do: fetch every page with a
// plain net/http loop, decode it (numbers kept as text, as a source that
// does not know the fields' types must) and keep the decoded records, as a
// read that returns them must; has_more says when to stop.
func floor(b *testing.B, client *http.Client, base string, size int) []any {
	var out []any
	for p := 1; ; p++ {
		resp, err := client.Get(fmt.Sprintf("%s?page=%d&page_size=%d", base, p, size))
		if err != nil {
			b.Fatal(err)
		}
		dec := json.NewDecoder(resp.Body)
		dec.UseNumber()
		var v map[string]any
		err = dec.Decode(&v)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		data := v["data"].(map[string]any)
		out = append(out, data["items"].([]any)...)
		if data["has_more"] != true {
			return out
		}
	}
}

// BenchmarkList100kOver1000Pages reads 100,000 people over 1,000 pages
// through the source and through the floor loop, alternately, and reports
// the ratio x_floor (target ≤ 1.3). The machine is shared: compare the two
// within one run, not runs with each other.
func BenchmarkList100kOver1000Pages(b *testing.B) {
	const n, size = 100_000, 100
	srv := benchServer(b, n, size)
	base := srv.URL + "/api/v1/employees"
	src := openYAML(&testing.T{}, nil, `
url: %s
pagination: {type: page, size_param: page_size, size: 100, has_more_path: data.has_more}
records_path: data.items
total_path: data.total
success_path: code
max_pages: 2000
`, base)
	client := &http.Client{Transport: cleanhttp.DefaultPooledTransport()}
	runFloor := func() time.Duration {
		runtime.GC()
		start := time.Now()
		recs := floor(b, client, base, size)
		d := time.Since(start)
		if len(recs) != n {
			b.Fatalf("floor read %d", len(recs))
		}
		return d
	}
	runSource := func() time.Duration {
		runtime.GC() // the previous batch is garbage: do not bill its collection to the next run
		start := time.Now()
		batch, err := src.List(context.Background())
		d := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if len(batch.Records) != n {
			b.Fatalf("source read %d", len(batch.Records))
		}
		return d
	}
	// Warm both (connections, page cache), then alternate which goes first.
	runFloor()
	runSource()
	var floorTime, srcTime time.Duration
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			floorTime += runFloor()
			srcTime += runSource()
		} else {
			srcTime += runSource()
			floorTime += runFloor()
		}
	}
	b.ReportMetric(float64(srcTime.Milliseconds())/float64(b.N), "source_ms/op")
	b.ReportMetric(float64(floorTime.Milliseconds())/float64(b.N), "floor_ms/op")
	b.ReportMetric(float64(srcTime)/float64(floorTime), "x_floor")
}
