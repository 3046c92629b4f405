// Package attr holds pure helpers for LDAP and Active Directory attribute
// values: account-control flags, AD timestamps, binary GUIDs and SIDs, DN to
// department path, filter escaping. They take plain Go values (strings,
// []string, []byte) and no go-ldap types, so that the mapping layer can expose
// them as expression functions (`enabled: !uac_disabled(userAccountControl)`).
package attr

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
)

// userAccountControl flags (MS-ADTS 2.2.16) that orgsync cares about.
const (
	UACAccountDisable       = 0x0002
	UACLockout              = 0x0010
	UACNormalAccount        = 0x0200
	UACDontExpirePassword   = 0x10000
	UACPasswordExpired      = 0x800000
	UACWorkstationTrust     = 0x1000
	UACServerTrust          = 0x2000
	UACInterdomainTrust     = 0x0800
	UACTempDuplicateAccount = 0x0100
)

// Int parses an integer attribute value: a string, the first element of a
// []string, or a Go integer. It reports false for anything else, including
// an empty or non-numeric string.
func Int(v any) (int64, bool) {
	switch x := v.(type) {
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	case []string:
		if len(x) == 0 {
			return 0, false
		}
		return Int(x[0])
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case uint32:
		return int64(x), true
	case float64: // expr numbers
		return int64(x), x == float64(int64(x))
	}
	return 0, false
}

// UACHas reports whether the userAccountControl value v has every bit of
// flag set. A missing or unparsable value has no flags.
func UACHas(v any, flag int) bool {
	n, ok := Int(v)
	if !ok {
		return false
	}
	// AD stores the 32-bit mask as a signed decimal; mask to 32 bits.
	return uint32(n)&uint32(flag) == uint32(flag)
}

// UACDisabled reports whether the ACCOUNTDISABLE bit (0x2) is set in the
// userAccountControl value v ("514" → true, "512" → false).
func UACDisabled(v any) bool { return UACHas(v, UACAccountDisable) }

// AD time constants: FILETIME counts 100 ns intervals since 1601-01-01 UTC.
const (
	fileTimeEpochDelta = 116444736000000000 // 1601 → 1970 in 100 ns units
	adNever            = 9223372036854775807
)

// ADTimeToTime converts an AD FILETIME attribute (accountExpires,
// lockoutTime, pwdLastSet, lastLogonTimestamp) to a time. It reports false
// for "never": 0 and 9223372036854775807, and for values that are not
// numbers. A value before the Unix epoch is still returned (ok=true).
func ADTimeToTime(s string) (time.Time, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n == 0 || n == adNever || n < 0 {
		return time.Time{}, false
	}
	d := n - fileTimeEpochDelta
	sec, rem := d/10_000_000, d%10_000_000
	return time.Unix(sec, rem*100).UTC(), true
}

// GeneralizedTime parses an LDAP GeneralizedTime (pwdAccountLockedTime,
// createTimestamp: "20240102030405Z", with optional fraction and offset).
// The OpenLDAP ppolicy value "000001010000Z" (locked permanently) parses as
// year 0, which callers treat as "locked". It reports false when s is empty
// or malformed.
func GeneralizedTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if s == "000001010000Z" {
		return time.Time{}, true
	}
	t, err := ber.ParseGeneralizedTime([]byte(s))
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// Expired reports whether an AD accountExpires value lies before now.
// "Never" (0 or the maximum value) is not expired.
func Expired(accountExpires string, now time.Time) bool {
	t, ok := ADTimeToTime(accountExpires)
	return ok && !t.After(now)
}

// GUIDString formats a 16-byte objectGUID in its usual string form
// (little-endian first three groups, as Windows prints it):
// "3f2504e0-4f89-11d3-9a0c-0305e82c3301". Any other length yields the
// lower-case hex of the bytes, so a malformed value is still a stable key.
func GUIDString(b []byte) string {
	if len(b) != 16 {
		return fmt.Sprintf("%x", b)
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]),
		binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]),
		b[8:10], b[10:16])
}

// SIDString formats a binary objectSid as "S-1-5-21-…". A malformed value
// yields the lower-case hex of the bytes.
func SIDString(b []byte) string {
	if len(b) < 8 || b[0] != 1 || len(b) != 8+4*int(b[1]) {
		return fmt.Sprintf("%x", b)
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "S-%d-%d", b[0], auth)
	for i := 0; i < int(b[1]); i++ {
		fmt.Fprintf(&sb, "-%d", binary.LittleEndian.Uint32(b[8+4*i:]))
	}
	return sb.String()
}

