package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
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
	// A job speed of one row in 1,000 s: the job below cannot finish
	// while the test runs.
	root.SetArgs([]string{"wecom-emulator", "--listen", "127.0.0.1:0", "--corp-id", "wwcli", "--secret", "s1",
		"--data", data, "--log-format", "json", "--log-level", "error",
		"--job-delay", "1ms", "--job-rows-per-second", "0.001", "--import-leader-column"})
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

	t.Run("--job-rows-per-second: a job takes its rows' time", func(t *testing.T) {
		job := importJob(t, base, tok["access_token"].(string), "姓名,帐号,手机号,所在部门\n甲,jia,13800000001,1\n")
		r := call(http.MethodGet, "/cgi-bin/batch/getresult?jobid="+job+"&access_token="+tok["access_token"].(string), "")
		if r["status"].(float64) == 3 {
			t.Fatalf("a one-row job at 0.001 rows/s finished at once: %v", r)
		}
	})

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

// importJob uploads csv as media and starts batch/syncuser, returning the jobid.
func importJob(t *testing.T, base, token, csv string) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, _ := mw.CreateFormFile("media", "import.csv")
	_, _ = part.Write([]byte(csv))
	_ = mw.Close()
	post := func(path, ctype string, body io.Reader) map[string]any {
		res, err := http.Post(base+path+"access_token="+token, ctype, body)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r map[string]any
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil || r["errcode"].(float64) != 0 {
			t.Fatalf("%s: %v %v", path, r, err)
		}
		return r
	}
	media := post("/cgi-bin/media/upload?type=file&", mw.FormDataContentType(), &buf)["media_id"].(string)
	return post("/cgi-bin/batch/syncuser?", "application/json", strings.NewReader(`{"media_id":"`+media+`"}`))["jobid"].(string)
}

func TestWecomEmulatorHelp(t *testing.T) {
	out := &lockedBuffer{}
	root := newRootCmd(out, io.Discard)
	root.SetArgs([]string{"wecom-emulator", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--listen", "--corp-id", "--secret", "--read-secret", "--data", "--restricted-reads",
		"--rate-limit", "--latency", "--job-rows-per-second", "--import-leader-column", "--fault-rate", "--faults", "--token-ttl", "Examples:", "/emulator/state"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
