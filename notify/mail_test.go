package notify

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/notify/smtptest"
	"github.com/orgsync/orgsync/plan"
)

func mailConfig(t *testing.T, s *smtptest.Server, extra string) Config {
	t.Helper()
	y := "notify:\n  on: [failed, held]\n  timeout: 5s\n  mail:\n    host: 127.0.0.1\n    port: " + itoa(s.Port()) +
		"\n    username: orgsync@example.com\n    password: ${ORGSYNC_TEST_SMTP_PASSWORD}\n    from: orgsync@example.com\n" +
		"    to: [it-ops@example.com, hr-admin@example.com]\n    ca_file: " + s.CAFile + "\n" + extra
	f, err := config.Parse([]byte(y), "/etc/orgsync/orgsync.yaml")
	if f == nil {
		t.Fatal(err)
	}
	c, err := Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestMailIsSentOverSTARTTLSWithAuth(t *testing.T) {
	t.Setenv("ORGSYNC_TEST_SMTP_PASSWORD", "smtp-pass")
	s := smtptest.New(t, "orgsync@example.com", "smtp-pass")
	n := New(mailConfig(t, s, ""), "hr-sync-01")
	rep := &engine.Report{RunID: 42, Status: engine.StatusAttention, Held: 2, Changes: engine.ChangeCounts{"user_create": 3},
		HeldChanges: []plan.Held{{Op: plan.OpUserDisable, Object: "zhangsan", Reason: "source hr read incompletely"}}}
	if err := n.Notify(context.Background(), rep, nil); err != nil {
		t.Fatal(err)
	}
	got := s.Sessions()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	m := got[0]
	if !m.TLSBeforeAuth || m.AuthUser != "orgsync@example.com" || m.From != "orgsync@example.com" ||
		strings.Join(m.To, ",") != "it-ops@example.com,hr-admin@example.com" {
		t.Fatalf("session: %+v", m)
	}
	for _, want := range []string{"Subject: orgsync on hr-sync-01: needs_attention (run 42), 2 held", "To: <it-ops@example.com>, <hr-admin@example.com>",
		"X-Orgsync-Events: held", "user_disable zhangsan: source hr read incompletely", "changes: user_create 3"} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("message lacks %q:\n%s", want, m.Data)
		}
	}
	if strings.Contains(m.Data, "<font") || strings.Contains(m.Data, "**") {
		t.Errorf("markdown markup in the mail:\n%s", m.Data)
	}
}

func TestMailFailuresAreChannelErrors(t *testing.T) {
	t.Setenv("ORGSYNC_TEST_SMTP_PASSWORD", "wrong")
	s := smtptest.New(t, "orgsync@example.com", "smtp-pass")
	n := New(mailConfig(t, s, ""), "h")
	err := n.Notify(context.Background(), &engine.Report{Status: engine.StatusFailed}, errors.New("boom"))
	var ce *ChannelError
	if !errors.As(err, &ce) || ce.Channel != "mail" {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the password is in the error: %v", err)
	}
	t.Run("a server whose certificate is not trusted is refused", func(t *testing.T) {
		t.Setenv("ORGSYNC_TEST_SMTP_PASSWORD", "smtp-pass")
		c := mailConfig(t, s, "")
		c.Mail.CAFile = ""
		if err := New(c, "h").Notify(context.Background(), &engine.Report{Status: engine.StatusFailed}, nil); err == nil {
			t.Fatal("sent to a server with an untrusted certificate")
		}
		if len(s.Sessions()) != 0 {
			t.Fatal("a message got through")
		}
	})
}

func TestMailConfigProblems(t *testing.T) {
	for _, tc := range []struct{ name, mail, want string }{
		{"no host", "  mail: {from: a@b.c, to: [d@e.f]}\n", "notify.mail.host: required (the SMTP server)"},
		{"no recipient", "  mail: {host: smtp, from: a@b.c}\n", "notify.mail.to: at least one address is required"},
		{"a bad address", "  mail: {host: smtp, from: orgsync, to: [d@e.f]}\n", `notify.mail.from: "orgsync" is not an e-mail address`},
		{"a password in clear text", "  mail: {host: smtp, tls: none, from: a@b.c, to: [d@e.f], username: u, password: p}\n", "notify.mail.tls: none would send the password in clear text"},
		{"an unknown tls mode", "  mail: {host: smtp, tls: ssl, from: a@b.c, to: [d@e.f]}\n", `notify.mail.tls: "ssl" is not one of starttls, implicit, none`},
		{"a typo", "  mail: {host: smtp, from: a@b.c, to: [d@e.f], usernme: u}\n", "notify.mail.usernme: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := config.Parse([]byte("notify:\n"+tc.mail), "/etc/orgsync/orgsync.yaml")
			if f == nil {
				t.Fatal("no file")
			}
			_, err := Decode(f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("defaults: STARTTLS on 587", func(t *testing.T) {
		f, _ := config.Parse([]byte("notify:\n  mail: {host: smtp, from: a@b.c, to: [d@e.f]}\n"), "/etc/orgsync/orgsync.yaml")
		c, err := Decode(f)
		if err != nil || c.Mail.TLS != MailSTARTTLS || c.Mail.Port != 587 {
			t.Fatalf("%+v %v", c.Mail, err)
		}
	})
}
