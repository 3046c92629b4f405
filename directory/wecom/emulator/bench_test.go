package emulator

import (
	"fmt"
	"net/http/httptest"
	"testing"
)

// populate creates n members spread over 100 departments, in-process, and
// returns the departments.
func populate(tb testing.TB, s *Server, n int) []int64 {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var depts []int64
	for i := 0; i < 100; i++ {
		c := &call{b: body{"name": rawJSON(fmt.Sprintf("D%d", i)), "parentid": rawJSON(1)}}
		out, e := s.departmentCreate(c)
		if e != nil {
			tb.Fatal(e)
		}
		depts = append(depts, out[0].v.(int64))
	}
	for i := 0; i < n; i++ {
		id, name, mobile := fmt.Sprintf("user%06d", i), "N", fmt.Sprintf("1380%07d", i)
		deps := []int64{depts[i%len(depts)]}
		in := &userInput{userid: id, hasUserid: true, name: &name, mobile: &mobile, department: &deps}
		if e := s.createUser(in); e != nil {
			tb.Fatal(e)
		}
	}
	return depts
}

// BenchmarkCreateUser100k measures one user/create against a corp of
// 100k members (in-process: the cost of the emulator, not of HTTP).
func BenchmarkCreateUser100k(b *testing.B) {
	s, _ := New(Options{}, nil)
	depts := populate(b, s, 100000)
	name, mobile := "N", ""
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("bench%08d", i)
		mobile = fmt.Sprintf("1390%07d", i)
		// Spread over the departments: one holds at most 30,000 nodes (81001).
		deps := []int64{depts[i%len(depts)]}
		in := &userInput{userid: id, hasUserid: true, name: &name, mobile: &mobile, department: &deps}
		s.mu.Lock()
		e := s.createUser(in)
		s.mu.Unlock()
		if e != nil {
			b.Fatal(e)
		}
	}
}

// BenchmarkListIDAll100k pages through all of user/list_id over HTTP for
// 100k members, 10000 rows a page.
func BenchmarkListIDAll100k(b *testing.B) {
	s, _ := New(Options{RateLimitPerMinute: -1, CorpID: testCorp}, nil)
	populate(b, s, 100000)
	srv := httptest.NewServer(s)
	defer srv.Close()
	e := &env{t: b, emu: s, srv: srv}
	e.token = e.tokenFor("emulator-secret")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cursor, rows := "", 0
		for {
			body := m{"limit": 10000}
			if cursor != "" {
				body["cursor"] = cursor
			}
			r := e.post("user/list_id", body)
			rows += len(r.list("dept_user"))
			if cursor = r.str("next_cursor"); cursor == "" {
				break
			}
		}
		if rows != 100000 {
			b.Fatalf("%d rows", rows)
		}
	}
}
