package model

import (
	"errors"
	"strings"
	"testing"
)

// FuzzFastMainlandMobile checks that NormalizeMobile's fast path for
// mainland mobiles agrees with phonenumbers wherever it answers.
func FuzzFastMainlandMobile(f *testing.F) {
	for _, s := range []string{"13800138000", "138 0013 8000", "+86-13800138000", "+86 138 0013 8000", "008613800138000",
		"+8613800138000", "12345678901", "+85251234567", "1-3-8-0-0-1-3-8-0-0-0", "+ 86 13800138000", "86 13800138000"} {
		f.Add(s, "CN")
	}
	f.Add("13800138000", "HK")
	// Inputs the fuzzer once found: a long run of separators, and 0086 with
	// a region that is not CN.
	f.Add("+8617000"+strings.Repeat("-", 1500)+"000000", "aĀ؍")
	f.Add("008617000000000", "0")
	f.Fuzz(func(t *testing.T, raw, region string) {
		got, ok := fastMainlandMobile(raw, region)
		if !ok {
			return
		}
		want, err := parseMobile(strings.TrimSpace(raw), region)
		if err != nil || want != got {
			t.Fatalf("fast path %q → %q, phonenumbers → %q, %v", raw, got, want, err)
		}
	})
}

func TestMobileError(t *testing.T) {
	cases := []struct {
		name, raw, msg string
	}{
		{"names the value as given and what phonenumbers says", " call me ", "the phone number supplied is not a number"},
		{"says a too-short number is not possible", "12", "not a possible phone number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NormalizeMobile(tc.raw, "CN")
			var me *MobileError
			if !errors.As(err, &me) {
				t.Fatalf("err = %#v, want a *MobileError", err)
			}
			if me.Raw != tc.raw || me.Msg != tc.msg {
				t.Fatalf("got Raw %q Msg %q", me.Raw, me.Msg)
			}
			if want := `mobile "` + tc.raw + `": ` + tc.msg; err.Error() != want {
				t.Fatalf("Error() = %q, want %q", err, want)
			}
		})
	}
}
