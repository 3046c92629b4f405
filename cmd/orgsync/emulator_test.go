package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to read while a command writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestWecomEmulatorCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "wecom.json")
	out := &lockedBuffer{}
	root := newRootCmd(out, io.Discard)
	root.SetArgs([]string{"wecom-emulator", "--listen", "127.0.0.1:0", "--corp-id", "wwcli", "--secret", "s1",
		"--data", data, "--log-format", "json", "--log-level", "error"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	banner := regexp.MustCompile(`WeCom emulator listening on (http://127\.0\.0\.1:\d+) \(corp_id=wwcli, secret=s1\)`)
	var base string
	for deadline := time.Now().Add(5 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if mm := banner.FindStringSubmatch(out.String()); mm != nil && !strings.HasSuffix(mm[1], ":0") {
			base = mm[1]
		}
	}
	if base == "" {
		t.Fatalf("no banner with the bound address; stdout %q", out.String())
	}

	call := func(method, path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r map[string]any
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	tok := call(http.MethodGet, "/cgi-bin/gettoken?corpid=wwcli&corpsecret=s1", "")
	if tok["errcode"].(float64) != 0 {
		t.Fatalf("gettoken %v", tok)
	}
	r := call(http.MethodPost, "/cgi-bin/department/create?access_token="+tok["access_token"].(string), `{"name":"CLI Dept","parentid":1}`)
	if r["errcode"].(float64) != 0 {
		t.Fatalf("department/create %v", r)
	}

	cancel() // as SIGINT would
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("command returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command did not stop")
	}
	b, err := os.ReadFile(data)
	if err != nil || !strings.Contains(string(b), "CLI Dept") {
		t.Fatalf("data file not saved on shutdown: %v %s", err, b)
	}
}

func TestWecomEmulatorHelp(t *testing.T) {
	out := &lockedBuffer{}
	root := newRootCmd(out, io.Discard)
	root.SetArgs([]string{"wecom-emulator", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--listen", "--corp-id", "--secret", "--read-secret", "--data", "--restricted-reads",
		"--rate-limit", "--latency", "--fault-rate", "--faults", "--token-ttl", "Examples:", "/emulator/state"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
