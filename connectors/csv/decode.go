package csv

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// autoCandidates are the encodings encoding: auto chooses from, as error
// messages list them.
var autoCandidates = []string{"utf-8", "utf-16", "gb18030"}

// DecodeError reports text that does not decode, cleanly and plausibly, in
// the configured encoding (or, with encoding: auto, in any candidate). The
// file is never read in another encoding nor with replacement characters:
// one stray byte must fail the source, not rewrite every name in it.
//
// It wraps ErrIncomplete when the text ends in the middle of a character (a
// file cut short), and ErrMalformed otherwise.
type DecodeError struct {
	File       string   // base name of the file
	Line       int      // 1-based physical line of the offending byte
	Offset     int      // 0-based byte offset of the offending byte in the file (xxd -s)
	Bytes      []byte   // the offending byte or sequence, as in the file
	Encoding   string   // the configured encoding ("auto", "utf-8", "gbk", …)
	Reason     string   // what is wrong there
	Considered []string // with auto: the candidate encodings, in the order tried
	Cut        bool     // the text ends inside a character
}

func (e *DecodeError) Error() string {
	hex := make([]string, len(e.Bytes))
	for i, b := range e.Bytes {
		hex[i] = fmt.Sprintf("0x%02X", b)
	}
	s := fmt.Sprintf("%v: %s:%d: byte offset %d (%s): %s", e.Unwrap(), e.File, e.Line, e.Offset, strings.Join(hex, " "), e.Reason)
	if len(e.Considered) > 0 {
		s += " (encodings considered: " + strings.Join(e.Considered, ", ") + ")"
	}
	return s
}

// Unwrap returns ErrIncomplete or ErrMalformed.
func (e *DecodeError) Unwrap() error {
	if e.Cut {
		return ErrIncomplete
	}
	return ErrMalformed
}

