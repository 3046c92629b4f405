package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/plan"
)

func decode(t *testing.T, y string) (Config, error) {
	t.Helper()
	f, err := config.Parse([]byte(y), "/etc/orgsync/orgsync.yaml")
	if f == nil {
		t.Fatalf("parse: %v", err)
	}
	return Decode(f)
}

func TestDecode(t *testing.T) {
	t.Setenv("ROBOT_KEY", "k-from-env")
	t.Run("defaults to failed, refused, held and attention with a 10s timeout", func(t *testing.T) {
		c, err := decode(t, "notify:\n  webhook: {url: 'http://127.0.0.1:1/x'}\n")
		if err != nil || strings.Join(c.On, ",") != "failed,refused,held,attention" || c.Timeout.D() != DefaultTimeout {
			t.Fatalf("got %+v, %v", c, err)
		}
	})
	t.Run("expands a robot key from the environment and defaults the URL", func(t *testing.T) {
		c, err := decode(t, "notify:\n  wecom_robot: {key: '${ROBOT_KEY}'}\n")
		if err != nil || c.WeComRobot.Key.Reveal() != "k-from-env" || c.WeComRobot.URL != DefaultRobotURL {
			t.Fatalf("got %+v, %v", c.WeComRobot, err)
		}
	})
	t.Run("resolves a relative key file against the config directory", func(t *testing.T) {
		c, err := decode(t, "notify:\n  wecom_robot: {key_file: robot.key}\n")
		if err != nil || c.WeComRobot.KeyFile != "/etc/orgsync/robot.key" {
			t.Fatalf("got %+v, %v", c.WeComRobot, err)
		}
	})
	for _, tc := range []struct{ name, yaml, want string }{
		{"rejects an unknown event", "notify:\n  on: [failed, always]\n", `notify.on: "always" is not one of`},
		{"rejects a robot with neither key nor key_file", "notify:\n  wecom_robot: {}\n", "notify.wecom_robot: set key"},
		{"rejects a webhook without a URL", "notify:\n  webhook: {token: x}\n", `notify.webhook.url: "" is not an http(s) URL`},
		{"rejects an unknown key with its line", "notify:\n  webhok: {url: x}\n", "line 2: notify.webhok: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(t, tc.yaml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	all := New(Config{On: []string{OnFailed, OnRefused, OnHeld, OnChanged}, WeComRobot: &RobotConfig{}}, "h")
	def := New(Config{On: DefaultOn, WeComRobot: &RobotConfig{}}, "h")
	for _, tc := range []struct {
		name string
		n    *Notifier
		rep  *engine.Report
		want string
	}{
		{"stays quiet after a clean run with no changes", def, &engine.Report{Status: engine.StatusSucceeded, Changes: map[string]int{"user_create": 0}}, ""},
		{"stays quiet about changes unless asked", def, &engine.Report{Status: engine.StatusSucceeded, Changes: map[string]int{"user_create": 3}}, ""},
		{"tells about changes when asked", all, &engine.Report{Status: engine.StatusSucceeded, Changes: map[string]int{"user_create": 3}}, "changed"},
		{"tells about a failed run", def, &engine.Report{Status: engine.StatusFailed}, "failed"},
		{"tells about a run that never got recorded", def, nil, "failed"},
		{"tells about a refusal", def, &engine.Report{Status: engine.StatusRefused, Refusal: "too many disables"}, "refused"},
		{"tells about held changes and failed items together", def, &engine.Report{Status: engine.StatusFailed, Failed: 1, Held: 2}, "failed,held"},
		{"ignores changes of a dry run", all, &engine.Report{Status: engine.StatusSucceeded, DryRun: true, Changes: map[string]int{"user_create": 3}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(tc.n.Events(tc.rep), ","); got != tc.want {
				t.Fatalf("events = %q, want %q", got, tc.want)
			}
		})
	}
}

func failedReport() *engine.Report {
	return &engine.Report{RunID: 7, Status: engine.StatusFailed, Changes: map[string]int{"user_create": 3, "user_update": 0},
		Held: 1, HeldChanges: []plan.Held{{Op: plan.OpUserDisable, Object: "e009", Reason: "source hr incomplete"}},
		Failed: 1, Failures: []directory.ItemResult{{Op: plan.OpUserCreate, Object: "e010", Code: 60104, Error: "wecom user/create: errcode 60104 (mobile existed: 13800138000)"}},
		Error: "1 of 4 changes failed"}
}

func TestNotifyDeliversToBothChannels(t *testing.T) {
	var mu sync.Mutex
	var robotBody map[string]map[string]string
	var robotKey, auth string
	var hook WebhookPayload
	robot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		robotKey = r.URL.Query().Get("key")
		_ = json.NewDecoder(r.Body).Decode(&robotBody)
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	defer robot.Close()
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		auth = r.Header.Get("Authorization")
		_ = json.NewDecoder(r.Body).Decode(&hook)
	}))
	defer hookSrv.Close()
	keyFile := filepath.Join(t.TempDir(), "robot.key")
	if err := os.WriteFile(keyFile, []byte("robot-key-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := New(Config{On: DefaultOn, Timeout: config.Duration(5 * time.Second),
		WeComRobot: &RobotConfig{KeyFile: keyFile, URL: robot.URL + "/cgi-bin/webhook/send"},
		Webhook:    &WebhookConfig{URL: hookSrv.URL, Token: "hook-token"}}, "host-a")
	if err := n.Notify(context.Background(), failedReport(), errors.New("1 of 4 changes failed")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	md := robotBody["markdown"]["content"]
	if robotKey != "robot-key-1" || robotBody["msgtype"]["x"] != "" {
		t.Fatalf("robot key %q", robotKey)
	}
	for _, want := range []string{"**orgsync** on host-a", "failed", "(run 7)", "user_create 3", "e010", "60104", "138****8000", "user_disable e009: source hr incomplete", "why you hear about it: failed, held"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "13800138000") {
		t.Errorf("markdown leaks a mobile:\n%s", md)
	}
	if auth != "Bearer hook-token" || hook.Event != "orgsync.run" || hook.Report == nil || hook.Report.RunID != 7 || strings.Join(hook.Events, ",") != "failed,held" {
		t.Fatalf("webhook got auth %q payload %+v", auth, hook)
	}
}

