package logging

import (
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// PII kinds, for Mask and Sensitive.
const (
	KindMobile = "mobile"
	KindEmail  = "email"
	KindName   = "name"
)

// piiKeys are field keys whose string values are personal data wherever
// they are logged, whoever logs them.
var piiKeys = map[string]string{
	"mobile": KindMobile, "telephone": KindMobile, "phone": KindMobile,
	"email": KindEmail, "biz_mail": KindEmail,
	"name": KindName, "alias": KindName, "display_name": KindName,
}

// Mobile, Email and Name are the field constructors for personal data:
// masked in the log line unless log.pii is true.
func Mobile(v string) zap.Field { return Sensitive(KindMobile, KindMobile, v) }
func Email(v string) zap.Field  { return Sensitive(KindEmail, KindEmail, v) }
func Name(v string) zap.Field   { return Sensitive(KindName, KindName, v) }

// Sensitive logs v under key, masked as kind (KindMobile, KindEmail,
// KindName) unless PII logging is on.
func Sensitive(key, kind, v string) zap.Field {
	return zap.Stringer(key, piiValue{kind: kind, v: v})
}

// piiValue prints itself in clear: only the masking core (PII off)
// replaces it, so a logger with PII on needs no special handling.
type piiValue struct{ kind, v string }

func (p piiValue) String() string { return p.v }

// Mask hides most of a value of the given kind, keeping enough to tell
// records apart in a support conversation: 138****8000, z***@example.com,
// 张**.
func Mask(kind, v string) string {
	if v == "" {
		return ""
	}
	switch kind {
	case KindMobile:
		digits := 0
		for _, r := range v {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits < 8 {
			return "***"
		}
		// keep the first 3 and the last 4 digits, in place
		var b strings.Builder
		seen := 0
		for _, r := range v {
			if r >= '0' && r <= '9' {
				seen++
				if seen > 3 && seen <= digits-4 {
					b.WriteByte('*')
					continue
				}
			}
			b.WriteRune(r)
		}
		return b.String()
	case KindEmail:
		local, domain, ok := strings.Cut(v, "@")
		if !ok {
			return "***"
		}
		first, _ := utf8.DecodeRuneInString(local)
		return string(first) + "***@" + domain
	default: // names
		first, size := utf8.DecodeRuneInString(v)
		rest := utf8.RuneCountInString(v[size:])
		if rest == 0 {
			return "*"
		}
		return string(first) + strings.Repeat("*", min(rest, 8))
	}
}

var (
	emailRe = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
	// CN mobiles (11 digits from 13x-19x, optionally +86) and any E.164
	// number; word boundaries keep run ids and unix timestamps out.
	mobileRe = regexp.MustCompile(`(\+?86[ \-]?)?\b1[3-9]\d{9}\b|\+\d{8,15}\b`)
)

// Scrub masks every email address and mobile number found in free text:
// error messages carry WeCom's errmsg ("mobile invalid: 138…") and source
// values.
func Scrub(s string) string {
	if !strings.ContainsAny(s, "@0123456789") {
		return s
	}
	s = emailRe.ReplaceAllStringFunc(s, func(m string) string { return Mask(KindEmail, m) })
	return mobileRe.ReplaceAllStringFunc(s, func(m string) string { return Mask(KindMobile, m) })
}

// maskCore masks personal data in every entry before it is encoded:
// Sensitive fields, string fields under a PII key, and emails and mobiles
// inside messages, strings and errors; unless pii is on.
type maskCore struct {
	zapcore.Core
	pii *atomic.Bool
}

// With masks the context fields when they are attached: a logger derived
// while PII logging was off keeps them masked.
func (c *maskCore) With(fields []zapcore.Field) zapcore.Core {
	fields = secondsFields(fields)
	if !c.pii.Load() {
		fields = maskFields(fields)
	}
	return &maskCore{Core: c.Core.With(fields), pii: c.pii}
}

func (c *maskCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *maskCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	fields = secondsFields(fields)
	if c.pii.Load() {
		return c.Core.Write(e, fields)
	}
	e.Message = Scrub(e.Message)
	return c.Core.Write(e, maskFields(fields))
}

// maskFields returns fields with personal data masked. It never modifies
// fields (the caller's slice) and copies it only once a field changes, so
// the common entry with nothing to mask costs no allocation.
func maskFields(fields []zapcore.Field) []zapcore.Field {
	var out []zapcore.Field
	for i, f := range fields {
		m, changed := maskField(f)
		if !changed {
			if out != nil {
				out[i] = f
			}
			continue
		}
		if out == nil {
			out = make([]zapcore.Field, len(fields))
			copy(out, fields[:i])
		}
		out[i] = m
	}
	if out == nil {
		return fields
	}
	return out
}

// maskField returns f masked and true, or f and false when it carries
// nothing to mask.
func maskField(f zapcore.Field) (zapcore.Field, bool) {
	switch f.Type {
	case zapcore.StringerType:
		if p, ok := f.Interface.(piiValue); ok {
			return zap.String(f.Key, Mask(p.kind, p.v)), true
		}
		if s, ok := f.Interface.(fmt.Stringer); ok {
			if kind, ok := piiKeys[f.Key]; ok {
				return zap.String(f.Key, Mask(kind, s.String())), true
			}
		}
	case zapcore.StringType:
		if kind, ok := piiKeys[f.Key]; ok {
			return zap.String(f.Key, Mask(kind, f.String)), true
		}
		if s := Scrub(f.String); s != f.String {
			return zap.String(f.Key, s), true
		}
	case zapcore.ErrorType:
		if err, ok := f.Interface.(error); ok && err != nil {
			msg := err.Error()
			if s := Scrub(msg); s != msg {
				return zap.String(f.Key, s), true
			}
		}
	}
	return f, false
}

// secondsFields writes every duration as a number of seconds under a key
// that says so: zap.Duration("took", d) becomes duration_seconds=1.5,
// zap.Duration("wait", d) wait_seconds=1.5. Log shippers and readers then
// need not guess the unit. It copies fields only when one changes.
func secondsFields(fields []zapcore.Field) []zapcore.Field {
	var out []zapcore.Field
	for i, f := range fields {
		if f.Type != zapcore.DurationType {
			continue
		}
		if out == nil {
			out = append([]zapcore.Field(nil), fields...)
		}
		key := f.Key
		switch key {
		case "took", "duration", "elapsed":
			key = "duration"
		}
		if !strings.HasSuffix(key, "_seconds") {
			key += "_seconds"
		}
		out[i] = zap.Float64(key, time.Duration(f.Integer).Seconds())
	}
	if out == nil {
		return fields
	}
	return out
}
