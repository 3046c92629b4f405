package daemon

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/state"
)

// browser is an HTTP client with cookies that does not follow redirects
// blindly: it returns each answer.
func (h *heldEnv) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func TestThePageAsksForTheTokenThenDecidesWithCSRF(t *testing.T) {
	h := newHeldEnv(t, testToken)
	c := h.browser(t)
	code, page := get(t, c, h.srv.URL+"/ui/")
	if code != http.StatusOK || !strings.Contains(page, `<label for="token">API token</label>`) || strings.Contains(page, "user_disable") {
		t.Fatalf("before login: %d, want the login form and no data:\n%s", code, page)
	}
	if _, page = post(t, c, h.srv.URL+"/ui/login", url.Values{"token": {"wrong"}}); !strings.Contains(page, "wrong token") {
		t.Fatalf("a wrong token: %s", page)
	}
	if code, _ := post(t, c, h.srv.URL+"/ui/decide", url.Values{"id": {"1"}, "action": {"approve"}}); code != http.StatusUnauthorized {
		t.Fatalf("decide without a session: %d", code)
	}

	code, page = post(t, c, h.srv.URL+"/ui/login", url.Values{"token": {testToken}})
	if code != http.StatusOK || !strings.Contains(page, "logged in") || !strings.Contains(page, `id="held-1"`) || !strings.Contains(page, "max_disables") {
		t.Fatalf("after login: %d\n%s", code, page)
	}
	u, _ := url.Parse(h.srv.URL + "/ui/")
	ck := c.Jar.Cookies(u)
	if len(ck) != 1 || ck[0].Name != sessionCookie {
		t.Fatalf("cookies: %v", ck)
	}
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token in the page's forms")
	}
	if code, _ := post(t, c, h.srv.URL+"/ui/decide", url.Values{"id": {"1"}, "action": {"approve"}, "csrf": {"0000"}}); code != http.StatusForbidden {
		t.Fatalf("decide with a wrong CSRF token: %d", code)
	}
	if code, page = post(t, c, h.srv.URL+"/ui/decide", url.Values{"id": {"1"}, "action": {"approve"}, "csrf": {m[1]}}); code != http.StatusOK || !strings.Contains(page, "approved 1: #1 user_disable") {
		t.Fatalf("approve #1: %d\n%s", code, page)
	}
	if code, page = post(t, c, h.srv.URL+"/ui/decide", url.Values{"kind": {"user_disable"}, "action": {"reject"}, "csrf": {m[1]}}); code != http.StatusOK || !strings.Contains(page, "rejected 6") {
		t.Fatalf("reject by kind: %d\n%s", code, page)
	}
	hs := h.list(t, "")
	if hs[0].Status != state.HeldRejected || hs[0].DecidedBy != WebActor {
		t.Fatalf("after the page's decisions: %+v", hs[0])
	}

	resp, err := c.Get(h.srv.URL + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers: %v", resp.Header)
	}
}

func TestThePageIsReadOnlyWithoutAToken(t *testing.T) {
	h := newHeldEnv(t, "")
	c := h.browser(t)
	code, page := get(t, c, h.srv.URL+"/ui/")
	if code != http.StatusOK || !strings.Contains(page, `id="readonly"`) || !strings.Contains(page, "user_disable") || strings.Contains(page, "<button") {
		t.Fatalf("read-only page: %d\n%s", code, page)
	}
	if code, _ := post(t, c, h.srv.URL+"/ui/login", url.Values{"token": {""}}); code != http.StatusForbidden {
		t.Fatalf("login with no token configured: %d", code)
	}
	if code, _ := post(t, c, h.srv.URL+"/ui/decide", url.Values{"id": {"1"}, "action": {"approve"}}); code != http.StatusForbidden {
		t.Fatalf("decide with no token configured: %d", code)
	}
}
