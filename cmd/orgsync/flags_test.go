package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBadFlagValuesAreUsageErrorsBeforeAnythingRuns(t *testing.T) {
	en := newCLIEnv(t, 3)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"an output format no command prints", []string{"sync", "-c", en.cfg, "--output", "yaml"}, `orgsync: --output "yaml": want text or json`},
		{"a negative approval", []string{"sync", "-c", en.cfg, "--allow-destructive", "-5"}, "orgsync: --allow-destructive -5: want a number of changes, 0 or more"},
		{"plan checks them too", []string{"plan", "-c", en.cfg, "-o", "xml"}, `orgsync: --output "xml": want text or json`},
		{"no config", []string{"validate"}, "orgsync: no config: pass -c FILE, e.g. 'orgsync validate -c /etc/orgsync/orgsync.yaml'"},
		{"no config for sync", []string{"sync"}, "orgsync: no config: pass -c FILE, e.g. 'orgsync sync -c /etc/orgsync/orgsync.yaml'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, tc.args...)
			if code != ExitUsage || strings.TrimSpace(out) != tc.want {
				t.Fatalf("exit %d, output:\n%s\nwant exit 2 and:\n%s", code, out, tc.want)
			}
		})
	}
	if n := len(en.emu.State().Users); n != 0 {
		t.Fatalf("a rejected command synced %d members", n)
	}
	if _, err := os.Stat(filepath.Join(en.dir, "state.db")); !os.IsNotExist(err) {
		t.Fatalf("a rejected command opened the state store: %v", err)
	}
	t.Run("a bad log format on the command line", func(t *testing.T) {
		var out strings.Builder
		cmd := newRootCmd(&out, &out)
		cmd.SetArgs([]string{"sync", "-c", en.cfg, "--log-format", "xml"})
		if code := exitCode(cmd.Execute(), &out); code != ExitUsage || !strings.Contains(out.String(), `--log-format "xml": want auto, console, json, logfmt`) {
			t.Fatalf("exit %d: %s", code, out.String())
		}
	})
}

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if out, code := run(t, "healthcheck", "--addr", addr); code != ExitOK || !strings.Contains(out, "/healthz: ok") {
		t.Fatalf("healthy daemon: exit %d: %s", code, out)
	}
	if out, code := run(t, "healthcheck", "--addr", addr, "--ready"); code != ExitFailed || !strings.Contains(out, "HTTP 503: stopping") {
		t.Fatalf("unready daemon: exit %d: %s", code, out)
	}
	srv.Close()
	if out, code := run(t, "healthcheck", "--addr", addr); code != ExitFailed || !strings.Contains(out, "connection refused") {
		t.Fatalf("no daemon: exit %d: %s", code, out)
	}
}

func TestGenDocsWritesManPagesAndCompletions(t *testing.T) {
	dir := t.TempDir()
	if out, code := run(t, "gen-docs", "--out", dir); code != ExitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	for file, want := range map[string]string{
		"man/man1/orgsync.1":          `.TH "ORGSYNC" "1"`,
		"man/man1/orgsync-sync.1":     "allow-destructive",
		"man/man1/orgsync-daemon.1":   "orgsync_last_success_timestamp_seconds",
		"completions/orgsync.bash":    "__start_orgsync",
		"completions/_orgsync":        "#compdef orgsync",
		"completions/orgsync.fish":    "complete -c orgsync",
		"man/man1/orgsync-validate.1": "offline",
	} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s (%v) lacks %q", file, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "man/man1/orgsync-gen-docs.1")); !os.IsNotExist(err) {
		t.Errorf("the hidden packaging command got a man page: %v", err)
	}
}
