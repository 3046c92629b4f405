package mapping

import (
	"fmt"
	"unicode/utf8"
)

// checkText applies the character rules every free-text value WeCom shows
// (name, alias, position, extattr text, department names, emails) must
// pass; it returns "" for an acceptable value, else what is wrong.
//
// WeCom's docs limit these fields by length only ("1–64 UTF-8
// characters"), so anything that is text is passed on, and what is not
// text is rejected here instead of being stored invisibly in the directory
// (and in every client that renders it):
//
//   - bytes that are not UTF-8 (JSON would silently turn them into U+FFFD,
//     so the value would differ on every run) and U+FFFD itself (a value
//     decoded with the wrong encoding);
//   - control characters: C0 (NUL, TAB, LF, CR, ESC, …), DEL and C1;
//   - the line and paragraph separators U+2028 and U+2029;
//   - the bidi embeddings, overrides and isolates U+202A–U+202E and
//     U+2066–U+2069, which make text display as something else
//     ("Trojan Source");
//   - invisible characters that make two different values look the same:
//     U+200B (zero-width space), U+2060–U+2064, U+FEFF.
//
// Kept, because real names need them: right-to-left scripts (Arabic,
// Hebrew) and the marks that go with them (U+200E/U+200F LRM/RLM, U+061C
// ALM), the joiners U+200C/U+200D (Persian, Indic scripts, emoji
// sequences), variation selectors, and emoji. WeCom's docs do not restrict
// emoji; lengths count code points (an emoji sequence counts each of its
// code points, so the limit errs on the short side).
func checkText(s string) string {
	n := 0
	for i, r := range s {
		n++
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Sprintf("is not valid UTF-8 (byte 0x%02X at byte %d): is the source's encoding right?", s[i], i+1)
			}
			return "contains U+FFFD, the replacement character: the source was probably read in the wrong encoding"
		case r < 0x20 || r >= 0x7f && r <= 0x9f:
			return fmt.Sprintf("contains the control character %U (character %d)", r, n)
		case r == 0x2028:
			return fmt.Sprintf("contains the line separator %U (character %d)", r, n)
		case r == 0x2029:
			return fmt.Sprintf("contains the paragraph separator %U (character %d)", r, n)
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return fmt.Sprintf("contains the bidi control %U (character %d), which can make text display as something else", r, n)
		case r == 0x200b, r >= 0x2060 && r <= 0x2064, r == 0xfeff:
			return fmt.Sprintf("contains the invisible character %U (character %d)", r, n)
		}
	}
	return ""
}

// maxValueBytes is how much of a rejected value a RecordError keeps: enough
// to find the row, never a whole megabyte in a report or a log line.
const maxValueBytes = 200

// clip shortens a value for a message: the first runes up to maxValueBytes,
// then "…" and the full size. Values that fit are returned as they are.
func clip(s string) string {
	if len(s) <= maxValueBytes {
		return s
	}
	cut := 0
	for i := range s {
		if i > maxValueBytes-40 {
			break
		}
		cut = i
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}
