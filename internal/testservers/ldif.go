package testservers

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// LDIF builds LDIF text for seeding. Values that LDIF cannot carry as plain
// text (non-ASCII such as CJK names, leading spaces or colons) are written
// base64-encoded ("attr:: …"), as RFC 2849 requires.
type LDIF struct{ b strings.Builder }

// Entry appends one entry; attrs alternate name, value ("cn", "李雷", ...).
func (l *LDIF) Entry(dn string, attrs ...string) {
	l.line("dn", dn)
	for i := 0; i+1 < len(attrs); i += 2 {
		l.line(attrs[i], attrs[i+1])
	}
	l.b.WriteByte('\n')
}

// Raw appends LDIF text as is (it should end with a blank line).
func (l *LDIF) Raw(s string) { l.b.WriteString(s) }

// String returns the LDIF text.
func (l *LDIF) String() string { return l.b.String() }

func (l *LDIF) line(name, value string) {
	if needsBase64(value) {
		l.b.WriteString(name + ":: " + base64.StdEncoding.EncodeToString([]byte(value)) + "\n")
		return
	}
	l.b.WriteString(name + ": " + value + "\n")
}

func needsBase64(v string) bool {
	if v == "" {
		return false
	}
	if v[0] == ' ' || v[0] == ':' || v[0] == '<' || v[len(v)-1] == ' ' || !utf8.ValidString(v) {
		return true
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c >= 0x80 || c == '\n' || c == '\r' || c == 0 {
			return true
		}
	}
	return false
}
