package httpjson

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func tlsHR(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []any{employee(1), employee(2)})
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

// Certificates are verified unless asked otherwise: an unknown CA fails at
// once (no retry), ca_file trusts a private CA, insecure_skip_verify works
// and warns.
func TestTLSIsVerifiedByDefault(t *testing.T) {
	srv, ca := tlsHR(t)
	logs := newLogs()
	_, err := openYAML(t, logs.log, "url: %s/api\nretry: {attempts: 3, min_wait: 1ms}\n", srv.URL).List(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), "attempts") {
		t.Fatalf("unverified server: %v", err)
	}
	if b := list(t, openYAML(t, nil, "url: %s/api\nca_file: %s\n", srv.URL, ca)); len(b.Records) != 2 {
		t.Fatalf("%d records", len(b.Records))
	}
	logs = newLogs()
	if b := list(t, openYAML(t, logs.log, "url: %s/api\ninsecure_skip_verify: true\n", srv.URL)); len(b.Records) != 2 {
		t.Fatalf("%d records", len(b.Records))
	}
	if w := logs.FilterMessageSnippet("insecure_skip_verify").All(); len(w) != 1 || w[0].Level.String() != "warn" {
		t.Fatalf("no warning: %v", logs.All())
	}
}

// clientCert makes a CA and a client certificate it signs, as PEM files.
func clientCert(t *testing.T) (caPool *x509.CertPool, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hr test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "orgsync"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	caPool = x509.NewCertPool()
	caPool.AddCert(ca)
	return caPool, certFile, keyFile
}

// A server that requires a client certificate is read with cert_file and
// key_file, and refuses the read without them.
func TestClientCertificate(t *testing.T) {
	pool, certFile, keyFile := clientCert(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []any{employee(1)})
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	_ = os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)

	if b := list(t, openYAML(t, nil, "url: %s/api\nca_file: %s\ncert_file: %s\nkey_file: %s\n", srv.URL, ca, certFile, keyFile)); len(b.Records) != 1 {
		t.Fatalf("%d records", len(b.Records))
	}
	if _, err := openYAML(t, nil, "url: %s/api\nca_file: %s\nretry: {attempts: 1}\n", srv.URL, ca).List(context.Background()); err == nil {
		t.Fatal("read without a client certificate")
	}
}
