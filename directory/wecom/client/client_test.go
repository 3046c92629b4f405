package client

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestTokenSingleFlight(t *testing.T) {
	t.Run("fifty concurrent callers make exactly one gettoken", func(t *testing.T) {
		f := newFake(t)
		release := make(chan struct{})
		f.on("gettoken", func(n int, _ *http.Request, _ []byte) any {
			<-release // hold the first fetch until every caller is waiting
			f.mu.Lock()
			f.valid["tokvalue001Z"] = true
			f.mu.Unlock()
			return okBody{"access_token": "tokvalue001Z", "expires_in": 7200}
		})
		c, _ := newTestClient(t, f.srv.URL, nil)
		var wg sync.WaitGroup
		errs := make([]error, 50)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.DepartmentSimpleList(context.Background(), 0)
			}()
		}
		time.Sleep(100 * time.Millisecond)
		close(release)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("caller %d: %v", i, err)
			}
		}
		if got := f.count("gettoken"); got != 1 {
			t.Errorf("gettoken calls = %d, want 1", got)
		}
		if got := f.count("department/simplelist"); got != 50 {
			t.Errorf("simplelist calls = %d, want 50", got)
		}
	})
}

func TestTokenRefresh(t *testing.T) {
	t.Run("refreshes after 80 percent of expires_in, not before", func(t *testing.T) {
		f := newFake(t)
		f.expiresIn = 100
		clk := newFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
		c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk })
		ctx := context.Background()
		mustSimple := func() {
			t.Helper()
			if _, err := c.DepartmentSimpleList(ctx, 0); err != nil {
				t.Fatal(err)
			}
		}
		mustSimple()
		clk.Advance(79 * time.Second)
		mustSimple()
		if got := f.count("gettoken"); got != 1 {
			t.Fatalf("gettoken after 79s = %d, want 1", got)
		}
		clk.Advance(2 * time.Second)
		mustSimple()
		if got := f.count("gettoken"); got != 2 {
			t.Fatalf("gettoken after 81s = %d, want 2", got)
		}
		if got := c.Stats().TokenFetches; got != 2 {
			t.Errorf("Stats.TokenFetches = %d, want 2", got)
		}
	})

	t.Run("an invalidated token is refetched and the call retried once", func(t *testing.T) {
		f := newFake(t)
		c, _ := newTestClient(t, f.srv.URL, nil)
		ctx := context.Background()
		if _, err := c.DepartmentSimpleList(ctx, 0); err != nil {
			t.Fatal(err)
		}
		f.invalidateTokens()
		if _, err := c.DepartmentSimpleList(ctx, 0); err != nil {
			t.Fatalf("after invalidation: %v", err)
		}
		if g, s := f.count("gettoken"), f.count("department/simplelist"); g != 2 || s != 3 {
			t.Errorf("gettoken=%d simplelist=%d, want 2 and 3", g, s)
		}
	})

	for _, code := range []int{CodeInvalidToken, CodeTokenExpired} {
		t.Run("a token rejected twice with "+strconv.Itoa(code)+" fails after one refetch", func(t *testing.T) {
			f := newFake(t)
			f.on("user/get", func(int, *http.Request, []byte) any { return wecomErr{code, "token problem"} })
			c, _ := newTestClient(t, f.srv.URL, nil)
			_, err := c.GetUser(context.Background(), "zhangsan")
			if !IsCode(err, code) {
				t.Fatalf("err = %v, want errcode %d", err, code)
			}
			if IsConfig(err) {
				t.Errorf("token errors are not configuration errors: %v", err)
			}
			if g, u := f.count("gettoken"), f.count("user/get"); g != 2 || u != 2 {
				t.Errorf("gettoken=%d user/get=%d, want 2 and 2", g, u)
			}
		})
	}
}