func TestNotifyFailuresAreReportedNotFatal(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"errcode":93000,"errmsg":"invalid webhook url"}`)
	}))
	defer refusing.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then the server notices the client hanging up
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	n := New(Config{On: DefaultOn, Timeout: config.Duration(200 * time.Millisecond),
		WeComRobot: &RobotConfig{Key: "secret-robot-key", URL: refusing.URL},
		Webhook:    &WebhookConfig{URL: slow.URL}}, "h")
	start := time.Now()
	err := n.Notify(context.Background(), failedReport(), nil)
	if time.Since(start) > 3*time.Second {
		t.Fatalf("notify took %v despite the 200ms timeout", time.Since(start))
	}
	var ce *ChannelError
	if err == nil || !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"notify wecom_robot: robot refused the message: errcode 93000", "notify webhook:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "secret-robot-key") {
		t.Errorf("error leaks the robot key: %v", err)
	}
}

func TestNotifyRedactsTheRobotKeyFromTransportErrors(t *testing.T) {
	n := New(Config{On: DefaultOn, Timeout: config.Duration(time.Second), WeComRobot: &RobotConfig{Key: "k/ey+1", URL: "http://127.0.0.1:1/send"}}, "h")
	err := n.Notify(context.Background(), failedReport(), nil)
	if err == nil || strings.Contains(err.Error(), "k%2Fey%2B1") || strings.Contains(err.Error(), "k/ey+1") {
		t.Fatalf("err = %v", err)
	}
}

func TestMarkdownStaysWithinWeComsLimit(t *testing.T) {
	rep := failedReport()
	for range 500 {
		rep.Failures = append(rep.Failures, directory.ItemResult{Op: plan.OpUserCreate, Object: strings.Repeat("长", 40), Error: strings.Repeat("错", 100)})
	}
	rep.Failed = len(rep.Failures)
	rep.SourceProblems = []string{strings.Repeat("问题", 3000)}
	md := Markdown(rep, nil, []string{OnFailed}, "h")
	if len(md) > maxMarkdown || !strings.Contains(md, "**orgsync**") {
		t.Fatalf("markdown is %d bytes", len(md))
	}
	if !strings.HasSuffix(md, "…") {
		t.Fatalf("truncated markdown does not say so")
	}
}
