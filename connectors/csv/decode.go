package csv

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// decodeText turns raw file bytes into UTF-8 without a BOM. enc is a
// validated encoding option; "auto" detects, in this order: a UTF-8 or
// UTF-16 BOM, valid UTF-8, UTF-16 without a BOM (NUL bytes in every other
// position, as "Unicode text" exports without a BOM look), and otherwise
// GB18030, the superset of GBK that Excel on Chinese Windows writes. It
// returns the encoding it used.
func decodeText(raw []byte, enc string) ([]byte, string, error) {
	switch enc {
	case "auto":
		switch {
		case bytes.HasPrefix(raw, bomUTF8):
			return checkUTF8(raw[len(bomUTF8):])
		case bytes.HasPrefix(raw, bomUTF16LE):
			return decodeWith(raw, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM), "utf-16le")
		case bytes.HasPrefix(raw, bomUTF16BE):
			return decodeWith(raw, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), "utf-16be")
		}
		// Valid UTF-8, or UTF-8 cut mid-character (never mistaken for
		// GBK); anything else is another encoding.
		if out, name, err := checkUTF8(raw); !errors.Is(err, ErrMalformed) {
			return out, name, err
		}
		if le, ok := looksUTF16(raw); ok {
			if le {
				return decodeWith(raw, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "utf-16le")
			}
			return decodeWith(raw, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), "utf-16be")
		}
		return decodeWith(raw, simplifiedchinese.GB18030, "gb18030")
	case "utf-8", "utf8":
		return checkUTF8(bytes.TrimPrefix(raw, bomUTF8))
	case "gbk":
		return decodeWith(raw, simplifiedchinese.GBK, "gbk")
	case "gb18030":
		return decodeWith(raw, simplifiedchinese.GB18030, "gb18030")
	case "utf-16":
		// BOM decides; without one, little-endian as Windows writes it.
		return decodeWith(raw, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), "utf-16")
	case "utf-16le":
		return decodeWith(raw, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), "utf-16le")
	case "utf-16be":
		return decodeWith(raw, unicode.UTF16(unicode.BigEndian, unicode.UseBOM), "utf-16be")
	}
	return nil, enc, fmt.Errorf("unknown encoding %q", enc)
}

func decodeWith(raw []byte, e encoding.Encoding, name string) ([]byte, string, error) {
	if name != "gbk" && name != "gb18030" && len(raw)%2 == 1 {
		return nil, name, fmt.Errorf("%w: odd number of bytes in %s text", ErrIncomplete, name)
	}
	out, err := e.NewDecoder().Bytes(raw)
	if err != nil {
		return nil, name, fmt.Errorf("%w: decoding %s: %v", ErrMalformed, name, err)
	}
	return bytes.TrimPrefix(out, bomUTF8), name, nil
}

func checkUTF8(b []byte) ([]byte, string, error) {
	if utf8.Valid(b) {
		return b, "utf-8", nil
	}
	if truncatedUTF8(b) {
		return nil, "utf-8", fmt.Errorf("%w: ends in the middle of a UTF-8 character", ErrIncomplete)
	}
	line := 1 + bytes.Count(b[:invalidUTF8At(b)], []byte{'\n'})
	return nil, "utf-8", fmt.Errorf("%w: line %d: not valid UTF-8 (set encoding: gbk?)", ErrMalformed, line)
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
