package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestProgressOnATerminalShowsRateAndETA(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, log: zap.NewNop(), tty: true, last: time.Now()}
	for i := 0; i <= 40; i++ {
		p.update(i, 100)
		time.Sleep(5 * time.Millisecond)
	}
	out := buf.String()
	// e.g. "applying  40% |████████████ | (40/100, 190 changes/s) [0s:0s]"
	for _, re := range []string{`applying\s+\d+%`, `\(\d+/100, \d+ changes/s\)`, `\[\d+s:\d+s\]`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("progress output lacks %s:\n%q", re, out)
		}
	}
	p.done()
	if !strings.HasSuffix(buf.String(), "\n") {
		t.Error("the finished bar leaves the cursor on its line")
	}
}

func TestProgressElsewhereLogsInstead(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, zap.NewNop())
	p.update(1, 10)
	p.done()
	if p.tty || buf.Len() != 0 {
		t.Fatalf("drew a bar on a non-terminal: %q", buf.String())
	}
}
