package client

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name string
		ans  any
	}{
		{"system busy -1", wecomErr{-1, "system busy"}},
		{"data version conflict 6000", wecomErr{6000, "data version conflict"}},
		{"concurrency limit 45033", wecomErr{45033, "api concurrent out of limit"}},
		{"HTTP 500", httpStatus(500)},
		{"HTTP 503", httpStatus(503)},
		{"dropped connection", dropConn{}},
	} {
		t.Run(tc.name+" is retried and then succeeds", func(t *testing.T) {
			f := newFake(t)
			f.on("user/update", func(n int, _ *http.Request, _ []byte) any {
				if n <= 2 {
					return tc.ans
				}
				return okBody{"errmsg": "updated"}
			})
			c, _ := newTestClient(t, f.srv.URL, nil)
			if err := c.UpdateUser(context.Background(), UserUpdate{UserID: "zhangsan", Name: Ptr("张三")}); err != nil {
				t.Fatalf("err = %v", err)
			}
			if got := f.count("user/update"); got != 3 {
				t.Errorf("attempts = %d, want 3", got)
			}
			f.mu.Lock()
			for i, b := range f.bodies["user/update"] {
				if b != `{"userid":"zhangsan","name":"张三"}` {
					t.Errorf("attempt %d body = %q: a retried POST must resend the same body", i+1, b)
				}
			}
			f.mu.Unlock()
			if got := c.Stats().Retries["user/update"]; got != 2 {
				t.Errorf("Stats.Retries = %d, want 2", got)
			}
		})

		t.Run(tc.name+" is retried at most MaxRetries times", func(t *testing.T) {
			f := newFake(t)
			f.on("user/update", func(int, *http.Request, []byte) any { return tc.ans })
			c, logs := newTestClient(t, f.srv.URL, func(c *Config) { c.MaxRetries = 2 })
			err := c.UpdateUser(context.Background(), UserUpdate{UserID: "zhangsan"})
			if err == nil {
				t.Fatal("want an error")
			}
			if got := f.count("user/update"); got != 3 {
				t.Errorf("attempts = %d, want 3 (1 + MaxRetries)", got)
			}
			if e, ok := tc.ans.(wecomErr); ok && Code(err) != e[0].(int) {
				t.Errorf("err = %v, want errcode %v", err, e[0])
			}
			assertNoCredentials(t, logs, []error{err}, "tokvalue001Z")
		})
	}

	t.Run("NoRetries sends exactly once", func(t *testing.T) {
		f := newFake(t)
		f.on("user/update", func(int, *http.Request, []byte) any { return wecomErr{-1, "system busy"} })
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.MaxRetries = NoRetries })
		err := c.UpdateUser(context.Background(), UserUpdate{UserID: "a"})
		if !IsCode(err, -1) || f.count("user/update") != 1 {
			t.Fatalf("err = %v, attempts = %d", err, f.count("user/update"))
		}
	})

	t.Run("a retried create that meets 60102 returns it for the caller to handle", func(t *testing.T) {
		f := newFake(t)
		f.on("user/create", func(n int, _ *http.Request, _ []byte) any {
			if n == 1 {
				return dropConn{} // the server may have created the user
			}
			return wecomErr{60102, "userid existed"}
		})
		c, _ := newTestClient(t, f.srv.URL, nil)
		err := c.CreateUser(context.Background(), UserCreate{UserID: "a", Name: "A", Mobile: "1"})
		if !IsCode(err, CodeUserExists) {
			t.Fatalf("err = %v, want 60102", err)
		}
	})

	t.Run("a cancelled context stops retrying", func(t *testing.T) {
		f := newFake(t)
		ctx, cancel := context.WithCancel(context.Background())
		f.on("user/update", func(int, *http.Request, []byte) any { cancel(); return wecomErr{-1, "busy"} })
		c, _ := newTestClient(t, f.srv.URL, nil)
		err := c.UpdateUser(ctx, UserUpdate{UserID: "a"})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if got := f.count("user/update"); got != 1 {
			t.Errorf("attempts = %d, want 1", got)
		}
	})
}

