package emulator

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// FuzzRequestDecoding sends arbitrary bodies and query strings to every
// WeCom API of the emulator with a valid token: it never panics and never
// answers 500; an HTTP 200 answer is a JSON object with an errcode, as the
// real server's.
func FuzzRequestDecoding(f *testing.F) {
	names := slices.Sorted(maps.Keys(apis))
	f.Add(uint8(0), "", []byte(`{"userid":"zs","name":"张三","department":[1]}`))
	f.Add(uint8(1), "userid=zs", []byte(`{"id":2,"name":"研发","parentid":1}`))
	f.Add(uint8(2), "id=1", []byte(`{"useridlist":["a","b"]}`))
	f.Add(uint8(3), "", []byte(`{"userid":123,"department":"x","order":[-1],"extattr":{"attrs":[{"type":9}]}}`))
	f.Add(uint8(4), "", []byte(`{"media_id":"","callback":{"url":1}}`))
	f.Add(uint8(5), "cursor=%zz", []byte(`[1,2,3]`))
	f.Add(uint8(6), "", []byte(`null`))
	f.Add(uint8(7), "", []byte("{\"name\":\"\\ud800\"}"))
	f.Add(uint8(8), "", []byte(`{"userid":"a","direct_leader":["a","a","a","a","a","a"],"is_leader_in_dept":[1,1,1]}`))
	f.Add(uint8(9), "", []byte(strings.Repeat("[", 10000)))
	f.Add(uint8(10), "", []byte(`{"id":1e400}`))
	f.Fuzz(func(t *testing.T, which uint8, query string, body []byte) {
		s, err := New(Options{JobDelay: -1, RateLimitPerMinute: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cgi-bin/gettoken?corpid="+DefaultCorpID+"&corpsecret="+DefaultSecret, nil))
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
			t.Fatalf("gettoken: %s", rec.Body.String())
		}
		api := names[int(which)%len(names)]
		target := "/cgi-bin/" + api + "?access_token=" + tok.AccessToken
		if q := strings.Map(func(r rune) rune {
			if r < 0x21 || r == '#' || r > 0x7e {
				return -1
			}
			return r
		}, query); q != "" {
			target += "&" + q
		}
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			req := httptest.NewRequest(method, "/", strings.NewReader(string(body)))
			req.URL.Path, req.URL.RawQuery, _ = strings.Cut(target, "?")
			req.RequestURI = ""
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s with body %q: HTTP %d", method, api, body, rec.Code)
			}
			if rec.Code == http.StatusOK {
				var resp map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
					t.Fatalf("%s %s: a 200 answer that is not a JSON object: %q", method, api, rec.Body.String())
				}
				if _, ok := resp["errcode"]; !ok {
					t.Fatalf("%s %s: no errcode in %q", method, api, rec.Body.String())
				}
			}
		}
	})
}