// OUPath returns the department path of the entry named by dn: the values of
// its OU components below baseDN, joined with "/". The entry's own RDN is
// never part of the path (a person's CN is not a department), and components
// of baseDN are stripped. topFirst orders the path from the top of the tree
// down ("总部/研发中心/后端组"); false gives the DN order ("后端组/研发中心/总部").
// baseDN is only stripped when it is a suffix of dn (compared
// case-insensitively). Only OU components count: CN=Users containers and DC
// components are not departments. A "/" inside an OU name becomes "／" so
// that it cannot split the path. A DN that does not parse yields "".
func OUPath(dn, baseDN string, topFirst bool) string {
	rdns, ok := splitDN(dn)
	if !ok || len(rdns) == 0 {
		return ""
	}
	rdns = rdns[1:] // drop the entry's own RDN
	if base, ok := splitDN(baseDN); ok && len(base) > 0 && len(base) <= len(rdns) {
		tail := rdns[len(rdns)-len(base):]
		same := true
		for i := range base {
			same = same && strings.EqualFold(tail[i].typ, base[i].typ) && strings.EqualFold(tail[i].value, base[i].value)
		}
		if same {
			rdns = rdns[:len(rdns)-len(base)]
		}
	}
	parts := make([]string, 0, len(rdns))
	for _, r := range rdns {
		if strings.EqualFold(r.typ, "ou") {
			parts = append(parts, strings.ReplaceAll(r.value, "/", "／"))
		}
	}
	if topFirst {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	return strings.Join(parts, "/")
}

// NormalizeDN returns a form of dn for comparing DNs: attribute types and
// values lower-cased, spaces around separators dropped, escapes decoded and
// re-encoded canonically. DN-valued attributes (manager, member) compare
// case-insensitively in both AD and OpenLDAP's usual schemas. A DN that does
// not parse is only lower-cased.
func NormalizeDN(dn string) string {
	if simpleDN(dn) {
		// Fast path (most DNs, and the hot path of a 50,000-entry read): no
		// escapes, quotes or multi-valued RDNs, so splitting on the
		// separators is exact.
		var b strings.Builder
		b.Grow(len(dn))
		for i, rdn := range strings.Split(dn, ",") {
			if i > 0 {
				b.WriteByte(',')
			}
			t, v, _ := strings.Cut(rdn, "=")
			b.WriteString(strings.ToLower(strings.TrimSpace(t)))
			b.WriteByte('=')
			b.WriteString(strings.ToLower(strings.TrimSpace(v)))
		}
		return b.String()
	}
	p, err := goldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(dn)
	}
	// Re-encode by hand rather than with DN.String, which hex-escapes
	// non-ASCII: the result must equal the fast path's for the same DN.
	var b strings.Builder
	for i, r := range p.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		atts := make([]string, len(r.Attributes))
		for j, a := range r.Attributes {
			atts[j] = strings.ToLower(a.Type) + "=" + strings.ToLower(escapeDNValue(a.Value))
		}
		sort.Strings(atts) // a multi-valued RDN is a set
		b.WriteString(strings.Join(atts, "+"))
	}
	return b.String()
}

// escapeDNValue escapes what RFC 4514 requires and nothing else.
func escapeDNValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case strings.IndexByte(",+\"<>;=\\", c) >= 0,
			(c == '#' || c == ' ') && i == 0,
			c == ' ' && i == len(v)-1:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

type rdn struct{ typ, value string }

// simpleDN reports whether dn can be split on "," and "=" alone: no
// escapes, quotes, multi-valued RDNs, hex values, and every RDN has a type
// and a value.
func simpleDN(dn string) bool {
	if dn == "" || strings.ContainsAny(dn, "\\\"+#;<>") {
		return false
	}
	n := 0
	for _, part := range strings.Split(dn, ",") {
		t, v, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(t) == "" || strings.TrimSpace(v) == "" || strings.Contains(v, "=") {
			return false
		}
		n++
	}
	return n > 0
}

// splitDN returns the RDNs of dn, leaf first, one element per RDN (for a
// multi-valued RDN, its OU attribute if it has one, else its first). ok is
// false when dn does not parse.
func splitDN(dn string) ([]rdn, bool) {
	if simpleDN(dn) {
		parts := strings.Split(dn, ",")
		out := make([]rdn, len(parts))
		for i, p := range parts {
			t, v, _ := strings.Cut(p, "=")
			out[i] = rdn{strings.TrimSpace(t), strings.TrimSpace(v)}
		}
		return out, true
	}
	p, err := goldap.ParseDN(dn)
	if err != nil {
		return nil, false
	}
	var out []rdn
	for _, r := range p.RDNs {
		// A multi-valued RDN counts as one level: keep its OU, if any.
		pick := r.Attributes[0]
		for _, a := range r.Attributes {
			if strings.EqualFold(a.Type, "ou") {
				pick = a
			}
		}
		out = append(out, rdn{pick.Type, pick.Value})
	}
	return out, true
}