func TestRedaction(t *testing.T) {
	t.Run("no token or secret in logs or errors across failing calls", func(t *testing.T) {
		f := newFake(t)
		f.on("user/get", func(n int, r *http.Request, _ []byte) any {
			// A server echoing the token back must not leak it either.
			return wecomErr{60111, "userid not found: " + r.URL.Query().Get("access_token")}
		})
		f.on("user/update", func(int, *http.Request, []byte) any { return dropConn{} })
		f.on("user/delete", func(int, *http.Request, []byte) any { return httpStatus(502) })
		c, logs := newTestClient(t, f.srv.URL, nil)
		ctx := context.Background()
		var errs []error
		_, err := c.GetUser(ctx, "a")
		errs = append(errs, err)
		errs = append(errs, c.UpdateUser(ctx, UserUpdate{UserID: "a"}))
		errs = append(errs, c.DeleteUser(ctx, "a"))
		for i, err := range errs {
			if err == nil {
				t.Fatalf("call %d succeeded", i)
			}
		}
		if len(logs.All()) == 0 {
			t.Fatal("no log captured: the test would prove nothing")
		}
		assertNoCredentials(t, logs, errs, "tokvalue001Z")
		if !strings.Contains(errs[0].Error(), "REDACTED") {
			t.Errorf("echoed token not replaced: %q", errs[0])
		}
	})

	t.Run("a refused connection's url.Error is scrubbed, for API calls and gettoken", func(t *testing.T) {
		f := newFake(t)
		c, logs := newTestClient(t, f.srv.URL, func(c *Config) { c.MaxRetries = 1 })
		ctx := context.Background()
		if _, err := c.DepartmentSimpleList(ctx, 0); err != nil {
			t.Fatal(err)
		}
		f.srv.Close() // every later attempt fails with "connection refused" and the full URL
		_, err1 := c.DepartmentSimpleList(ctx, 0)
		c2, logs2 := newTestClient(t, f.srv.URL, func(c *Config) { c.MaxRetries = 1 })
		_, err2 := c2.DepartmentSimpleList(ctx, 0)
		if err1 == nil || err2 == nil {
			t.Fatal("want errors from a closed server")
		}
		if !strings.Contains(err1.Error(), "department/simplelist") || !strings.Contains(err2.Error(), "gettoken") {
			t.Errorf("errors do not name the API: %q, %q", err1, err2)
		}
		assertNoCredentials(t, logs, []error{err1}, "tokvalue001Z")
		assertNoCredentials(t, logs2, []error{err2})
		if strings.Contains(err2.Error(), "corpsecret=s") {
			t.Errorf("secret in %q", err2)
		}
	})
}

func TestTimeoutError(t *testing.T) {
	t.Run("a timeout is reported without the *url.Error that holds the URL", func(t *testing.T) {
		f := newFake(t)
		f.on("user/get", func(int, *http.Request, []byte) any { time.Sleep(300 * time.Millisecond); return okBody{} })
		c, logs := newTestClient(t, f.srv.URL, func(c *Config) { c.Timeout = 50 * time.Millisecond; c.MaxRetries = NoRetries })
		_, err := c.GetUser(context.Background(), "a")
		if err == nil {
			t.Fatal("want a timeout")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			t.Errorf("error unwraps to *url.Error %q", ue.URL)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("err = %v, want a net.Error with Timeout()", err)
		}
		assertNoCredentials(t, logs, []error{err}, "tokvalue001Z")
	})
}