// decodeText turns the raw bytes of file into UTF-8 without a BOM and returns
// the encoding it decoded ("utf-8", "gb18030", "gbk", "utf-16le",
// "utf-16be"). enc is a validated encoding option.
//
// Decoding is validated, never lenient: an invalid sequence fails with a
// *DecodeError naming file, line and byte offset (the decoders of
// golang.org/x/text would substitute U+FFFD silently).
//
// "auto" chooses an encoding only if the whole file decodes cleanly and
// plausibly in it, in this order: a UTF-8 or UTF-16 BOM (the file must then
// be valid in that encoding); UTF-16 without a BOM (the NUL bytes ASCII
// leaves in every other position: never in UTF-8 or GB text); valid UTF-8
// (unless it reads as GB2312 text just as well, see ambiguousUTF8); and
// GB18030, the superset of GBK that Excel on Chinese Windows writes.
// GB18030 decodes almost any byte string, so a file that is not UTF-8 is
// read as GB18030 only if
//   - it does not look like UTF-8 text with some damage (see
//     utf8Stats.damaged): a UTF-8 export with one Latin-1 byte, or rows from
//     two systems, is a broken file, not a GBK one;
//   - every byte sequence is valid GB18030; and
//   - at least half of its double-byte characters are common Chinese
//     characters (GB2312), as in real GBK text and unlike Latin-1 or UTF-8
//     bytes misread as GBK (see gbPlausible).
func decodeText(raw []byte, enc, file string) ([]byte, string, error) {
	d := decoder{raw: raw, file: file, enc: enc}
	switch enc {
	case "auto":
		switch {
		case bytes.HasPrefix(raw, bomUTF8):
			return d.decodeUTF8(len(bomUTF8), "invalid UTF-8 in a file that starts with a UTF-8 byte order mark")
		case bytes.HasPrefix(raw, bomUTF16LE):
			return d.decodeUTF16(true)
		case bytes.HasPrefix(raw, bomUTF16BE):
			return d.decodeUTF16(false)
		}
		if le, ok := looksUTF16(raw); ok {
			return d.decodeUTF16(le)
		}
		d.considered = autoCandidates
		if utf8.Valid(raw) {
			if off := ambiguousUTF8(raw); off >= 0 {
				return nil, "", d.fail(off, 3, false, "the file reads as UTF-8 and as gb18030 alike "+
					"(each of its lines with a three-byte UTF-8 character is plain GB2312 text as well): set encoding: utf-8 or gbk")
			}
			return raw, "utf-8", nil
		}
		st := scanUTF8(raw)
		switch {
		case truncatedUTF8(raw):
			return nil, "utf-8", d.fail(st.first, 0, true, "the file ends in the middle of a UTF-8 character (cut short?)")
		case st.damaged():
			return nil, "", d.fail(st.first, 1, false, fmt.Sprintf(
				"invalid UTF-8 in a file that holds UTF-8 text (%s): a damaged export or mixed encodings, not read as another encoding", st.counts()))
		}
		out, bad, cut := strictGB(raw, simplifiedchinese.GB18030, true)
		if bad >= 0 {
			if cut {
				return nil, "gb18030", d.fail(bad, 0, true, "the file ends in the middle of a gb18030 character (cut short?)")
			}
			return nil, "", d.fail(bad, gbSeqShown(raw[bad:]), false, fmt.Sprintf(
				"invalid gb18030 sequence, and the file is not UTF-8 either (first invalid UTF-8 byte: line %d, byte offset %d)",
				d.line(st.first), st.first))
		}
		if common, total, ok := gbPlausible(raw); !ok {
			return nil, "", d.fail(st.first, 1, false, fmt.Sprintf(
				"not UTF-8, and not plausibly gb18030: only %d of %d double-byte characters are common Chinese (GB2312) characters, fewer than half", common, total))
		}
		return out, "gb18030", nil
	case "utf-8", "utf8":
		return d.decodeUTF8(len(bomUTF8)*boolInt(bytes.HasPrefix(raw, bomUTF8)), "invalid UTF-8")
	case "gbk":
		return d.explicitGB(simplifiedchinese.GBK, false, "gbk")
	case "gb18030":
		return d.explicitGB(simplifiedchinese.GB18030, true, "gb18030")
	case "utf-16", "utf-16le":
		// A BOM decides; without one, the configured byte order
		// (little-endian, as Windows writes it, for utf-16).
		return d.decodeUTF16(!bytes.HasPrefix(raw, bomUTF16BE))
	case "utf-16be":
		return d.decodeUTF16(bytes.HasPrefix(raw, bomUTF16LE))
	}
	return nil, enc, fmt.Errorf("unknown encoding %q", enc)
}

// decoder holds what a *DecodeError needs to say.
type decoder struct {
	raw        []byte
	file, enc  string
	considered []string
	units16    bool // UTF-16: lines are counted in 16-bit code units
	le         bool // UTF-16: little-endian
}

// fail builds the error for the offending bytes raw[off:off+n] (n 0: to the
// end, at most 4).
func (d *decoder) fail(off, n int, cut bool, reason string) *DecodeError {
	end := len(d.raw)
	if n > 0 {
		end = min(end, off+n)
	}
	end = min(end, off+4)
	return &DecodeError{
		File: d.file, Line: d.line(off), Offset: off, Bytes: bytes.Clone(d.raw[off:end]),
		Encoding: d.enc, Reason: reason, Considered: d.considered, Cut: cut,
	}
}

// line is the 1-based physical line of byte offset off. A 0x0A byte is a
// line feed wherever it stands in UTF-8 and GB18030 text (no multi-byte
// sequence contains one); in UTF-16 the line feed is a code unit.
func (d *decoder) line(off int) int {
	if !d.units16 {
		return 1 + bytes.Count(d.raw[:off], []byte{'\n'})
	}
	n := 1
	for i := 0; i+1 < off; i += 2 {
		u := uint16(d.raw[i])<<8 | uint16(d.raw[i+1])
		if d.le {
			u = uint16(d.raw[i+1])<<8 | uint16(d.raw[i])
		}
		if u == '\n' {
			n++
		}
	}
	return n
}

