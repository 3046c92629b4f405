package reliability

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orgsync/orgsync/directory/wecom/emulator"
)

const (
	webhookToken = "rel-webhook-7c1e55d2-bearer"
	apiToken     = "rel-api-token-0b9a33e1"
	wrongSecret  = "rel-wrong-secret-4471aa"
)

// output is one thing orgsync produced, to be scanned.
type output struct {
	what string
	data []byte
}

// TestNoSecretInAnyOutput runs validate, plan (text, JSON, --out), sync
// (text and JSON, debug logs, faults that renew the token), history,
// explain and the daemon (its API answers and the webhook bodies it posts
// under notify:), then scans every byte they printed or wrote, the state
// store files included, for the WeCom secret, every access token the
// emulator issued, the webhook and API tokens (DESIGN §3a.7). Then configs
// with a mistyped secret_file must not print what the file (or the
// mistyped value) holds.
func TestNoSecretInAnyOutput(t *testing.T) {
	t.Parallel()
	emu := startEmulator(t, emulator.Options{Seed: 9, RestrictedReads: true,
		Faults: emulator.Faults{Rate: 0.05, Kinds: []string{emulator.FaultTokenExpiry, emulator.FaultBusy, emulator.FaultDropAfter}}})
	emu.invalidate = 0.02
	var hookMu sync.Mutex
	var hooks []output
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		// Only the body: the Authorization header carries the webhook
		// token by design.
		hooks = append(hooks, output{"webhook body " + r.URL.Path, b})
		hookMu.Unlock()
	}))
	t.Cleanup(hook.Close)

	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "webhook.token"), []byte(webhookToken+"\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "api.token"), []byte(apiToken+"\n"), 0o600))
	src := filepath.Join(dir, "employees.csv")
	ps := company(pick(80, 300))
	must(t, os.WriteFile(src, csvBytes(ps), 0o644))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	listen := ln.Addr().String()
	ln.Close()
	extra := fmt.Sprintf(`log: {level: debug, format: json}
schedule: {cron: "@every 1h", run_on_start: true}
server: {listen: %s, token_file: %s}
notify:
  on: [failed, refused, held, changed]
  webhook: {url: %s, token_file: %s}
`, listen, yq(filepath.Join(dir, "api.token")), yq(hook.URL+"/hook"), yq(filepath.Join(dir, "webhook.token")))
	cfgPath := writeConfig(t, cfg{Sources: csvSource(src, ""), URL: emu.URL, Dir: dir, Extra: extra})

	var outs []output
	add := func(r result) {
		outs = append(outs, output{"stdout of orgsync " + strings.Join(r.args, " "), []byte(r.stdout)},
			output{"stderr of orgsync " + strings.Join(r.args, " "), []byte(r.stderr)})
	}
	for _, args := range [][]string{
		{"validate", "-c", cfgPath},
		{"plan", "-c", cfgPath, "--out", filepath.Join(dir, "plan.json")},
		{"plan", "-c", cfgPath, "-o", "json"},
		{"sync", "-c", cfgPath, "-o", "json"},
		{"sync", "-c", cfgPath},
		{"history", "-c", cfgPath},
		{"history", "-c", cfgPath, "-o", "json"},
		{"history", "-c", cfgPath, "--run", "1", "-o", "json", "--limit", "10000"},
		{"history", "-c", cfgPath, "--run", "1", "--limit", "10000"},
		{"history", "-c", cfgPath, "--object", "e00001"},
		{"explain", "-c", cfgPath, "E00011"},
	} {
		add(runBin(t, 2*time.Minute, args...))
	}
	// A leaver and a mover, so the daemon's run changes something and
	// notifies.
	ps[20].Status, ps[21].Dept = "离职", "运营部"
	must(t, os.WriteFile(src, csvBytes(ps), 0o644))
	outs = append(outs, runDaemon(t, cfgPath, listen, func() bool {
		hookMu.Lock()
		defer hookMu.Unlock()
		return len(hooks) > 0
	})...)
	hookMu.Lock()
	if len(hooks) == 0 {
		t.Errorf("the daemon posted no webhook after a run that changed something (notify.on: changed)")
	}
	outs = append(outs, hooks...)
	hookMu.Unlock()
	add(runBin(t, time.Minute, "history", "-c", cfgPath, "-o", "json"))
	outs = append(outs, filesUnder(t, dir, "wecom.secret", "webhook.token", "api.token")...)

	tokens := emu.issuedTokens()
	if len(tokens) < 2 {
		t.Errorf("the emulator issued %d access tokens; the faults should have forced renewals", len(tokens))
	}
	needles := map[string]string{"the WeCom secret": testSecret, "the webhook token": webhookToken, "the API token": apiToken}
	for i, tok := range tokens {
		needles[fmt.Sprintf("access token %d", i+1)] = tok
	}
	bytesScanned := 0
	for _, o := range outs {
		bytesScanned += len(o.data)
	}
	t.Logf("scanned %d outputs, %d bytes, for %d secrets (%d access tokens)", len(outs), bytesScanned, len(needles), len(tokens))
	scan(t, outs, needles)

	t.Run("mistyped secret_file", func(t *testing.T) {
		cases := []struct {
			name, secretFile string
			setup            func(dir string)
		}{
			{"the secret pasted where the path goes", testSecret, nil},
			{"a misnamed path (wecom.secrte)", filepath.Join(dir, "wecom.secrte"), nil},
			{"an env file holding the secret", filepath.Join(dir, "wecom.env"), func(d string) {
				_ = os.WriteFile(filepath.Join(dir, "wecom.env"), []byte("WECOM_CORP_ID=x\nWECOM_SECRET="+testSecret+"\n"), 0o600)
			}},
			{"the config file itself", cfgPath, nil},
			{"a file with the wrong secret", filepath.Join(dir, "wrong.secret"), func(d string) {
				_ = os.WriteFile(filepath.Join(dir, "wrong.secret"), []byte(wrongSecret+"\n"), 0o600)
			}},
			{"a directory", dir, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.setup != nil {
					tc.setup(dir)
				}
				d := t.TempDir()
				p := writeConfig(t, cfg{Sources: csvSource(src, ""), URL: emu.URL, Dir: d})
				b, err := os.ReadFile(p)
				must(t, err)
				y := strings.Replace(string(b), yq(filepath.Join(d, "wecom.secret")), yq(tc.secretFile), 1)
				must(t, os.WriteFile(p, []byte(y), 0o600))
				var outs []output
				for _, args := range [][]string{{"validate", "-c", p}, {"plan", "-c", p}, {"sync", "-c", p, "--log-level", "debug"}} {
					r := runBin(t, time.Minute, args...)
					if r.code == 0 {
						t.Errorf("orgsync %s succeeded with secret_file %s", args[0], tc.name)
					}
					outs = append(outs, output{"output of orgsync " + strings.Join(args, " "), []byte(r.out())})
				}
				scan(t, outs, map[string]string{"the WeCom secret": testSecret, "the wrong secret": wrongSecret, "the API token": apiToken, "the webhook token": webhookToken})
			})
		}
	})
}

