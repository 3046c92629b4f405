package daemon_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orgsync/orgsync/notify/smtptest"
)

func TestTheDaemonMailsTheRunsItIsToldTo(t *testing.T) {
	e := newEnv(t, 6)
	smtp := smtptest.New(t, "orgsync@example.com", "smtp-pass")
	e.notify = fmt.Sprintf("notify:\n  on: [changed]\n  timeout: 5s\n  mail:\n    host: 127.0.0.1\n    port: %d\n"+
		"    username: orgsync@example.com\n    password: ${ORGSYNC_TEST_SMTP_PASSWORD}\n    from: orgsync@example.com\n"+
		"    to: [it-ops@example.com]\n    ca_file: %s\n", smtp.Port(), smtp.CAFile)
	p := e.start("ORGSYNC_TEST_SMTP_PASSWORD=smtp-pass")
	if code, _ := p.postSync(apiToken); code != http.StatusAccepted {
		t.Fatalf("trigger: %d", code)
	}
	p.waitFor("the mail", 10*time.Second, func() bool { return len(smtp.Sessions()) == 1 })
	m := smtp.Sessions()[0]
	if !m.TLSBeforeAuth || m.AuthUser != "orgsync@example.com" || strings.Join(m.To, ",") != "it-ops@example.com" {
		t.Fatalf("session: %+v", m)
	}
	for _, want := range []string{"Subject: orgsync on ", ": succeeded (run 1)", "changes: ", "user_create 6", "X-Orgsync-Events: changed"} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("the mail lacks %q:\n%s", want, m.Data)
		}
	}
	if v := value(p.metrics(), "orgsync_notification_errors_total", "channel", "mail"); v != 0 {
		t.Errorf("mail errors = %v", v)
	}
	p.stop(10 * time.Second)
}