// decodeUTF8 checks raw[start:] (start skips a BOM) as UTF-8. For explicit
// utf-8 on a file that auto would read as GB18030, the error says so.
func (d *decoder) decodeUTF8(start int, reason string) ([]byte, string, error) {
	text := d.raw[start:]
	if utf8.Valid(text) {
		return text, "utf-8", nil
	}
	st := scanUTF8(text)
	off := start + st.first
	if truncatedUTF8(text) {
		return nil, "utf-8", d.fail(off, 0, true, "the file ends in the middle of a UTF-8 character (cut short?)")
	}
	if start == 0 && !st.damaged() {
		if _, bad, _ := strictGB(d.raw, simplifiedchinese.GB18030, true); bad < 0 {
			if _, _, ok := gbPlausible(d.raw); ok {
				reason += " (the file reads cleanly as gb18030: set encoding: auto or gb18030?)"
			}
		}
	}
	return nil, "utf-8", d.fail(off, 1, false, reason)
}

// explicitGB decodes an explicitly configured GBK or GB18030 file. A file
// that is UTF-8 Chinese text, valid or damaged, fails: read as GBK it would
// turn every name into mojibake.
func (d *decoder) explicitGB(e encoding.Encoding, gb18030 bool, name string) ([]byte, string, error) {
	st := scanUTF8(d.raw)
	// Only a line that UTF-8 alone explains overrides the configuration:
	// valid UTF-8 two-byte characters (女士 in GBK is that) and a small file
	// with more of them than invalid bytes may well be GBK as configured.
	if st.utf8Lines > 0 {
		off, n := st.first, 1
		if off < 0 {
			off, n = st.firstLine, 3
		}
		return nil, name, d.fail(off, n, false, fmt.Sprintf(
			"encoding %s is configured, but the file is UTF-8 text (%s): a re-encoded export? (set encoding: utf-8 or auto)", name, st.counts()))
	}
	out, bad, cut := strictGB(d.raw, e, gb18030)
	if bad < 0 {
		return out, name, nil
	}
	if cut {
		return nil, name, d.fail(bad, 0, true, fmt.Sprintf("the file ends in the middle of a %s character (cut short?)", name))
	}
	reason := fmt.Sprintf("invalid %s sequence", name)
	n := gbSeqShown(d.raw[bad:])
	if !gb18030 && gbSeqLen(d.raw[bad:], true) == 4 {
		reason += " (a gb18030 four-byte character: set encoding: gb18030?)"
		n = 4
	}
	return nil, name, d.fail(bad, n, false, reason)
}

// decodeUTF16 decodes UTF-16 in the given byte order, skipping a BOM. An
// unpaired surrogate fails; an odd number of bytes, or a high surrogate at
// the very end, is a file cut short.
func (d *decoder) decodeUTF16(le bool) ([]byte, string, error) {
	d.units16, d.le = true, le
	name := "utf-16be"
	bom := bomUTF16BE
	if le {
		name, bom = "utf-16le", bomUTF16LE
	}
	if len(d.raw)%2 == 1 {
		return nil, name, d.fail(len(d.raw)-1, 0, true, "the file ends in the middle of a UTF-16 code unit (cut short?)")
	}
	start := 0
	if bytes.HasPrefix(d.raw, bom) {
		start = 2
	}
	unit := func(i int) uint16 {
		if le {
			return uint16(d.raw[i+1])<<8 | uint16(d.raw[i])
		}
		return uint16(d.raw[i])<<8 | uint16(d.raw[i+1])
	}
	for i := start; i < len(d.raw); i += 2 {
		switch u := unit(i); {
		case u >= 0xD800 && u < 0xDC00: // high surrogate: a low one must follow
			if i+2 >= len(d.raw) {
				return nil, name, d.fail(i, 0, true, "the file ends in the middle of a UTF-16 surrogate pair (cut short?)")
			}
			if v := unit(i + 2); v < 0xDC00 || v >= 0xE000 {
				return nil, name, d.fail(i, 2, false, fmt.Sprintf("invalid %s: unpaired surrogate", name))
			}
			i += 2
		case u >= 0xDC00 && u < 0xE000:
			return nil, name, d.fail(i, 2, false, fmt.Sprintf("invalid %s: unpaired surrogate", name))
		}
	}
	order := unicode.BigEndian
	if le {
		order = unicode.LittleEndian
	}
	out, err := unicode.UTF16(order, unicode.IgnoreBOM).NewDecoder().Bytes(d.raw[start:])
	if err != nil { // not reached: the text was validated above
		return nil, name, fmt.Errorf("%w: %s: decoding %s: %w", ErrMalformed, d.file, name, err)
	}
	return out, name, nil
}

