package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/state"
)

const testToken = "held-test-token-0123456789"

// heldEnv is a daemon (not started: its routes and engine) over an
// emulator, with a run that refused 6 disables, queued as held.
type heldEnv struct {
	d   *Daemon
	srv *httptest.Server
	dir string
}

func writePeople(t *testing.T, dir string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("工号,姓名,部门,手机\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "E%03d,员工%d,总部/研发,1380000%04d\n", i, i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "people.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newHeldEnv(t *testing.T, token string) *heldEnv {
	t.Helper()
	emu, err := emulator.New(emulator.Options{CorpID: "wwheldtest", RestrictedReads: true,
		Secrets: []emulator.SecretSpec{{Secret: "held-secret", Role: emulator.RoleContactsSyncEdit}}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	wecom := httptest.NewServer(emu)
	t.Cleanup(wecom.Close)
	dir := t.TempDir()
	server := ""
	if token != "" {
		server = "server: {token: " + token + "}\n"
	}
	cfg := fmt.Sprintf(`sources:
  - name: hr
    type: csv
    config: {path: %[1]s/people.csv, settle: 0s}
mapping:
  key: 工号
  user: {userid: lower(工号), name: 姓名, department: 部门, mobile: 手机}
target:
  config: {base_url: %[2]s, corp_id: wwheldtest, secret: held-secret}
policy: {max_disables: "10%%", max_moves: "3"}
state: {path: %[1]s/state.db}
%[3]s`, dir, wecom.URL, server)
	path := filepath.Join(dir, "orgsync.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := newDaemon(Options{ConfigPath: path, Settings: s, Log: zap.NewNop(), Version: "test"})
	eng, err := engine.Build(s.File, d.log)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	d.eng = eng
	writePeople(t, dir, 20)
	if _, err := eng.RunOnce(context.Background(), engine.Options{}); err != nil {
		t.Fatal(err)
	}
	writePeople(t, dir, 14) // 6 leavers: over max_disables, refused and queued
	if rep, _ := eng.RunOnce(context.Background(), engine.Options{}); rep.Status != engine.StatusRefused {
		t.Fatalf("second run %s, want refused", rep.Status)
	}
	srv := httptest.NewServer(d.routes())
	t.Cleanup(srv.Close)
	return &heldEnv{d: d, srv: srv, dir: dir}
}

func (h *heldEnv) do(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (h *heldEnv) list(t *testing.T, query string) []state.HeldChange {
	t.Helper()
	code, b := h.do(t, "GET", "/v1/held"+query, testToken, "")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/held%s: %d %s", query, code, b)
	}
	var hs []state.HeldChange
	if err := json.Unmarshal(b, &hs); err != nil {
		t.Fatal(err)
	}
	return hs
}

func TestHeldAPIListsApprovesAndRejectsWithTheToken(t *testing.T) {
	h := newHeldEnv(t, testToken)
	if code, _ := h.do(t, "GET", "/v1/held", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("GET /v1/held without the token: %d", code)
	}
	hs := h.list(t, "")
	if len(hs) != 6 || hs[0].Op != "user_disable" || hs[0].Status != state.HeldHeld || !strings.Contains(hs[0].Reason, "refused") {
		t.Fatalf("queue: %+v", hs)
	}
	if code, _ := h.do(t, "POST", "/v1/held/1/approve", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("approve without the token: %d", code)
	}
	if code, _ := h.do(t, "POST", "/v1/held/1/approve", "wrong", ""); code != http.StatusUnauthorized {
		t.Fatalf("approve with a wrong token: %d", code)
	}

	code, b := h.do(t, "POST", "/v1/held/1/approve", testToken, `{"note": "HR ticket 4711"}`)
	var dec HeldDecision
	if code != http.StatusOK || json.Unmarshal(b, &dec) != nil || len(dec.Decided) != 1 || dec.Decided[0].Status != state.HeldApproved || dec.Decided[0].DecidedBy != APIActor {
		t.Fatalf("approve 1: %d %s", code, b)
	}
	code, b = h.do(t, "GET", "/v1/held/1", testToken, "")
	var det HeldDetail
	if code != http.StatusOK || json.Unmarshal(b, &det) != nil || len(det.Events) != 2 || det.Events[1].Actor != "api" || det.Events[1].Note != "HR ticket 4711" {
		t.Fatalf("GET /v1/held/1: %d %s", code, b)
	}

	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/v1/held/99/approve", "", http.StatusNotFound},
		{"POST", "/v1/held/x/approve", "", http.StatusBadRequest},
		{"POST", "/v1/held/approve", "", http.StatusBadRequest},
		{"POST", "/v1/held/approve?kind=user_frobnicate", "", http.StatusBadRequest},
		{"POST", "/v1/held/2/reject", "not json", http.StatusBadRequest},
		{"GET", "/v1/held/99", "", http.StatusNotFound},
	} {
		if code, b := h.do(t, c.method, c.path, testToken, c.body); code != c.want {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, code, c.want, b)
		}
	}

	code, b = h.do(t, "POST", "/v1/held/reject?kind=user_disable", testToken, "")
	if code != http.StatusOK || json.Unmarshal(b, &dec) != nil || len(dec.Decided) != 6 {
		t.Fatalf("reject by kind: %d %s", code, b)
	}
	for _, hc := range h.list(t, "?kind=user_disable") {
		if hc.Status != state.HeldRejected || hc.DecidedBy != APIActor {
			t.Fatalf("after reject by kind: %+v", hc)
		}
	}
	code, b = h.do(t, "POST", "/v1/held/approve?all=true", testToken, "")
	if code != http.StatusOK || json.Unmarshal(b, &dec) != nil || len(dec.Decided) != 0 {
		t.Fatalf("approve all with nothing held (all rejected): %d %s", code, b)
	}
}

func TestHeldAPIDecisionsNeedAToken(t *testing.T) {
	h := newHeldEnv(t, "")
	if code, b := h.do(t, "GET", "/v1/held", "", ""); code != http.StatusOK || !strings.Contains(string(b), "user_disable") {
		t.Fatalf("GET /v1/held with no token configured (reads are open, as /v1/status): %d %s", code, b)
	}
	if code, _ := h.do(t, "POST", "/v1/held/1/approve", "", ""); code != http.StatusForbidden {
		t.Fatalf("approve with no token configured: %d, want 403", code)
	}
}

func TestAnApprovalOverTheAPIIsMadeByTheNextRun(t *testing.T) {
	h := newHeldEnv(t, testToken)
	if code, b := h.do(t, "POST", "/v1/held/approve?kind=user_disable", testToken, ""); code != http.StatusOK {
		t.Fatalf("approve by kind: %d %s", code, b)
	}
	rep, err := h.d.eng.RunOnce(context.Background(), engine.Options{})
	if err != nil || rep.Changes["user_disable"] != 6 {
		t.Fatalf("next run: %v %v", err, rep.Changes)
	}
	for _, hc := range h.list(t, "?all=true") {
		if hc.Status != state.HeldApplied {
			t.Fatalf("%+v", hc)
		}
	}
}
