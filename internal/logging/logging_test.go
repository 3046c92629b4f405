package logging

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestMask(t *testing.T) {
	for _, tc := range []struct{ name, kind, in, want string }{
		{"keeps the first three and last four digits of a CN mobile", KindMobile, "13800138000", "138****8000"},
		{"keeps separators and the country code in place", KindMobile, "+86 138-0013-8000", "+86 1**-****-8000"},
		{"hides a short number entirely", KindMobile, "12345", "***"},
		{"keeps the first letter and the domain of an email", KindEmail, "zhang.san@example.com", "z***@example.com"},
		{"hides a string that is not an email", KindEmail, "nobody", "***"},
		{"keeps the first character of a Chinese name", KindName, "张三丰", "张**"},
		{"masks a one-character name", KindName, "王", "*"},
		{"leaves an empty value empty", KindName, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Mask(tc.kind, tc.in); got != tc.want {
				t.Fatalf("Mask(%q, %q) = %q, want %q", tc.kind, tc.in, got, tc.want)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"masks a mobile in a WeCom errmsg", "wecom user/create: errcode 60103 (mobile invalid: 13800138000)", "wecom user/create: errcode 60103 (mobile invalid: 138****8000)"},
		{"masks an email in free text", "duplicate email li.si@corp.example.cn in row 4", "duplicate email l***@corp.example.cn in row 4"},
		{"masks an E.164 number", "number +14155550123 rejected", "number +141****0123 rejected"},
		{"leaves run ids and unix millis alone", "run 1700000000123 id 42 at 1700000000", "run 1700000000123 id 42 at 1700000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Scrub(tc.in); got != tc.want {
				t.Fatalf("Scrub(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLoggerMasksPII(t *testing.T) {
	line := func(t *testing.T, pii bool, log func(*zap.Logger)) string {
		t.Helper()
		var buf bytes.Buffer
		l, err := New(Options{Format: "json", PII: pii, Writer: &buf})
		if err != nil {
			t.Fatal(err)
		}
		log(l)
		_ = l.Sync()
		return buf.String()
	}
	t.Run("masks sensitive fields, PII keys, errors and the message by default", func(t *testing.T) {
		out := line(t, false, func(l *zap.Logger) {
			l.With(zap.String("email", "a.b@example.com")).Warn("change failed for 13912345678",
				Mobile("13800138000"), Name("张三"), zap.String("mobile", "13700137000"),
				zap.Error(errors.New("mobile existed: 13600136000")), zap.String("userid", "e001"))
		})
		for _, leak := range []string{"13800138000", "张三", "13700137000", "13600136000", "a.b@example.com", "13912345678"} {
			if strings.Contains(out, leak) {
				t.Errorf("log line leaks %q: %s", leak, out)
			}
		}
		for _, want := range []string{`"mobile":"138****8000"`, `"name":"张*"`, `"email":"a***@example.com"`, `"userid":"e001"`, "139****5678"} {
			if !strings.Contains(out, want) {
				t.Errorf("log line lacks %q: %s", want, out)
			}
		}
	})
	t.Run("logs values in clear with pii: true", func(t *testing.T) {
		out := line(t, true, func(l *zap.Logger) {
			l.Info("x", Mobile("13800138000"), Name("张三"), zap.Error(errors.New("mobile existed: 13600136000")))
		})
		for _, want := range []string{"13800138000", "张三", "13600136000"} {
			if !strings.Contains(out, want) {
				t.Errorf("log line lacks %q: %s", want, out)
			}
		}
	})
	t.Run("respects the level", func(t *testing.T) {
		var buf bytes.Buffer
		l, ctl, err := NewDynamic(Options{Format: "json", Level: "warn", Writer: &buf})
		if err != nil {
			t.Fatal(err)
		}
		l.Info("hidden")
		ctl.Level.SetLevel(zap.InfoLevel)
		l.Info("shown")
		if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "shown") {
			t.Fatalf("got %s", buf.String())
		}
	})
}

func TestControlsSwitchPIIAtRunTime(t *testing.T) {
	var buf bytes.Buffer
	l, ctl, err := NewDynamic(Options{Format: "json", Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("a", Mobile("13800138000"))
	ctl.SetPII(true)
	l.Info("b", Mobile("13900139000"))
	ctl.SetPII(false)
	l.Info("c", Mobile("13700137000"))
	out := buf.String()
	if strings.Contains(out, "13800138000") || !strings.Contains(out, "13900139000") || strings.Contains(out, "13700137000") {
		t.Fatalf("got %s", out)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"accepts the defaults", Config{}, ""},
		{"rejects an unknown level", Config{Level: "verbose"}, `log level "verbose"`},
		{"rejects an unknown format", Config{Format: "xml"}, `log format "xml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMaskFields(t *testing.T) {
	plain := []zapcore.Field{zap.String("api", "user/create"), zap.Int("errcode", 60104), zap.Bool("dry_run", true)}

	t.Run("returns the fields as they are when nothing is personal", func(t *testing.T) {
		got := maskFields(plain)
		if &got[0] != &plain[0] {
			t.Fatal("copied fields that needed no masking")
		}
		if n := testing.AllocsPerRun(100, func() { _ = maskFields(plain) }); n != 0 {
			t.Fatalf("allocations = %v, want 0", n)
		}
	})

	for _, at := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("masks a personal field at index %d and keeps the others", at), func(t *testing.T) {
			in := slices.Insert(slices.Clone(plain), at, zap.String("mobile", "13800138000"))
			orig := slices.Clone(in)
			got := maskFields(in)
			if len(got) != len(in) {
				t.Fatalf("got %d fields, want %d", len(got), len(in))
			}
			for i := range in {
				if !in[i].Equals(orig[i]) {
					t.Errorf("input field %d changed: %v", i, in[i])
				}
				if i == at {
					if got[i].String == "13800138000" || got[i].Key != "mobile" {
						t.Errorf("field %d not masked: %+v", i, got[i])
					}
				} else if !got[i].Equals(in[i]) {
					t.Errorf("field %d = %+v, want %+v", i, got[i], in[i])
				}
			}
		})
	}
}