// utf8Stats describes how much of a byte string is UTF-8 text.
type utf8Stats struct {
	multi     int // valid multi-byte characters
	invalid   int // bytes that start no valid character
	utf8Lines int // lines that only UTF-8 explains (see scanUTF8)
	first     int // offset of the first invalid byte; -1: the whole string is valid
	firstLine int // offset of the first wide character of the first such line; -1: none
}

// scanUTF8 counts the valid and invalid UTF-8 in b, and the lines that only
// UTF-8 explains: no invalid byte, a character of three or four bytes
// (U+0800 and above: CJK among them), and not plain GB2312 text as well.
//
// The last condition is for GBK text, in which a short line (a name and a
// gender) is valid UTF-8 now and then by chance: 昊冯涵 in GBK is two
// three-byte UTF-8 characters. Such a line is plain GB2312 (it is GBK text);
// a line of UTF-8 Chinese almost never is, since its continuation bytes
// (0x80–0xBF) pair up into lead bytes GB2312 does not have.
func scanUTF8(b []byte) utf8Stats {
	st := utf8Stats{first: -1, firstLine: -1}
	lineStart, lineWide, lineBad := 0, -1, false
	endLine := func(end int) {
		if lineWide >= 0 && !lineBad && !gb2312Plain(b[lineStart:end]) {
			st.utf8Lines++
			if st.firstLine < 0 {
				st.firstLine = lineWide
			}
		}
		lineStart, lineWide, lineBad = end+1, -1, false
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == '\n' {
				endLine(i)
			}
			i++
			continue
		}
		// Two-byte characters and bytes that start none are decided here:
		// in GBK text they are nearly all of it.
		n := 0
		switch {
		case c >= 0xC2 && c <= 0xDF:
			if i+1 < len(b) && b[i+1]&0xC0 == 0x80 {
				n = 2
			}
		case c >= 0xE0 && c <= 0xF4:
			if r, size := utf8.DecodeRune(b[i:]); r != utf8.RuneError || size > 1 {
				n = size
			}
		}
		if n == 0 {
			st.invalid++
			lineBad = true
			if st.first < 0 {
				st.first = i
			}
			i++
			continue
		}
		st.multi++
		if n >= 3 && lineWide < 0 {
			lineWide = i
		}
		i += n
	}
	endLine(len(b))
	return st
}

// ambiguousUTF8 returns the offset of the first character of three or four
// bytes of valid UTF-8 text when no line with such a character is only
// UTF-8 (see scanUTF8): a small GBK file with an ASCII header can be valid
// UTF-8 by chance, and reads as Hangul then. It returns -1 otherwise, at the
// first line that settles it, which in a UTF-8 Chinese file is the first line
// with a Chinese character. Text without such characters (ASCII, Latin
// letters) is UTF-8.
func ambiguousUTF8(b []byte) int {
	first := -1
	for start := 0; start < len(b); {
		end := bytes.IndexByte(b[start:], '\n')
		if end < 0 {
			end = len(b)
		} else {
			end += start
		}
		line := b[start:end]
		if i := indexWideLead(line); i >= 0 {
			if !gb2312Plain(line) {
				return -1
			}
			if first < 0 {
				first = start + i
			}
		}
		start = end + 1
	}
	return first
}

