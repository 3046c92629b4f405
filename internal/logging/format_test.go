package logging

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestJournalLinesCarryTheirPriority(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Format: "json", Level: "debug", Writer: &buf, Journal: true})
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("d")
	l.Info("i")
	l.Warn("w")
	l.Error("e")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{`<7>{"level":"debug"`, `<6>{"level":"info"`, `<4>{"level":"warn"`, `<3>{"level":"error"`}
	if len(lines) != len(want) {
		t.Fatalf("lines: %q", lines)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestJournalStreamIsRecognisedByDeviceAndInode(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", strconv.FormatUint(uint64(st.Dev), 10)+":"+strconv.FormatUint(st.Ino, 10))
	l, err := New(Options{Format: "logfmt", Writer: f})
	if err != nil {
		t.Fatal(err)
	}
	l.Error("boom")
	b, _ := os.ReadFile(f.Name())
	if !strings.HasPrefix(string(b), "<3>level=error ts=") {
		t.Fatalf("journal line = %q", b)
	}
	t.Run("another stream gets no prefix", func(t *testing.T) {
		t.Setenv("JOURNAL_STREAM", "1:2")
		if journalStream(f) {
			t.Fatal("a stream that is not the journal's was taken for it")
		}
	})
}

func TestLogfmt(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Format: "logfmt", Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Named("engine").Info("run finished", zap.Int64("run_id", 7), zap.String("status", "needs attention"),
		zap.String("source", "hr"), zap.Strings("problems", []string{"a", "b"}), zap.Error(errors.New(`bad "x"`)))
	got := strings.TrimSpace(buf.String())
	for _, want := range []string{`level=info ts=`, ` logger=engine msg="run finished" run_id=7 status="needs attention" source=hr problems="[\"a\",\"b\"]" error="bad \"x\""`} {
		if !strings.Contains(got, want) {
			t.Fatalf("logfmt line:\n%s\nwant it to contain\n%s", got, want)
		}
	}
}

func TestDurationsAreSecondsWithTheUnitInTheKey(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Format: "json", Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.With(zap.Duration("interval", 30*time.Second)).Info("x", zap.Duration("took", 1500*time.Millisecond), zap.Duration("wait", 250*time.Millisecond))
	got := buf.String()
	for _, want := range []string{`"interval_seconds":30`, `"duration_seconds":1.5`, `"wait_seconds":0.25`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s: %s", want, got)
		}
	}
	if strings.Contains(got, `"took"`) {
		t.Errorf("a unitless duration key is left: %s", got)
	}
}
