package daemon_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startWith runs the daemon with stderr (and stdout) on w (nil: the
// proc's log buffer) and extra arguments and environment, and waits until
// it is ready.
func (e *env) startWith(t *testing.T, w *os.File, args []string, extraEnv ...string) *proc {
	t.Helper()
	e.writeConfig()
	p := &proc{t: t, e: e, logs: &syncBuffer{}, done: make(chan struct{}), notify: newNotifySocket(t)}
	p.cmd = exec.Command(bin, append([]string{"daemon", "-c", e.cfgPath(), "--shutdown-timeout", "10s"}, args...)...)
	if w != nil {
		p.cmd.Stdout, p.cmd.Stderr = w, w
	} else {
		p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	}
	p.cmd.Env = append(os.Environ(), append(extraEnv, "NOTIFY_SOCKET="+p.notify.path)...)
	must(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() && w == nil {
			t.Logf("daemon log:\n%s", p.logs.String())
		}
	})
	p.waitFor("ready", 15*time.Second, func() bool {
		resp, err := http.Get("http://" + e.listen + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

func TestUnderJournaldEveryLineCarriesItsPriority(t *testing.T) {
	e := newEnv(t, 4)
	f, err := os.Create(filepath.Join(t.TempDir(), "journal-stream"))
	must(t, err)
	defer f.Close()
	var st syscall.Stat_t
	must(t, syscall.Fstat(int(f.Fd()), &st))
	stream := strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(st.Ino, 10)
	p := e.startWith(t, f, []string{"--log-format", "json", "--log-level", "debug"}, "JOURNAL_STREAM="+stream)
	if code, _ := p.postSync(apiToken); code != http.StatusAccepted {
		t.Fatalf("trigger: %d", code)
	}
	p.waitFor("the run", 10*time.Second, func() bool { return len(p.finishedRuns()) == 1 })
	e.schedule = "schedule: {cron: 'every night'}\n"
	e.writeConfig()
	p.signal(syscall.SIGHUP)
	p.waitFor("the rejection", 5*time.Second, func() bool {
		b, _ := os.ReadFile(f.Name())
		return strings.Contains(string(b), "configuration reload rejected")
	})
	p.stop(10 * time.Second)

	b, err := os.ReadFile(f.Name())
	must(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	find := func(msg string) string {
		for _, l := range lines {
			if strings.Contains(l, `"msg":"`+msg+`"`) {
				return l
			}
		}
		t.Fatalf("no %q line in:\n%s", msg, b)
		return ""
	}
	for _, l := range lines {
		if len(l) < 3 || l[0] != '<' || l[2] != '>' {
			t.Fatalf("a line without its priority prefix: %q", l)
		}
	}
	for msg, prefix := range map[string]string{
		"orgsync daemon started": "<6>",
		"run finished":           "<6>",
		"fetched access token":   "<7>",
		"configuration reload rejected; the running configuration stays in effect": "<3>",
	} {
		if l := find(msg); !strings.HasPrefix(l, prefix) {
			t.Errorf("%q logged as %.3s, want %s", msg, l, prefix)
		}
	}
	if l := find("run finished"); !strings.Contains(l, `"duration_seconds":`) || strings.Contains(l, `"took"`) {
		t.Errorf("the run's duration has no unit: %s", l)
	}
	if l := find("fetched access token"); !strings.Contains(l, `"logger":"wecom"`) {
		t.Errorf("the WeCom client's logger: %s", l)
	}
	if strings.Contains(string(b), "wecom.wecom") || strings.Contains(string(b), "0001-01-01") {
		t.Errorf("a doubled logger name or a zero time in the log:\n%s", b)
	}
}

func TestLogfmt(t *testing.T) {
	e := newEnv(t, 3)
	p := e.startWith(t, nil, []string{"--log-format", "logfmt"})
	if code, _ := p.postSync(apiToken); code != http.StatusAccepted {
		t.Fatalf("trigger: %d", code)
	}
	p.waitFor("the run", 10*time.Second, func() bool { return len(p.finishedRuns()) == 1 })
	p.stop(10 * time.Second)
	logs := p.logs.String()
	for _, want := range []string{`level=info ts=`, `msg="orgsync daemon started"`, `next_run="none (no schedule)"`, `msg="run finished" run_id=1 status=succeeded`, ` duration_seconds=`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logfmt log lacks %q:\n%s", want, logs)
		}
	}
}
