// Package smtptest is an SMTP server for tests: on loopback, STARTTLS with
// a certificate it makes, AUTH PLAIN, and a record of every message.
package smtptest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a small SMTP server on loopback that speaks what a client
// sending one message needs (RFC 5321 with STARTTLS, RFC 3207, and AUTH
// PLAIN, RFC 4954), and records what it was told.
type Server struct {
	t        testing.TB
	ln       net.Listener
	tls      *tls.Config
	user, pw string
	CAFile   string

	mu       sync.Mutex
	sessions []Session
}

// Session is one delivered message and how it came.
type Session struct {
	TLSBeforeAuth bool
	AuthUser      string
	From          string
	To            []string
	Data          string
}

// New starts a server accepting user and pw (AUTH PLAIN, after STARTTLS
// only) and stops it when the test ends. Its certificate is in CAFile.
func New(t testing.TB, user, pw string) *Server {
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
	s := &Server{t: t, user: user, pw: pw, CAFile: filepath.Join(t.TempDir(), "ca.pem")}
	if err := os.WriteFile(s.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
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

// Port is the port it listens on (127.0.0.1).
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Sessions returns the messages delivered so far.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Session(nil), s.sessions...)
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(lines ...string) {
		for _, l := range lines {
			w.WriteString(l + "\r\n")
		}
		w.Flush()
	}
	var sess Session
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
