package attr

import (
	"testing"
	"time"
)

func TestUACDisabled(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want bool
	}{
		{"a normal account (512) is enabled", "512", false},
		{"a disabled normal account (514) is disabled", "514", true},
		{"disabled with password never expires (66050) is disabled", "66050", true},
		{"a multi-valued form uses its first value", []string{"514"}, true},
		{"a missing value is not disabled", "", false},
		{"garbage is not disabled", "abc", false},
		{"nil is not disabled", nil, false},
		{"an expr number works", float64(514), true},
		{"a negative 32-bit mask with the bit set is disabled", "-2147483646", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UACDisabled(tt.v); got != tt.want {
				t.Fatalf("UACDisabled(%v) = %v, want %v", tt.v, got, tt.want)
			}
		})
	}
	t.Run("UACHas requires every bit of the flag", func(t *testing.T) {
		if !UACHas("66048", UACNormalAccount|UACDontExpirePassword) {
			t.Fatal("66048 has NORMAL_ACCOUNT|DONT_EXPIRE_PASSWORD")
		}
		if UACHas("512", UACNormalAccount|UACDontExpirePassword) {
			t.Fatal("512 lacks DONT_EXPIRE_PASSWORD")
		}
	})
}

func TestADTimeToTime(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   time.Time
		wantOK bool
	}{
		{"zero means never", "0", time.Time{}, false},
		{"the maximum value means never", "9223372036854775807", time.Time{}, false},
		{"the Unix epoch converts exactly", "116444736000000000", time.Unix(0, 0).UTC(), true},
		{"a 2024 expiry converts", "133500000000000000", time.Date(2024, 1, 17, 21, 20, 0, 0, time.UTC), true},
		{"not a number is rejected", "soon", time.Time{}, false},
		{"empty is rejected", "", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ADTimeToTime(tt.in)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Fatalf("ADTimeToTime(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	t.Run("Expired compares with now and never expires never", func(t *testing.T) {
		now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		if !Expired("133500000000000000", now) {
			t.Fatal("a 2024 expiry is expired in 2025")
		}
		if Expired("133500000000000000", now.AddDate(-2, 0, 0)) {
			t.Fatal("a 2024 expiry is not expired in 2023")
		}
		if Expired("0", now) || Expired("9223372036854775807", now) {
			t.Fatal("never must not be expired")
		}
	})
}

func TestGeneralizedTime(t *testing.T) {
	if got, ok := GeneralizedTime("20240102030405Z"); !ok || !got.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("got %v %v", got, ok)
	}
	if _, ok := GeneralizedTime("000001010000Z"); !ok {
		t.Fatal("the ppolicy permanent-lock value must count as a time")
	}
	if _, ok := GeneralizedTime(""); ok {
		t.Fatal("empty is not a time")
	}
	if _, ok := GeneralizedTime("yesterday"); ok {
		t.Fatal("garbage is not a time")
	}
}

func TestGUIDAndSID(t *testing.T) {
	t.Run("formats a GUID with little-endian leading groups", func(t *testing.T) {
		b := []byte{0xe0, 0x04, 0x25, 0x3f, 0x89, 0x4f, 0xd3, 0x11, 0x9a, 0x0c, 0x03, 0x05, 0xe8, 0x2c, 0x33, 0x01}
		if got, want := GUIDString(b), "3f2504e0-4f89-11d3-9a0c-0305e82c3301"; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})
	t.Run("a GUID of the wrong length falls back to hex", func(t *testing.T) {
		if got := GUIDString([]byte{1, 2}); got != "0102" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("formats a domain user SID", func(t *testing.T) {
		b := []byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0,
			0xa5, 0x8f, 0xa3, 0x3a, 0xd6, 0x1d, 0x3c, 0x56, 0x67, 0x5d, 0x28, 0xd4, 0xf4, 0x01, 0, 0}
		if got, want := SIDString(b), "S-1-5-21-983797669-1446780374-3559415143-500"; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})
	t.Run("a truncated SID falls back to hex", func(t *testing.T) {
		if got := SIDString([]byte{1, 2, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0}); got != "010200000000000515000000" {
			t.Fatalf("got %s", got)
		}
	})
}

func TestOUPath(t *testing.T) {
	const base = "DC=corp,DC=example,DC=test"
	tests := []struct {
		name     string
		dn, base string
		topFirst bool
		want     string
	}{
		{"strips the base and orders top first", "CN=李雷,OU=后端组,OU=研发中心,OU=总部," + base, base, true, "总部/研发中心/后端组"},
		{"keeps DN order when asked", "CN=李雷,OU=后端组,OU=研发中心,OU=总部," + base, base, false, "后端组/研发中心/总部"},
		{"a base that differs in case still strips", "cn=x,ou=销售部,dc=CORP,dc=Example,dc=test", base, true, "销售部"},
		{"an OU inside the base DN is not a department", "CN=x,OU=后端组,OU=总部," + base, "OU=总部," + base, true, "后端组"},
		{"an entry directly under the base has no path", "CN=Administrator,CN=Users," + base, base, true, ""},
		{"the entry's own OU RDN is not its department", "OU=后端组,OU=总部," + base, base, true, "总部"},
		{"escaped commas in OU names survive", `CN=x,OU=R\2cD,` + base, base, true, "R,D"},
		{"a slash in an OU name cannot split the path", "CN=x,OU=A/B," + base, base, true, "A／B"},
		{"a malformed DN yields no path", "not a dn", base, true, ""},
		{"spaces around separators are ignored", "CN=x, OU=销售部 , DC=corp,DC=example,DC=test", base, true, "销售部"},
		{"a multi-valued RDN counts as one level", "CN=x,OU=销售部+L=北京," + base, base, true, "销售部"},
		{"an empty base strips nothing", "CN=x,OU=A,DC=corp", "", true, "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OUPath(tt.dn, tt.base, tt.topFirst); got != tt.want {
				t.Fatalf("OUPath(%q) = %q, want %q", tt.dn, got, tt.want)
			}
		})
	}
}

func TestNormalizeDN(t *testing.T) {
	tests := []struct {
		name string
		a, b string
	}{
		{"case and spaces do not matter", "CN=李雷, OU=研发中心,DC=Corp,DC=test", "cn=李雷,ou=研发中心,dc=corp,dc=test"},
		{"a hex-escaped comma equals a backslash-escaped one", `CN=Li\2c Lei,OU=A,DC=x`, `cn=Li\, Lei,ou=a,dc=x`},
		{"hex-escaped UTF-8 equals raw UTF-8", `CN=\e6\9d\8e,DC=x`, `cn=李,dc=x`},
		{"hex-escaped UTF-8 equals raw UTF-8 when escapes force the slow path", `CN=\e6\9d\8e\2c,DC=x`, `cn=李\,,dc=x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if NormalizeDN(tt.a) != NormalizeDN(tt.b) {
				t.Fatalf("NormalizeDN(%q) = %q != NormalizeDN(%q) = %q", tt.a, NormalizeDN(tt.a), tt.b, NormalizeDN(tt.b))
			}
		})
	}
	t.Run("different DNs stay different", func(t *testing.T) {
		if NormalizeDN("CN=a,DC=x") == NormalizeDN("CN=b,DC=x") {
			t.Fatal("a and b normalised equal")
		}
	})
}
