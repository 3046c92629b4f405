package logging

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap/zapcore"
)

// Under systemd, stderr is a stream into journald whose device and inode
// are in $JOURNAL_STREAM. journald reads a "<N>" prefix on each line as the
// line's syslog priority (sd-daemon(3)), so `journalctl -p err` finds the
// errors; without it every line would get the unit's one priority.

// journalStream reports whether w is the journal stream systemd set up.
func journalStream(w io.Writer) bool {
	js := os.Getenv("JOURNAL_STREAM")
	if js == "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	dev, ino, ok := strings.Cut(js, ":")
	if !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return strconv.FormatUint(uint64(st.Dev), 10) == dev && strconv.FormatUint(st.Ino, 10) == ino
}

// Priority is the syslog priority journald records for a zap level.
func Priority(l zapcore.Level) int {
	switch {
	case l <= zapcore.DebugLevel:
		return 7 // debug
	case l == zapcore.InfoLevel:
		return 6 // info
	case l == zapcore.WarnLevel:
		return 4 // warning
	case l == zapcore.ErrorLevel:
		return 3 // err
	default:
		return 2 // crit: dpanic, panic, fatal
	}
}

// priorityCore writes each entry with its "<N>" prefix. zap's ioCore
// writes one entry per Write, so the prefix lands at the line's start.
func priorityCore(enc zapcore.Encoder, w zapcore.WriteSyncer, lvl zapcore.LevelEnabler) zapcore.Core {
	c := &prioCore{LevelEnabler: lvl}
	for i, p := range prioLevels {
		c.cores[i] = zapcore.NewCore(enc.Clone(), prefixWriter{w, fmt.Sprintf("<%d>", Priority(p))}, lvl)
	}
	return c
}

var prioLevels = [...]zapcore.Level{zapcore.DebugLevel, zapcore.InfoLevel, zapcore.WarnLevel, zapcore.ErrorLevel, zapcore.DPanicLevel}

// prioCore sends an entry to the core whose writer carries its level's
// prefix.
type prioCore struct {
	zapcore.LevelEnabler
	cores [len(prioLevels)]zapcore.Core
}

func (c *prioCore) pick(l zapcore.Level) zapcore.Core {
	for i := len(prioLevels) - 1; i > 0; i-- {
		if l >= prioLevels[i] {
			return c.cores[i]
		}
	}
	return c.cores[0]
}

func (c *prioCore) With(fields []zapcore.Field) zapcore.Core {
	n := &prioCore{LevelEnabler: c.LevelEnabler}
	for i, core := range c.cores {
		n.cores[i] = core.With(fields)
	}
	return n
}

func (c *prioCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *prioCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.pick(e.Level).Write(e, fields)
}

func (c *prioCore) Sync() error { return c.cores[0].Sync() }

type prefixWriter struct {
	zapcore.WriteSyncer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	buf := make([]byte, 0, len(p.prefix)+len(b))
	buf = append(append(buf, p.prefix...), b...)
	if _, err := p.WriteSyncer.Write(buf); err != nil {
		return 0, err
	}
	return len(b), nil
}
