package client

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConfigErrors(t *testing.T) {
	t.Run("gettoken config errors stop at once and are remembered for the hold", func(t *testing.T) {
		for _, tc := range []struct {
			code int
			fix  string
		}{
			{40001, "Contacts-Sync secret"},
			{40013, "corp id is wrong"},
			{40091, "another corp"},
			{41002, "corp id is missing"},
			{41004, "secret is missing"},
			{45031, "insecure"},
			{50003, "disabled"},
			{60020, "add this host's IP to the trusted IPs (企业可信IP)"},
		} {
			t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
				f := newFake(t)
				f.on("gettoken", func(int, *http.Request, []byte) any {
					return wecomErr{tc.code, "bad, hint: [1234abc], from ip: 10.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=" + strconv.Itoa(tc.code)}
				})
				clk := newFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
				c, _ := newTestClient(t, f.srv.URL, func(c *Config) { c.Clock = clk; c.AuthFailureHold = 10 * time.Minute })
				ctx := context.Background()
				_, err := c.DepartmentSimpleList(ctx, 0)
				var ce *ConfigError
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v, want *ConfigError", err)
				}
				if Code(err) != tc.code || ce.API != "gettoken" {
					t.Errorf("Code = %d API = %q, want %d gettoken", Code(err), ce.API, tc.code)
				}
				if !strings.Contains(err.Error(), tc.fix) {
					t.Errorf("message %q does not contain fix %q", err, tc.fix)
				}
				for _, noise := range []string{"hint:", "from ip", "more info"} {
					if strings.Contains(err.Error(), noise) {
						t.Errorf("message %q keeps WeCom's noise %q", err, noise)
					}
				}
				// Within the hold: no further gettoken, same error.
				clk.Advance(9 * time.Minute)
				_, err2 := c.CreateDepartment(ctx, DepartmentCreate{Name: "x", ParentID: 1})
				if Code(err2) != tc.code {
					t.Errorf("second call err = %v, want remembered %d", err2, tc.code)
				}
				if got := f.count("gettoken"); got != 1 {
					t.Errorf("gettoken calls within hold = %d, want 1", got)
				}
				clk.Advance(2 * time.Minute)
				_, _ = c.DepartmentSimpleList(ctx, 0)
				if got := f.count("gettoken"); got != 2 {
					t.Errorf("gettoken calls after hold = %d, want 2", got)
				}
				if f.count("department/simplelist")+f.count("department/create") != 0 {
					t.Error("an API was called without a token")
				}
			})
		}
	})

	t.Run("API config errors are typed and never retried", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			api  string
			code int
			call func(*Client) error
			fix  string
		}{
			{"48002 on user/create names the Contacts-Sync edit secret", "user/create", 48002,
				func(c *Client) error {
					return c.CreateUser(context.Background(), UserCreate{UserID: "a", Name: "A", Mobile: "13800000000"})
				},
				"API编辑通讯录"},
			{"48009 on user/get explains restricted reads", "user/get", 48009,
				func(c *Client) error { _, err := c.GetUser(context.Background(), "a"); return err },
				"user/list_id and department/simplelist"},
			{"48009 on department/list explains restricted reads", "department/list", 48009,
				func(c *Client) error { _, err := c.ListDepartments(context.Background(), 0); return err },
				"restricted reads"},
			{"60020 on department/create asks for a trusted IP", "department/create", 60020,
				func(c *Client) error {
					_, err := c.CreateDepartment(context.Background(), DepartmentCreate{Name: "x", ParentID: 1})
					return err
				},
				"trusted IPs"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFake(t)
				f.on(tc.api, func(int, *http.Request, []byte) any { return wecomErr{tc.code, "api forbidden"} })
				c, _ := newTestClient(t, f.srv.URL, nil)
				err := tc.call(c)
				if !IsConfig(err) || Code(err) != tc.code {
					t.Fatalf("err = %v, want *ConfigError %d", err, tc.code)
				}
				if !strings.Contains(err.Error(), tc.fix) {
					t.Errorf("message %q lacks %q", err, tc.fix)
				}
				if got := f.count(tc.api); got != 1 {
					t.Errorf("%s calls = %d, want 1 (no retry)", tc.api, got)
				}
			})
		}
	})
}

