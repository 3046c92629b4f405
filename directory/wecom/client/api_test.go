package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	t.Run("a zero config reports every missing field at once", func(t *testing.T) {
		err := Config{}.Validate()
		for _, want := range []string{"corp_id is required", "secret is required"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to contain %q", err, want)
			}
		}
	})

	t.Run("reports every bad value, not just the first", func(t *testing.T) {
		err := Config{
			BaseURL: "ftp://example.com", CorpID: "ww1", Secret: "s",
			RatePerMinute: 10000, RatePerHour: 150000, Concurrency: -1, MaxRetries: 20, Timeout: -time.Second,
			RetryWaitMin: 2 * time.Second, RetryWaitMax: time.Second,
		}.Validate()
		for _, want := range []string{
			`base_url "ftp://example.com" must start with https://`,
			"rate_per_minute 10000 must stay below WeCom's limit of 10000",
			"rate_per_hour 150000 must stay below WeCom's limit of 150000",
			"concurrency must not be negative",
			"max_retries 20 is too many",
			"timeout must not be negative",
			"retry_wait_min 2s is above retry_wait_max 1s",
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v\nwant it to contain %q", err, want)
			}
		}
	})

	t.Run("a minimal config is valid and gets safe defaults", func(t *testing.T) {
		c, err := New(Config{CorpID: "ww1", Secret: "s"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.cfg.BaseURL != DefaultBaseURL || c.cfg.RatePerMinute != 6000 || c.cfg.RatePerHour != 140000 || c.cfg.Concurrency != 8 ||
			c.cfg.MaxRetries != 3 || c.cfg.MaxBanWait != 70*time.Second {
			t.Errorf("defaults = %+v", c.cfg)
		}
	})

	t.Run("New refuses an invalid config", func(t *testing.T) {
		if _, err := New(Config{CorpID: "ww1"}, nil); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestScrub(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"token in a quoted URL", `Get "https://h/cgi-bin/user/get?access_token=abc.DEF-123&userid=x": EOF`,
			`Get "https://h/cgi-bin/user/get?access_token=REDACTED&userid=x": EOF`},
		{"secret of gettoken", `Get "https://h/cgi-bin/gettoken?corpid=ww1&corpsecret=xyz": refused`,
			`Get "https://h/cgi-bin/gettoken?corpid=ww1&corpsecret=REDACTED": refused`},
		{"token at the end", "access_token=zzz", "access_token=REDACTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := scrub(tc.in); got != tc.want {
				t.Errorf("scrub = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestListUserIDs(t *testing.T) {
	pages := map[string]any{
		"":   okBody{"next_cursor": "c1", "dept_user": []DeptUser{{"a", 1}, {"a", 2}}},
		"c1": okBody{"next_cursor": "c2", "dept_user": []DeptUser{{"b", 1}}},
		"c2": okBody{"next_cursor": "", "dept_user": []DeptUser{{"c", 3}}},
	}
	t.Run("follows next_cursor until it is empty and returns every row", func(t *testing.T) {
		f := newFake(t)
		var limits []int
		f.on("user/list_id", func(_ int, _ *http.Request, body []byte) any {
			var in struct {
				Cursor string `json:"cursor"`
				Limit  int    `json:"limit"`
			}
			_ = json.Unmarshal(body, &in)
			limits = append(limits, in.Limit)
			return pages[in.Cursor]
		})
		c, _ := newTestClient(t, f.srv.URL, nil)
		rows, err := c.ListUserIDs(context.Background(), 2)
		if err != nil {
			t.Fatal(err)
		}
		want := []DeptUser{{"a", 1}, {"a", 2}, {"b", 1}, {"c", 3}}
		if len(rows) != len(want) {
			t.Fatalf("rows = %v, want %v", rows, want)
		}
		for i := range want {
			if rows[i] != want[i] {
				t.Errorf("row %d = %v, want %v", i, rows[i], want[i])
			}
		}
		if len(limits) != 3 || limits[0] != 2 {
			t.Errorf("limits sent = %v", limits)
		}
		f.mu.Lock()
		first := f.bodies["user/list_id"][0]
		f.mu.Unlock()
		if first != `{"limit":2}` {
			t.Errorf("first page body = %s, want the cursor left out", first)
		}
	})

	t.Run("a repeated cursor is an error, not an endless loop", func(t *testing.T) {
		f := newFake(t)
		f.on("user/list_id", func(int, *http.Request, []byte) any {
			return okBody{"next_cursor": "same", "dept_user": []DeptUser{{"a", 1}}}
		})
		c, _ := newTestClient(t, f.srv.URL, nil)
		if _, err := c.ListUserIDs(context.Background(), 10); !errors.Is(err, errCursorLoop) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("an out-of-range limit is refused before calling", func(t *testing.T) {
		f := newFake(t)
		c, _ := newTestClient(t, f.srv.URL, nil)
		if _, err := c.ListUserIDPage(context.Background(), "", 10001); err == nil || f.count("user/list_id") != 0 {
			t.Fatalf("err = %v calls = %d", err, f.count("user/list_id"))
		}
	})
}

func TestBatchDeleteUsers(t *testing.T) {
	t.Run("more than 200 ids fail client-side with ErrTooManyUserIDs", func(t *testing.T) {
		f := newFake(t)
		c, _ := newTestClient(t, f.srv.URL, nil)
		err := c.BatchDeleteUsers(context.Background(), make([]string, 201))
		if !errors.Is(err, ErrTooManyUserIDs) || !strings.Contains(err.Error(), "201") {
			t.Fatalf("err = %v", err)
		}
		if f.count("user/batchdelete") != 0 {
			t.Error("called WeCom anyway")
		}
	})
	t.Run("200 ids go in one call as useridlist", func(t *testing.T) {
		f := newFake(t)
		c, _ := newTestClient(t, f.srv.URL, nil)
		ids := make([]string, 200)
		for i := range ids {
			ids[i] = "u" + strings.Repeat("x", i%5)
		}
		if err := c.BatchDeleteUsers(context.Background(), ids); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		var in struct {
			UserIDList []string `json:"useridlist"`
		}
		_ = json.Unmarshal([]byte(f.bodies["user/batchdelete"][0]), &in)
		f.mu.Unlock()
		if len(in.UserIDList) != 200 {
			t.Errorf("sent %d ids", len(in.UserIDList))
		}
	})
}

func TestUploadMedia(t *testing.T) {
	t.Run("sends the file as multipart field media with its filename", func(t *testing.T) {
		f := newFake(t)
		var gotName, gotField, gotData, gotType, gotLen string
		f.on("media/upload", func(_ int, r *http.Request, body []byte) any {
			gotType = r.URL.Query().Get("type")
			_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			mr := multipart.NewReader(strings.NewReader(string(body)), params["boundary"])
			p, err := mr.NextPart()
			if err != nil {
				t.Errorf("multipart: %v", err)
				return wecomErr{44001, "empty media"}
			}
			gotField, gotName = p.FormName(), p.FileName()
			_, dparams, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			gotLen = dparams["filelength"]
			b, _ := io.ReadAll(p)
			gotData = string(b)
			return okBody{"type": "file", "media_id": "m-1", "created_at": "1380000000"}
		})
		c, _ := newTestClient(t, f.srv.URL, nil)
		data := "姓名,帐号\n张三,zhangsan\n"
		m, err := c.UploadMedia(context.Background(), "file", "users.csv", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaID != "m-1" || m.CreatedAt != "1380000000" {
			t.Errorf("media = %+v", m)
		}
		if gotType != "file" || gotField != "media" || gotName != "users.csv" || gotData != data || gotLen != "30" {
			t.Errorf("type=%q field=%q name=%q len=%q data=%q", gotType, gotField, gotName, gotLen, gotData)
		}
	})
}

func TestWaitBatchResult(t *testing.T) {
	t.Run("polls getresult until status 3", func(t *testing.T) {
		f := newFake(t)
		f.on("batch/syncuser", func(int, *http.Request, []byte) any { return okBody{"jobid": "job1"} })
		f.on("batch/getresult", func(n int, r *http.Request, _ []byte) any {
			if r.URL.Query().Get("jobid") != "job1" {
				return wecomErr{40088, "jobid not found"}
			}
			if n < 3 {
				return okBody{"status": n, "type": "sync_user", "total": 2, "percentage": 50 * (n - 1)}
			}
			return okBody{"status": 3, "type": "sync_user", "total": 2, "percentage": 100,
				"result": []map[string]any{{"userid": "a", "errcode": 0, "errmsg": "ok"}, {"userid": "b", "errcode": 60104, "errmsg": "mobile existed"}}}
		})
		clk := newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk })
		ctx := context.Background()
		job, err := c.SyncUsers(ctx, BatchJob{MediaID: "m-1", ToInvite: Ptr(false)})
		if err != nil || job != "job1" {
			t.Fatalf("job=%q err=%v", job, err)
		}
		res, err := c.WaitBatchResult(ctx, job, time.Second, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != JobFinished || len(res.Result) != 2 || res.Result[1].ErrCode != 60104 || res.Type != "sync_user" {
			t.Errorf("result = %+v", res)
		}
		if f.count("batch/getresult") != 3 {
			t.Errorf("polls = %d, want 3", f.count("batch/getresult"))
		}
		f.mu.Lock()
		body := f.bodies["batch/syncuser"][0]
		f.mu.Unlock()
		if body != `{"media_id":"m-1","to_invite":false}` {
			t.Errorf("syncuser body = %s", body)
		}
	})

	t.Run("stops when the context ends", func(t *testing.T) {
		f := newFake(t)
		f.on("batch/getresult", func(int, *http.Request, []byte) any { return okBody{"status": 2} })
		c, _ := newTestClient(t, f.srv.URL, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := c.WaitBatchResult(ctx, "j", 10*time.Millisecond, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("a job without progress is polled with backoff and given up at maxWait", func(t *testing.T) {
		f := newFake(t)
		f.on("batch/getresult", func(int, *http.Request, []byte) any { return okBody{"status": 2, "percentage": 0} })
		clk := newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk })
		start := clk.Now()
		_, err := c.WaitBatchResult(context.Background(), "j", time.Second, 10*time.Minute)
		if !errors.Is(err, ErrJobTimeout) {
			t.Fatalf("err = %v, want ErrJobTimeout", err)
		}
		if waited := clk.Now().Sub(start); waited != 10*time.Minute {
			t.Errorf("gave up after %s, want 10m", waited)
		}
		// 1 s doubling to the 30 s cap: 0, 1, 3, 7, 15, 31, 61, … 601 s.
		if n := f.count("batch/getresult"); n > 25 {
			t.Errorf("%d polls in 10 minutes: no backoff", n)
		}
	})

	t.Run("the wait follows the job's percentage", func(t *testing.T) {
		f := newFake(t)
		clk := newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		start := clk.Now()
		// A job that takes 100 s and reports its progress truly.
		f.on("batch/getresult", func(int, *http.Request, []byte) any {
			if el := clk.Now().Sub(start); el < 100*time.Second {
				return okBody{"status": 2, "percentage": int(el * 100 / (100 * time.Second))}
			}
			return okBody{"status": 3, "percentage": 100, "result": []any{}}
		})
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk })
		if _, err := c.WaitBatchResult(context.Background(), "j", time.Second, 0); err != nil {
			t.Fatal(err)
		}
		if done := clk.Now().Sub(start); done < 100*time.Second || done > 131*time.Second {
			t.Errorf("finished seen after %s, want within a poll of 100 s", done)
		}
		if n := f.count("batch/getresult"); n > 12 {
			t.Errorf("%d polls for a 100 s job", n)
		}
	})
}

func TestDepartmentCalls(t *testing.T) {
	t.Run("create returns the id and update omits unchanged fields", func(t *testing.T) {
		f := newFake(t)
		f.on("department/create", func(int, *http.Request, []byte) any { return okBody{"errmsg": "created", "id": 7} })
		c, _ := newTestClient(t, f.srv.URL, nil)
		ctx := context.Background()
		id, err := c.CreateDepartment(ctx, DepartmentCreate{Name: "研发部", ParentID: 1, Order: Ptr(uint32(0))})
		if err != nil || id != 7 {
			t.Fatalf("id=%d err=%v", id, err)
		}
		if err := c.UpdateDepartment(ctx, DepartmentUpdate{ID: 7, ParentID: Ptr(3)}); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteDepartment(ctx, 7); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if b := f.bodies["department/create"][0]; b != `{"name":"研发部","parentid":1,"order":0}` {
			t.Errorf("create body = %s", b)
		}
		if b := f.bodies["department/update"][0]; b != `{"id":7,"parentid":3}` {
			t.Errorf("update body = %s", b)
		}
		if q := f.queries["department/delete"][0]; !strings.Contains(q, "id=7") {
			t.Errorf("delete query = %s", q)
		}
	})
}
