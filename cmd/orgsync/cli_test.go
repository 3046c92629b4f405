package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
)

// cliEnv is a company in a CSV, an emulator over HTTP and a config.
type cliEnv struct {
	dir string
	emu *emulator.Server
	cfg string
}

func newCLIEnv(t *testing.T, people int) *cliEnv {
	t.Helper()
	emu, err := emulator.New(emulator.Options{CorpID: "wwclitest", RestrictedReads: true,
		Secrets: []emulator.SecretSpec{{Secret: "cli-secret", Role: emulator.RoleContactsSyncEdit}}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	en := &cliEnv{dir: t.TempDir(), emu: emu}
	en.writePeople(t, people)
	en.cfg = filepath.Join(en.dir, "orgsync.yaml")
	cfg := fmt.Sprintf(`sources:
  - name: hr
    type: csv
    config: {path: %[1]s/people.csv, settle: 0s}
mapping:
  key: 工号
  user: {userid: lower(工号), name: 姓名, department: 部门, mobile: 手机}
target:
  config: {base_url: %[2]s, corp_id: wwclitest, secret_file: %[1]s/secret}
policy: {max_disables: "10%%"}
state: {path: %[1]s/state.db}
`, en.dir, srv.URL)
	must(t, os.WriteFile(en.cfg, []byte(cfg), 0o644))
	must(t, os.WriteFile(filepath.Join(en.dir, "secret"), []byte("cli-secret\n"), 0o600))
	return en
}

func (en *cliEnv) writePeople(t *testing.T, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("工号,姓名,部门,手机\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "E%03d,员工%d,总部/研发,1380000%04d\n", i, i, i)
	}
	must(t, os.WriteFile(filepath.Join(en.dir, "people.csv"), []byte(b.String()), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// run executes orgsync in-process and returns stdout and the exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd(&out, &errOut)
	cmd.SetArgs(append(args, "--log-level", "error", "--log-format", "json"))
	code := exitCode(cmd.Execute(), &errOut)
	return out.String() + errOut.String(), code
}

func TestSyncJSONReportHasTheDocumentedShape(t *testing.T) {
	en := newCLIEnv(t, 12)
	out, code := run(t, "sync", "-c", en.cfg, "--output", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	var rep map[string]any
	must(t, json.Unmarshal([]byte(out), &rep))
	for _, k := range []string{"run_id", "status", "changes", "held", "failed", "rejected_records", "api_calls"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	changes := rep["changes"].(map[string]any)
	for _, k := range []string{"department_create", "department_update", "department_delete", "user_create", "user_update", "user_move", "user_disable", "user_enable", "user_delete"} {
		if _, ok := changes[k]; !ok {
			t.Errorf("changes lacks %q", k)
		}
	}
	if rep["status"] != "succeeded" || changes["user_create"].(float64) != 12 {
		t.Fatalf("report = %s", out)
	}
}

func TestExitCodes(t *testing.T) {
	en := newCLIEnv(t, 12)
	t.Run("2 for a config error", func(t *testing.T) {
		bad := filepath.Join(en.dir, "bad.yaml")
		must(t, os.WriteFile(bad, []byte("sources: []\npolicy: {mode: everything}\n"), 0o644))
		out, code := run(t, "plan", "-c", bad)
		if code != ExitUsage || !strings.Contains(out, "policy.mode") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("2 for an unknown flag", func(t *testing.T) {
		if _, code := run(t, "sync", "--frobnicate"); code != ExitUsage {
			t.Fatalf("exit %d", code)
		}
	})
	t.Run("0 for a sync", func(t *testing.T) {
		if out, code := run(t, "sync", "-c", en.cfg); code != ExitOK {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("3 when the guard refuses, with counts and thresholds", func(t *testing.T) {
		en.writePeople(t, 6)
		out, code := run(t, "sync", "-c", en.cfg)
		if code != ExitRefused || !strings.Contains(out, "6 disables") || !strings.Contains(out, "--allow-destructive 6") {
			t.Fatalf("exit %d: %s", code, out)
		}
		if out, code := run(t, "plan", "-c", en.cfg); code != ExitRefused || !strings.Contains(out, "REFUSED") {
			t.Fatalf("plan exit %d: %s", code, out)
		}
		if out, code := run(t, "sync", "-c", en.cfg, "--allow-destructive", "6"); code != ExitOK {
			t.Fatalf("approved exit %d: %s", code, out)
		}
	})
	t.Run("4 when the run finished but rejected a record", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(en.dir, "people.csv"))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(en.dir, "people.csv"), []byte(strings.Replace(string(b), "13800000003", "not-a-phone", 1)), 0o644))
		out, code := run(t, "sync", "-c", en.cfg)
		if code != ExitAttention || !strings.Contains(out, "NEEDS_ATTENTION") || !strings.Contains(out, "needs attention: 1 source records rejected") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
}

func TestSyncAppliesExactlyTheReviewedPlanAndRefusesOnDrift(t *testing.T) {
	en := newCLIEnv(t, 5)
	planFile := filepath.Join(en.dir, "plan.json")
	out, code := run(t, "plan", "-c", en.cfg, "--out", planFile)
	if code != ExitOK || !strings.Contains(out, "user_create 5") {
		t.Fatalf("plan exit %d: %s", code, out)
	}
	// HR adds someone after the review: the reviewed plan no longer matches.
	en.writePeople(t, 6)
	out, code = run(t, "sync", "-c", en.cfg, "--plan", planFile)
	if code != ExitRefused || !strings.Contains(out, "no longer matches") {
		t.Fatalf("drifted sync exit %d: %s", code, out)
	}
	if n := len(en.emu.State().Users); n != 0 {
		t.Fatalf("a refused plan wrote %d users", n)
	}
	en.writePeople(t, 5)
	if out, code := run(t, "sync", "-c", en.cfg, "--plan", planFile); code != ExitOK {
		t.Fatalf("reviewed sync exit %d: %s", code, out)
	}
	if n := len(en.emu.State().Users); n != 5 {
		t.Fatalf("users = %d, want 5", n)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	en := newCLIEnv(t, 5)
	out, code := run(t, "sync", "-c", en.cfg, "--dry-run")
	if code != ExitOK || !strings.Contains(out, "dry run") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if s := en.emu.Stats(); s.Writes != 0 || len(en.emu.State().Users) != 0 {
		t.Fatalf("dry run wrote: %+v", s)
	}
	out, _ = run(t, "history", "-c", en.cfg)
	if strings.Contains(out, "succeeded") {
		t.Fatalf("dry run recorded a run: %s", out)
	}
}

func TestExplainTellsWhatHappensToAPerson(t *testing.T) {
	en := newCLIEnv(t, 5)
	run(t, "sync", "-c", en.cfg)
	en.writePeople(t, 4)
	out, code := run(t, "explain", "-c", en.cfg, "E005")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, want := range []string{"orgsync manages WeCom member e005", "next sync: user_disable", "no longer in the source"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	out, _ = run(t, "explain", "-c", en.cfg, "e002")
	if !strings.Contains(out, "people.csv:3") || !strings.Contains(out, "no change") {
		t.Errorf("explain e002:\n%s", out)
	}
}

func TestHistoryListsRunsAndTheAuditLog(t *testing.T) {
	en := newCLIEnv(t, 3)
	run(t, "sync", "-c", en.cfg)
	out, code := run(t, "history", "-c", en.cfg)
	if code != ExitOK || !strings.Contains(out, "succeeded") {
		t.Fatalf("exit %d: %s", code, out)
	}
	out, _ = run(t, "history", "-c", en.cfg, "--object", "E002")
	if !strings.Contains(out, "user_create") || !strings.Contains(out, "员工2") {
		t.Fatalf("audit log:\n%s", out)
	}
}

func TestValidateChecksTheDaemonBlocksToo(t *testing.T) {
	en := newCLIEnv(t, 3)
	b, err := os.ReadFile(en.cfg)
	must(t, err)
	bad := filepath.Join(en.dir, "daemon-bad.yaml")
	must(t, os.WriteFile(bad, append(b, []byte("schedule: {cron: \"every night\"}\nserver: {listen: nowhere}\n")...), 0o644))
	out, code := run(t, "validate", "--offline", "-c", bad)
	if code != ExitUsage || !strings.Contains(out, "schedule") || !strings.Contains(out, "server.listen") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if out, code := run(t, "validate", "--offline", "-c", en.cfg); code != ExitOK {
		t.Fatalf("good config: exit %d: %s", code, out)
	}
}

func TestCommandsReadTheConfigsLogBlock(t *testing.T) {
	en := newCLIEnv(t, 3)
	b, err := os.ReadFile(en.cfg)
	must(t, err)
	must(t, os.WriteFile(en.cfg, append(b, []byte("log: {level: chatty}\n")...), 0o644))
	var out, errOut bytes.Buffer
	cmd := newRootCmd(&out, &errOut)
	cmd.SetArgs([]string{"plan", "-c", en.cfg}) // no --log-level: the file's applies
	code := exitCode(cmd.Execute(), &errOut)
	if code != ExitUsage || !strings.Contains(errOut.String(), "chatty") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	// A flag on the command line wins over the file.
	if out, code := run(t, "plan", "-c", en.cfg); code != ExitOK {
		t.Fatalf("with --log-level: exit %d: %s", code, out)
	}
}
