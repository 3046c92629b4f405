package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	mail "github.com/wneessen/go-mail"

	"github.com/orgsync/orgsync/engine"
	"github.com/orgsync/orgsync/internal/config"
)

// MailConfig is notify.mail, e-mail over SMTP (through wneessen/go-mail:
// maintained, STARTTLS and SMTPS, PLAIN/LOGIN/CRAM-MD5/SCRAM auth):
//
//	mail:
//	  host: smtp.example.com
//	  port: 587                    # default 587 (starttls), 465 (tls: implicit), 25 (tls: none)
//	  tls: starttls                # starttls (required: no plain-text fallback), implicit, none
//	  username: orgsync@example.com
//	  password_file: $CREDENTIALS_DIRECTORY/smtp-password   # or password: ${ORGSYNC_SMTP_PASSWORD}
//	  from: orgsync@example.com
//	  to: [it-ops@example.com]
//	  ca_file: /etc/orgsync/smtp-ca.pem   # a private CA (default: the system's)
type MailConfig struct {
	Host         string        `yaml:"host"`
	Port         int           `yaml:"port"`
	TLS          string        `yaml:"tls"`
	Username     string        `yaml:"username"`
	Password     config.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	From         string        `yaml:"from"`
	To           []string      `yaml:"to"`
	CAFile       string        `yaml:"ca_file"`
}

// TLS modes of notify.mail.tls.
const (
	MailSTARTTLS = "starttls"
	MailImplicit = "implicit"
	MailNoTLS    = "none"
)

func (m *MailConfig) applyDefaults(f *config.File) {
	if m.TLS == "" {
		m.TLS = MailSTARTTLS
	}
	if m.Port == 0 {
		m.Port = map[string]int{MailSTARTTLS: 587, MailImplicit: 465, MailNoTLS: 25}[m.TLS]
	}
	f.NormalizeSecretRef(&m.Password, &m.PasswordFile)
	if m.CAFile != "" {
		m.CAFile = f.Resolve(m.CAFile)
	}
}

var addrRe = regexp.MustCompile(`^[^@\s<>]+@[^@\s<>]+$`)

func (m *MailConfig) validate() []string {
	var probs []string
	if m.Host == "" {
		probs = append(probs, "notify.mail.host: required (the SMTP server)")
	}
	switch m.TLS {
	case MailSTARTTLS, MailImplicit, MailNoTLS:
	default:
		probs = append(probs, fmt.Sprintf("notify.mail.tls: %q is not one of starttls, implicit, none", m.TLS))
	}
	if m.Port < 0 || m.Port > 65535 {
		probs = append(probs, fmt.Sprintf("notify.mail.port: %d is not a TCP port", m.Port))
	}
	if !addrRe.MatchString(m.From) {
		probs = append(probs, fmt.Sprintf("notify.mail.from: %q is not an e-mail address", m.From))
	}
	if len(m.To) == 0 {
		probs = append(probs, "notify.mail.to: at least one address is required")
	}
	for _, to := range m.To {
		if !addrRe.MatchString(to) {
			probs = append(probs, fmt.Sprintf("notify.mail.to: %q is not an e-mail address", to))
		}
	}
	hasPassword := !m.Password.Empty() || m.PasswordFile != ""
	switch {
	case !m.Password.Empty() && m.PasswordFile != "":
		probs = append(probs, "notify.mail: set password or password_file, not both")
	case hasPassword && m.Username == "":
		probs = append(probs, "notify.mail.username: required with a password")
	case m.Username != "" && !hasPassword:
		probs = append(probs, "notify.mail: username is set but neither password nor password_file")
	}
	if m.TLS == MailNoTLS && hasPassword {
		probs = append(probs, "notify.mail.tls: none would send the password in clear text: use starttls or implicit")
	}
	return probs
}

// sendMail sends the run's notification to every notify.mail.to.
func (n *Notifier) sendMail(ctx context.Context, rep *engine.Report, runErr error, events []string) error {
	m := n.cfg.Mail
	opts := []mail.Option{mail.WithPort(m.Port), mail.WithTimeout(n.cfg.Timeout.D())}
	tc := &tls.Config{ServerName: m.Host, MinVersion: tls.VersionTLS12}
	if m.CAFile != "" {
		pem, err := os.ReadFile(m.CAFile)
		if err != nil {
			return fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("ca_file %s: no PEM certificate in it", m.CAFile)
		}
		tc.RootCAs = pool
	}
	switch m.TLS {
	case MailSTARTTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory), mail.WithTLSConfig(tc))
	case MailImplicit:
		opts = append(opts, mail.WithSSL(), mail.WithTLSConfig(tc))
	case MailNoTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if m.Username != "" {
		pw, err := config.ReadSecretRef(m.Password, m.PasswordFile) // per send: a rotated password is picked up
		if err != nil {
			return err
		}
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(m.Username), mail.WithPassword(pw.Reveal()))
	}
	if n.host != "" {
		opts = append(opts, mail.WithHELO(n.host))
	}
	c, err := mail.NewClient(m.Host, opts...)
	if err != nil {
		return err
	}
	msg := mail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return err
	}
	if err := msg.To(m.To...); err != nil {
		return err
	}
	msg.Subject(MailSubject(rep, n.host))
	msg.SetDate()
	msg.SetMessageID()
	msg.SetGenHeader("X-Orgsync-Events", strings.Join(events, ", "))
	msg.SetBodyString(mail.TypeTextPlain, PlainText(rep, runErr, events, n.host))
	return c.DialAndSendWithContext(ctx, msg)
}

// MailSubject is the notification's subject line.
func MailSubject(rep *engine.Report, host string) string {
	if rep == nil {
		return fmt.Sprintf("orgsync on %s: run failed", host)
	}
	s := fmt.Sprintf("orgsync on %s: %s", host, rep.Status)
	if rep.RunID != 0 {
		s += " (run " + strconv.FormatInt(rep.RunID, 10) + ")"
	}
	if rep.Held > 0 {
		s += fmt.Sprintf(", %d held", rep.Held)
	}
	if rep.Failed > 0 {
		s += fmt.Sprintf(", %d failed", rep.Failed)
	}
	return s
}

var markupRe = regexp.MustCompile(`</?font[^>]*>|\*\*`)

// PlainText renders the run as the robot's markdown does, without the
// markup: mail clients show plain text to everyone.
func PlainText(rep *engine.Report, runErr error, events []string, host string) string {
	return markupRe.ReplaceAllString(Markdown(rep, runErr, events, host), "") +
		"\n-- \norgsync history -c /etc/orgsync/orgsync.yaml shows every run and its changes.\n"
}
