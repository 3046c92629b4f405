// Package logging builds the zap logger orgsync injects everywhere: console
// output on a terminal, JSON otherwise (journald, files, containers), with
// personal data (mobile, email, name) masked unless the admin turns it on.
package logging

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// Options choose the logger's format, level and PII handling.
type Options struct {
	// Format is "auto" (default: console on a terminal, json otherwise),
	// "console", "json" or "logfmt". Whatever the format, when stderr is
	// systemd's journal stream ($JOURNAL_STREAM) each line starts with its
	// syslog priority ("<3>" for errors), which journald records.
	Format string
	Level  string // debug, info (default), warn, error
	// PII, when true, logs mobiles, emails and names as they are. By
	// default they are masked (see Mask): logs travel to journald, log
	// shippers and support tickets, where personal data must not.
	PII bool
	// Writer receives the log lines; default os.Stderr.
	Writer io.Writer
	// Journal forces the "<N>" priority prefixes (tests; otherwise they
	// are on exactly when Writer is the journal stream).
	Journal bool
}

// Formats are the values of --log-format and log.format.
var Formats = []string{"auto", "console", "json", "logfmt"}

// New builds a logger whose settings are fixed for its life.
func New(o Options) (*zap.Logger, error) {
	l, _, err := NewDynamic(o)
	return l, err
}

// Controls change a running logger: a daemon applies a reloaded `log:`
// block through them without rebuilding the logger every component holds.
type Controls struct {
	Level zap.AtomicLevel
	pii   *atomic.Bool
}

// SetPII switches unmasked logging of personal data on or off.
func (c *Controls) SetPII(on bool) { c.pii.Store(on) }

// NewDynamic builds a logger whose level and PII masking can change
// while it runs. The format is fixed for the logger's life.
func NewDynamic(o Options) (*zap.Logger, *Controls, error) {
	lvl, err := ParseLevel(o.Level)
	if err != nil {
		return nil, nil, err
	}
	atom := zap.NewAtomicLevelAt(lvl)
	w := o.Writer
	if w == nil {
		w = os.Stderr
	}
	format, err := resolveFormat(o.Format, w)
	if err != nil {
		return nil, nil, err
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "logfmt":
		enc = logfmtEncoder{zapcore.NewJSONEncoder(encCfg)}
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		encCfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	ctl := &Controls{Level: atom, pii: &atomic.Bool{}}
	ctl.pii.Store(o.PII)
	ws := zapcore.Lock(zapcore.AddSync(w))
	var inner zapcore.Core
	if o.Journal || journalStream(w) {
		inner = priorityCore(enc, ws, atom)
	} else {
		inner = zapcore.NewCore(enc, ws, atom)
	}
	core := &maskCore{Core: inner, pii: ctl.pii}
	return zap.New(core), ctl, nil
}

// ParseLevel parses a level name; "" is info.
func ParseLevel(s string) (zapcore.Level, error) {
	lvl := zapcore.InfoLevel
	if s == "" {
		return lvl, nil
	}
	if err := lvl.Set(s); err != nil {
		return lvl, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return lvl, nil
}

func resolveFormat(f string, w io.Writer) (string, error) {
	switch f {
	case "", "auto":
		if file, ok := w.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
			return "console", nil
		}
		return "json", nil
	case "json", "console", "logfmt":
		return f, nil
	}
	return "", fmt.Errorf("log format %q: want auto, console, json or logfmt", f)
}

// Config is the `log:` block:
//
//	log:
//	  level: info      # debug, info, warn, error
//	  format: auto     # auto (console on a terminal, json otherwise), console, json, logfmt
//	  pii: false       # true logs mobiles, emails and names unmasked
type Config struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
	PII    bool   `yaml:"pii"`
}

// Validate reports a bad level or format.
func (c Config) Validate() error {
	if _, err := ParseLevel(c.Level); err != nil {
		return err
	}
	if _, err := resolveFormat(c.Format, io.Discard); err != nil {
		return err
	}
	return nil
}