// indexWideLead is the index of the first lead byte of a three- or
// four-byte character in valid UTF-8, or -1.
func indexWideLead(b []byte) int {
	for i, c := range b {
		if c >= 0xE0 {
			return i
		}
	}
	return -1
}

// gb2312Plain reports whether line is ASCII and GB2312 double-byte
// characters (lead 0xA1–0xF7, trail 0xA1–0xFE) only.
func gb2312Plain(line []byte) bool {
	for i := 0; i < len(line); i++ {
		if line[i] < 0x80 {
			continue
		}
		if i+1 >= len(line) || line[i] < 0xA1 || line[i] > 0xF7 || line[i+1] < 0xA1 || line[i+1] > 0xFE {
			return false
		}
		i++
	}
	return true
}

// damaged reports whether text that is not valid UTF-8 is still UTF-8 text,
// damaged by a few foreign bytes or mixed with rows in another encoding, and
// so must not be read in another encoding: it has a line only UTF-8
// explains (UTF-8 Chinese), or at least four valid multi-byte characters
// per invalid byte (UTF-8 Latin letters, é being plain GB2312 too).
//
// GBK text read as UTF-8 is invalid almost everywhere: nearly every GBK
// character leaves an invalid byte, only by chance do a GBK character's
// bytes form a valid UTF-8 one (mostly a two-byte one, U+0080–U+07FF: 女 is
// one), and a line of it that is valid UTF-8 by chance is plain GB2312 as
// well. Files of some size have fewer chance characters than invalid bytes;
// only the tiniest (a row or two of one-character names) come near four per
// invalid byte: those fail here, and read with encoding: gbk.
func (st utf8Stats) damaged() bool {
	return st.utf8Lines > 0 || (st.multi > 0 && st.multi >= 4*st.invalid)
}

func (st utf8Stats) counts() string {
	return fmt.Sprintf("%d valid multi-byte characters, %d invalid %s", st.multi, st.invalid, plural(st.invalid, "byte", "bytes"))
}