func TestAPIErrors(t *testing.T) {
	t.Run("a business error is an APIError with API, code and short message", func(t *testing.T) {
		f := newFake(t)
		f.on("user/create", func(int, *http.Request, []byte) any {
			return wecomErr{60102, "userid existed, hint: [1700000000_1_abc], from ip: 1.2.3.4, more info at https://open.work.weixin.qq.com/devtool/query?e=60102"}
		})
		f.on("gettoken", func(int, *http.Request, []byte) any {
			return okBody{"access_token": "tokvalue001Z", "expires_in": 7200}
		})
		c, _ := newTestClient(t, f.srv.URL, nil)
		err := c.CreateUser(context.Background(), UserCreate{UserID: "a", Name: "A", Mobile: "1"})
		var ae *APIError
		if !errors.As(err, &ae) {
			t.Fatalf("err = %T %v, want *APIError", err, err)
		}
		if ae.API != "user/create" || ae.Code != 60102 || ae.Msg != "userid existed" {
			t.Errorf("APIError = %+v", *ae)
		}
		if want := "wecom user/create: errcode 60102 (userid existed): the userid exists (userids are case-insensitive)"; err.Error() != want {
			t.Errorf("Error() = %q, want %q", err.Error(), want)
		}
		if !IsCode(err, 60111, 60102) || IsCode(err, 60111) || IsConfig(err) {
			t.Error("IsCode/IsConfig disagree with the code")
		}
		if got := f.count("user/create"); got != 1 {
			t.Errorf("calls = %d, want 1", got)
		}
	})

	t.Run("a configuration error reads as one sentence with its fix", func(t *testing.T) {
		err := newAPIError("user/create", 48002, "api forbidden, hint: [x], from ip: 1.1.1.1")
		want := "wecom user/create: errcode 48002 (api forbidden): configuration error: " + fixEditSecret
		if err.Error() != want {
			t.Errorf("got  %q\nwant %q", err.Error(), want)
		}
		err = newAPIError("gettoken", 40013, "")
		if strings.Contains(err.Error(), "()") {
			t.Errorf("empty errmsg leaves %q", err.Error())
		}
	})

	t.Run("Code is 0 for errors that are not WeCom answers", func(t *testing.T) {
		if Code(errors.New("x")) != 0 || Code(nil) != 0 || IsCode(nil, 0) {
			t.Error("Code of a plain error must be 0")
		}
	})

	t.Run("a missing errcode in a success body counts as success", func(t *testing.T) {
		f := newFake(t)
		f.on("department/simplelist", func(int, *http.Request, []byte) any {
			return rawBody(`{"department_id":[{"id":2,"parentid":1,"order":10}]}`)
		})
		c, _ := newTestClient(t, f.srv.URL, nil)
		got, err := c.DepartmentSimpleList(context.Background(), 0)
		if err != nil || len(got) != 1 || got[0] != (DepartmentRef{ID: 2, ParentID: 1, Order: 10}) {
			t.Fatalf("got %v, %v", got, err)
		}
	})

	t.Run("a non-JSON body is an error, not a success", func(t *testing.T) {
		f := newFake(t)
		f.on("department/simplelist", func(int, *http.Request, []byte) any { return rawBody("<html>proxy</html>") })
		c, _ := newTestClient(t, f.srv.URL, nil)
		if _, err := c.DepartmentSimpleList(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "not WeCom JSON") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("an unknown path's 404 is reported with its status", func(t *testing.T) {
		f := newFake(t)
		f.on("department/get", func(int, *http.Request, []byte) any { return httpStatus(404) })
		c, _ := newTestClient(t, f.srv.URL, nil)
		_, err := c.GetDepartment(context.Background(), 2)
		if err == nil || !strings.Contains(err.Error(), "HTTP status 404") {
			t.Fatalf("err = %v", err)
		}
		if got := f.count("department/get"); got != 1 {
			t.Errorf("404 retried: %d calls", got)
		}
	})
}