func TestRawUTF8JSON(t *testing.T) {
	t.Run("CJK and <&> go on the wire unescaped", func(t *testing.T) {
		f := newFake(t)
		c, _ := newTestClient(t, f.srv.URL, nil)
		err := c.CreateUser(context.Background(), UserCreate{
			UserID: "zhangsan", Name: "张三 <R&D>", Mobile: "+86 13800000000", Department: []int{1},
			ExtAttr: &ExtAttr{Attrs: []ExtAttrItem{TextAttr("工号", "A&B")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		body := f.bodies["user/create"][0]
		f.mu.Unlock()
		for _, want := range []string{`"name":"张三 <R&D>"`, `"extattr":{"attrs":[{"type":0,"name":"工号","text":{"value":"A&B"}}]}`} {
			if !strings.Contains(body, want) {
				t.Errorf("body %s lacks %s", body, want)
			}
		}
		if strings.Contains(body, `\u`) {
			t.Errorf("body has \\u escapes: %s", body)
		}
	})
}

func TestUserUpdatePresence(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   UserUpdate
		want string
	}{
		{"nil fields are omitted (left unchanged)", UserUpdate{UserID: "a"}, `{"userid":"a"}`},
		{"a pointer to empty string clears the field", UserUpdate{UserID: "a", Alias: Ptr(""), Position: Ptr("")}, `{"userid":"a","alias":"","position":""}`},
		{"a pointer to an empty slice clears direct_leader", UserUpdate{UserID: "a", DirectLeader: &[]string{}}, `{"userid":"a","direct_leader":[]}`},
		{"enable 0 is sent, not omitted", UserUpdate{UserID: "a", Enable: Ptr(Disabled)}, `{"userid":"a","enable":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := jsonBody(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got %s, want %s", b, tc.want)
			}
		})
	}
}

func TestRateLimitBan(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)

	t.Run("45009 pauses the API until the next minute, then resumes", func(t *testing.T) {
		f := newFake(t)
		clk := newFakeClock(start)
		f.on("user/create", func(n int, _ *http.Request, _ []byte) any {
			if clk.Now().Before(start.Truncate(time.Minute).Add(time.Minute)) {
				return wecomErr{45009, "api freq out of limit"}
			}
			return okBody{"errmsg": "created"}
		})
		c, logs := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk })
		if err := c.CreateUser(context.Background(), UserCreate{UserID: "a", Name: "A", Mobile: "1"}); err != nil {
			t.Fatalf("err = %v", err)
		}
		if got := f.count("user/create"); got != 2 {
			t.Errorf("attempts = %d, want 2 (one refused, one after the window)", got)
		}
		if now := clk.Now(); now.Before(start.Truncate(time.Minute).Add(time.Minute)) || now.After(start.Add(30*time.Second+maxBanJitter)) {
			t.Errorf("resumed at %s, want within jitter after the minute boundary", now)
		}
		st := c.Stats()
		if st.Bans["user/create"] != 1 || st.BanWaits["user/create"] != 1 {
			t.Errorf("Bans=%v BanWaits=%v", st.Bans, st.BanWaits)
		}
		if len(logs.FilterMessageSnippet("45009").All()) != 1 {
			t.Error("the ban is not logged once")
		}
	})

	t.Run("a repeated ban fails fast for that API only, until it ends", func(t *testing.T) {
		f := newFake(t)
		clk := newFakeClock(start)
		f.on("user/create", func(int, *http.Request, []byte) any { return wecomErr{45009, "api freq out of limit"} })
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk })
		ctx := context.Background()
		err := c.CreateUser(ctx, UserCreate{UserID: "a", Name: "A", Mobile: "1"})
		var be *BanError
		if !errors.As(err, &be) || be.API != "user/create" {
			t.Fatalf("err = %v, want *BanError for user/create", err)
		}
		if !errors.Is(err, ErrRateLimited) || !IsCode(err, 45009) {
			t.Errorf("BanError must match ErrRateLimited and code 45009: %v", err)
		}
		if got := f.count("user/create"); got != 2 {
			t.Errorf("attempts = %d, want 2 (refused, waited, refused again)", got)
		}
		// Other callers of the API fail fast without a request...
		before := clk.Now()
		err = c.CreateUser(ctx, UserCreate{UserID: "b", Name: "B", Mobile: "2"})
		if !errors.Is(err, ErrRateLimited) || f.count("user/create") != 2 || !clk.Now().Equal(before) {
			t.Errorf("second caller: err=%v attempts=%d waited=%s", err, f.count("user/create"), clk.Now().Sub(before))
		}
		// ...while other APIs carry on.
		if _, err := c.CreateDepartment(ctx, DepartmentCreate{Name: "d", ParentID: 1}); err != nil {
			t.Errorf("another API is blocked: %v", err)
		}
		// After the ban, the API is tried again.
		clk.Advance(be.Until.Sub(clk.Now()) + time.Second)
		_ = c.CreateUser(ctx, UserCreate{UserID: "c", Name: "C", Mobile: "3"})
		if got := f.count("user/create"); got != 3 {
			t.Errorf("attempts after the ban = %d, want 3", got)
		}
	})

	t.Run("one call gives up after three refusals even if others keep succeeding", func(t *testing.T) {
		f := newFake(t)
		clk := newFakeClock(start)
		var cp atomic.Pointer[Client]
		f.on("user/create", func(int, *http.Request, []byte) any {
			c := cp.Load()
			c.clearBan(c.api("user/create")) // as another caller's success would
			return wecomErr{45009, "api freq out of limit"}
		})
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk })
		cp.Store(c)
		err := c.CreateUser(context.Background(), UserCreate{UserID: "a", Name: "A", Mobile: "1"})
		if !errors.Is(err, ErrRateLimited) || f.count("user/create") != maxRefusalsPerCall {
			t.Fatalf("err=%v attempts=%d, want BanError after %d", err, f.count("user/create"), maxRefusalsPerCall)
		}
	})

	t.Run("a window longer than MaxBanWait fails fast", func(t *testing.T) {
		f := newFake(t)
		clk := newFakeClock(start)
		f.on("user/delete", func(int, *http.Request, []byte) any { return wecomErr{45009, "api freq out of limit"} })
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk; c.MaxBanWait = 10 * time.Second })
		err := c.DeleteUser(context.Background(), "a")
		if !errors.Is(err, ErrRateLimited) || f.count("user/delete") != 1 || !clk.Now().Equal(start) {
			t.Fatalf("err=%v attempts=%d waited=%s", err, f.count("user/delete"), clk.Now().Sub(start))
		}
	})

	t.Run("concurrent callers all wait for the one window", func(t *testing.T) {
		f := newFake(t)
		clk := newFakeClock(start)
		boundary := start.Truncate(time.Minute).Add(time.Minute)
		f.on("department/update", func(int, *http.Request, []byte) any {
			if clk.Now().Before(boundary) {
				return wecomErr{45009, "api freq out of limit"}
			}
			return okBody{}
		})
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk })
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.UpdateDepartment(context.Background(), DepartmentUpdate{ID: 2, Name: Ptr("x")})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Errorf("caller failed: %v", err)
			}
		}
		if got := c.Stats().Bans["department/update"]; got != 1 {
			t.Errorf("bans = %d, want 1 window however many callers hit it", got)
		}
	})
}

func TestHourlyBudget(t *testing.T) {
	t.Run("the hourly budget fails fast when room is far, and refills an hour later", func(t *testing.T) {
		f := newFake(t)
		clk := newFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk; c.RatePerHour = 5 })
		ctx := context.Background()
		for i := range 5 {
			clk.Advance(time.Minute)
			if err := c.DeleteUser(ctx, "a"); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		err := c.DeleteUser(ctx, "a")
		var be *BanError
		if !errors.As(err, &be) || f.count("user/delete") != 5 {
			t.Fatalf("6th call: err=%v calls=%d", err, f.count("user/delete"))
		}
		if want := time.Date(2026, 1, 1, 13, 1, 0, 0, time.UTC); !be.Until.Equal(want) {
			t.Errorf("Until = %s, want %s (the first call's minute leaving the hour)", be.Until, want)
		}
		if err := c.DeleteDepartment(ctx, 2); err != nil {
			t.Errorf("another API's budget is separate: %v", err)
		}
		clk.Advance(be.Until.Sub(clk.Now()))
		if err := c.DeleteUser(ctx, "a"); err != nil {
			t.Errorf("after the oldest minute left the hour: %v", err)
		}
	})

	t.Run("the hourly budget waits when room comes within MaxBanWait", func(t *testing.T) {
		f := newFake(t)
		clk := newFakeClock(time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC))
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk; c.RatePerHour = 2 })
		ctx := context.Background()
		for range 2 {
			if err := c.DeleteUser(ctx, "a"); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(59 * time.Minute) // 12:59:30: both calls' minute leaves at 13:00
		if err := c.DeleteUser(ctx, "a"); err != nil {
			t.Fatalf("err = %v", err)
		}
		if now := clk.Now(); !now.Equal(time.Date(2026, 1, 1, 13, 0, 0, 0, time.UTC)) {
			t.Errorf("resumed at %s, want 13:00:00", now)
		}
	})
}

func TestClientRateLimiter(t *testing.T) {
	t.Run("calls beyond the per-API burst wait and are counted", func(t *testing.T) {
		f := newFake(t)
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.RatePerMinute = 1200 }) // 20/s, burst 2
		ctx := context.Background()
		begin := time.Now()
		for range 6 {
			if err := c.DeleteUser(ctx, "a"); err != nil {
				t.Fatal(err)
			}
		}
		if el := time.Since(begin); el < 150*time.Millisecond {
			t.Errorf("6 calls at 20/s took %s, want ≥ 150ms", el)
		}
		st := c.Stats()
		if st.RateLimitWaits["user/delete"] < 3 || st.RateLimitWaitTime <= 0 {
			t.Errorf("RateLimitWaits = %v (%s)", st.RateLimitWaits, st.RateLimitWaitTime)
		}
	})

	t.Run("never more than Concurrency requests in flight", func(t *testing.T) {
		var mu sync.Mutex
		inflight, peak := 0, 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inflight++
			peak = max(peak, inflight)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			inflight--
			mu.Unlock()
			_ = json.NewEncoder(w).Encode(map[string]any{"errcode": 0, "access_token": "tokvalue001Z", "expires_in": 7200})
		}))
		defer srv.Close()
		c, _ := newTestClient(t, srv.URL, func(c *Config) { c.Concurrency = 3 })
		var wg sync.WaitGroup
		for range 12 {
			wg.Add(1)
			go func() { defer wg.Done(); _ = c.DeleteUser(context.Background(), "a") }()
		}
		wg.Wait()
		if peak > 3 || peak < 2 {
			t.Errorf("peak in flight = %d, want 2..3", peak)
		}
	})
}

func TestRedirect(t *testing.T) {
	t.Run("an http:// base URL's 301 is reported, not followed", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://qyapi.example"+r.URL.RequestURI(), http.StatusMovedPermanently)
		}))
		defer srv.Close()
		c, logs := newTestClient(t, srv.URL, nil)
		_, err := c.DepartmentSimpleList(context.Background(), 0)
		if err == nil || !strings.Contains(err.Error(), "HTTP 301 redirect") || !strings.Contains(err.Error(), "base_url") {
			t.Fatalf("err = %v", err)
		}
		assertNoCredentials(t, logs, []error{err})
	})
}