// truncatedUTF8 reports whether b is valid UTF-8 except for an incomplete
// multi-byte sequence at its very end: a UTF-8 file cut short, which must not
// be mistaken for GBK.
func truncatedUTF8(b []byte) bool {
	i := invalidUTF8At(b)
	if i < 0 || len(b)-i > 3 || len(b) == i {
		return false
	}
	// Every byte left must be a valid start of a sequence that ran out.
	return !utf8.FullRune(b[i:]) && utf8.RuneStart(b[i]) && b[i] >= 0xC2
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// gbFFFD is U+FFFD in GB18030: the one sequence that rightly decodes to it.
var gbFFFD = []byte{0x84, 0x31, 0xA4, 0x37}

// strictGB decodes GBK or GB18030 text strictly: bad is the offset of the
// first invalid sequence (-1: none), cut whether that sequence is merely
// incomplete at the end of the text. x/text decodes an invalid sequence to
// U+FFFD without an error, so a U+FFFD in its output sends the input through
// a validating scan; the fast path stays one decode and one search.
//
// The output is allocated once, at the size that holds any valid Chinese
// text: a two-byte GB character is at most three bytes of UTF-8, a
// four-byte one four, ASCII one, so len(raw)*3/2 suffices (x/text's Bytes
// starts at len(raw) and doubles, copying the text each time). Only the
// single bytes that become three (0x80, the euro sign; an invalid byte, as
// U+FFFD) can make Append grow it.
func strictGB(raw []byte, e encoding.Encoding, gb18030 bool) (out []byte, bad int, cut bool) {
	out, _, err := transform.Append(e.NewDecoder(), make([]byte, 0, len(raw)+len(raw)/2+utf8.UTFMax), raw)
	if err != nil { // not reached: these decoders report no errors
		return nil, 0, false
	}
	if !bytes.ContainsRune(out, utf8.RuneError) {
		return out, -1, false
	}
	dec := e.NewDecoder()
	var buf [16]byte
	for i := 0; i < len(raw); {
		c := raw[i]
		if c <= 0x80 { // ASCII, or 0x80: the euro sign of code page 936
			i++
			continue
		}
		n := gbSeqLen(raw[i:], gb18030)
		switch {
		case n < 0:
			return nil, i, true
		case n == 0:
			return nil, i, false
		}
		dec.Reset()
		nDst, _, _ := dec.Transform(buf[:], raw[i:i+n], true)
		if r, _ := utf8.DecodeRune(buf[:nDst]); r == utf8.RuneError && !bytes.Equal(raw[i:i+n], gbFFFD) {
			return nil, i, false // well-formed, but maps to no character
		}
		i += n
	}
	return out, -1, false
}

// gbSeqLen is the length of the GBK/GB18030 multi-byte sequence b starts
// with (b[0] is 0x81–0xFF): 2 or 4; 0 if it is invalid; -1 if b ends before
// the sequence does.
func gbSeqLen(b []byte, gb18030 bool) int {
	in := func(c, lo, hi byte) bool { return lo <= c && c <= hi }
	if !in(b[0], 0x81, 0xFE) {
		return 0
	}
	if len(b) < 2 {
		return -1
	}
	switch c1 := b[1]; {
	case in(c1, 0x40, 0x7E) || in(c1, 0x80, 0xFE):
		return 2
	case !gb18030 || !in(c1, 0x30, 0x39):
		return 0
	}
	if len(b) < 3 {
		return -1
	}
	if !in(b[2], 0x81, 0xFE) {
		return 0
	}
	if len(b) < 4 {
		return -1
	}
	if !in(b[3], 0x30, 0x39) {
		return 0
	}
	return 4
}

// gbSeqShown is how many bytes of an invalid GB sequence at b an error
// shows: the lead byte and what follows it, up to a four-byte form.
func gbSeqShown(b []byte) int {
	if b[0] < 0x81 || b[0] == 0xFF || len(b) < 2 {
		return 1
	}
	if 0x30 <= b[1] && b[1] <= 0x39 {
		return 4
	}
	return 2
}

// gbPlausible counts the multi-byte characters of valid GB18030 text
// (total, four-byte ones included) and those of them in GB2312, the common
// characters and symbols (lead 0xA1–0xF7, trail 0xA1–0xFE); the text is
// plausibly Chinese when at least half are. Real Chinese text is nearly all
// GB2312, rare characters in names notwithstanding; Latin-1 letters read as
// GBK pair with the ASCII byte after them and are never in it, and UTF-8
// Chinese read as GBK is about a third in it.
func gbPlausible(raw []byte) (common, total int, ok bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c <= 0x80 {
			i++
			continue
		}
		total++
		if c >= 0xA1 && c <= 0xF7 && i+1 < len(raw) && raw[i+1] >= 0xA1 && raw[i+1] <= 0xFE {
			common++
			i += 2
			continue
		}
		i += max(1, gbSeqLen(raw[i:], true)) // at least 1: not reached for validated text
	}
	return common, total, common*2 >= total
}

// looksUTF16 detects BOM-less UTF-16 by the NUL bytes ASCII characters leave
// in every other position.
func looksUTF16(raw []byte) (littleEndian, ok bool) {
	n := len(raw)
	if n > 4096 {
		n = 4096
	}
	n &^= 1
	if n < 4 {
		return false, false
	}
	var even, odd int
	for i := 0; i < n; i += 2 {
		if raw[i] == 0 {
			even++
		}
		if raw[i+1] == 0 {
			odd++
		}
	}
	pairs := n / 2
	switch {
	case odd*10 >= pairs*3 && even*10 < pairs:
		return true, true
	case even*10 >= pairs*3 && odd*10 < pairs:
		return false, true
	}
	return false, false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
