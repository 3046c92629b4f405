package notify

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/plan"
)

// smtpServer is a small SMTP server on loopback that speaks what a client
// sending one message needs (RFC 5321 with STARTTLS, RFC 3207, and AUTH
// PLAIN, RFC 4954), and records what it was told.
type smtpServer struct {
	t        *testing.T
	ln       net.Listener
	tls      *tls.Config
	user, pw string
	caFile   string

	mu       sync.Mutex
	sessions []smtpSession
}

type smtpSession struct {
	TLSBeforeAuth bool
	AuthUser      string
	From          string
	To            []string
	Data          string
}

func newSMTPServer(t *testing.T, user, pw string) *smtpServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{t: t, user: user, pw: pw, caFile: filepath.Join(t.TempDir(), "ca.pem")}
	if err := os.WriteFile(s.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	s.tls = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ln.Close() })
	go func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpServer) all() []smtpSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpSession(nil), s.sessions...)
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(lines ...string) {
		for _, l := range lines {
			w.WriteString(l + "\r\n")
		}
		w.Flush()
	}
	var sess smtpSession
	secure := false
	say("220 127.0.0.1 ESMTP orgsync-test")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			if secure {
				say("250-127.0.0.1", "250-AUTH PLAIN", "250 8BITMIME")
			} else {
				say("250-127.0.0.1", "250-STARTTLS", "250 8BITMIME")
			}
		case "STARTTLS":
			say("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure = tc, true
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
		case "AUTH":
			mech, ir, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				say("504 unrecognized authentication type")
				continue
			}
			if ir == "" {
				say("334 ")
				ir, _ = r.ReadString('\n')
				ir = strings.TrimSpace(ir)
			}
			raw, _ := base64.StdEncoding.DecodeString(ir)
			parts := strings.Split(string(raw), "\x00")
			if len(parts) != 3 || parts[1] != s.user || parts[2] != s.pw {
				say("535 5.7.8 authentication credentials invalid")
				continue
			}
			sess.AuthUser, sess.TLSBeforeAuth = parts[1], secure
			say("235 2.7.0 authentication successful")
		case "MAIL":
			if sess.AuthUser == "" {
				say("530 5.7.0 authentication required")
				continue
			}
			sess.From = strings.Trim(strings.TrimPrefix(strings.SplitN(arg, " ", 2)[0], "FROM:"), "<>")
			say("250 ok")
		case "RCPT":
			sess.To = append(sess.To, strings.Trim(strings.TrimPrefix(strings.SplitN(arg, " ", 2)[0], "TO:"), "<>"))
			say("250 ok")
		case "DATA":
			say("354 end with <CR><LF>.<CR><LF>")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			sess.Data = b.String()
			s.mu.Lock()
			s.sessions = append(s.sessions, sess)
			s.mu.Unlock()
			say("250 ok: queued")
		case "RSET", "NOOP":
			say("250 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 command not implemented")
		}
	}
}

func mailConfig(t *testing.T, s *smtpServer, extra string) Config {
	t.Helper()
	y := "notify:\n  on: [failed, held]\n  timeout: 5s\n  mail:\n    host: 127.0.0.1\n    port: " + itoa(s.port()) +
		"\n    username: orgsync@example.com\n    password: ${ORGSYNC_TEST_SMTP_PASSWORD}\n    from: orgsync@example.com\n" +
		"    to: [it-ops@example.com, hr-admin@example.com]\n    ca_file: " + s.caFile + "\n" + extra
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
	s := newSMTPServer(t, "orgsync@example.com", "smtp-pass")
	n := New(mailConfig(t, s, ""), "hr-sync-01")
	rep := &engine.Report{RunID: 42, Status: engine.StatusAttention, Held: 2, Changes: engine.ChangeCounts{"user_create": 3},
		HeldChanges: []plan.Held{{Op: plan.OpUserDisable, Object: "zhangsan", Reason: "source hr read incompletely"}}}
	if err := n.Notify(context.Background(), rep, nil); err != nil {
		t.Fatal(err)
	}
	got := s.all()
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
	s := newSMTPServer(t, "orgsync@example.com", "smtp-pass")
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
		if len(s.all()) != 0 {
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
