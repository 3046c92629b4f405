package httpjson

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