// scan fails t for every needle found in an output, in its plain, URL-
// and JSON-escaped forms.
func scan(t *testing.T, outs []output, needles map[string]string) {
	t.Helper()
	for what, n := range needles {
		forms := []string{n, url.QueryEscape(n)}
		for _, o := range outs {
			for _, f := range forms {
				if i := bytes.Index(o.data, []byte(f)); i >= 0 {
					lo, hi := max(0, i-80), min(len(o.data), i+len(f)+40)
					t.Errorf("%s found in %s: ...%q...", what, o.what, o.data[lo:hi])
					break
				}
			}
		}
	}
}

// filesUnder reads every file orgsync left in dir (the state store, its
// WAL, plan files, anything else), except the named secret files.
func filesUnder(t *testing.T, dir string, except ...string) []output {
	t.Helper()
	var outs []output
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		for _, e := range except {
			if fi.Name() == e {
				return nil
			}
		}
		if b, err := os.ReadFile(p); err == nil {
			outs = append(outs, output{"file " + strings.TrimPrefix(p, dir+"/"), b})
		}
		return nil
	})
	return outs
}

// runDaemon runs `orgsync daemon` until done holds (or 90 s), reads its API
// (status, the runs, metrics) with the token, then stops it with SIGTERM.
func runDaemon(t *testing.T, cfgPath, listen string, done func() bool) []output {
	t.Helper()
	cmd := exec.Command(bin, "daemon", "-c", cfgPath)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	must(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	if !poll(90*time.Second, done) {
		t.Errorf("the daemon's run did not notify within 90s; stderr:\n%s", tail(se.String(), 20))
	}
	var outs []output
	c := http.Client{Timeout: 5 * time.Second}
	for _, p := range []string{"/v1/status", "/v1/runs/1", "/v1/runs/2", "/v1/runs/3", "/metrics", "/healthz"} {
		req, _ := http.NewRequest("GET", "http://"+listen+p, nil)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		resp, err := c.Do(req)
		if err != nil {
			t.Errorf("daemon GET %s: %v", p, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		outs = append(outs, output{"daemon GET " + p, b})
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(40 * time.Second):
		t.Errorf("the daemon did not stop within 40s of SIGTERM")
	}
	r := result{args: cmd.Args[1:], stdout: so.String(), stderr: se.String()}
	checkSane(t, r)
	return append(outs, output{"daemon stdout", so.Bytes()}, output{"daemon stderr (logs)", se.Bytes()})
}
