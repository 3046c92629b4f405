package csv

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"unicode/utf8"
)

// fuzzEncodings are the encoding options the fuzz target picks from.
var fuzzEncodings = []string{"auto", "utf-8", "gbk", "gb18030", "utf-16", "utf-16le", "utf-16be"}

// FuzzParseCSV feeds arbitrary bytes through decoding and parsing: no panic;
// decoding either fails with a *DecodeError that points inside the file, or
// yields valid UTF-8 with no replacement character the input did not
// encode; every record it accepts has exactly one value per header column
// and a line number inside the file.
func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		sample,
		"a,b\n1,\"x\ny\"\n",
		"a;b\r\n1;2\r\n\r\n",
		"\ufeff工号\t姓名\n1\t张三\n",
		"a,b\n1,\"unterminated\n",
		"a,b,,\n1,2,,\n3,4\n",
		"\xff\xfea\x00,\x00b\x00\n\x001\x00,\x002\x00\n\x00",
		"\xb9\xa4\xba\xc5,\xd0\xd5\xc3\xfb\n1,2\n",
		"TOTAL,0\n",
		"id,name\nE1,李伟伟\nE2,Caf\xe9\n",            // a Latin-1 byte in UTF-8
		"\xb9\xa4\xba\xc5\n\xc0\xee\xff\n",         // GBK with an invalid byte
		"id\n\x95\x34\xb2\x35\n\x84\x31\xa4\x37\n", // GB18030 four-byte, and its U+FFFD
		"id,name\nE1,\xea\xbb\xb7\xeb\xba\xad\n",   // GBK that is valid UTF-8
		"a,b\r\n1,2\r",                             // cut between CR and LF
		"a,b\n1,2",                                 // cut inside the last line
		"\xff\xfe\x00\xd8a\x00",                    // UTF-16 with an unpaired surrogate
	} {
		f.Add([]byte(s), uint8(0), false, uint8(0))
	}
	f.Add([]byte("title\na,b\n1,2\nTOTAL,1\n"), uint8(1), true, uint8(0))
	f.Add([]byte(sample), uint8(0), false, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, skip uint8, withTrailer bool, enc uint8) {
		encoding := fuzzEncodings[int(enc)%len(fuzzEncodings)]
		text, name, err := decodeText(data, encoding, "f.csv")
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("%s: not a DecodeError: %v", encoding, err)
			}
			if de.Offset < 0 || de.Offset >= len(data) || de.Line < 1 || len(de.Bytes) == 0 ||
				!(errors.Is(err, ErrMalformed) || errors.Is(err, ErrIncomplete)) {
				t.Fatalf("%s: %v: offset %d line %d bytes %x", encoding, err, de.Offset, de.Line, de.Bytes)
			}
			return
		}
		if !utf8.Valid(text) {
			t.Fatalf("%s read as %s: not valid UTF-8: %q", encoding, name, text)
		}
		if bytes.ContainsRune(text, utf8.RuneError) && !encodesFFFD(data) {
			t.Fatalf("%s read as %s: a replacement character the input does not encode: %q", encoding, name, text)
		}
		unterminatedLastLine(text)
		tb := &table{source: "hr", file: "f.csv"}
		var trailerRE = trailerForFuzz
		if !withTrailer {
			trailerRE = nil
		}
		if _, err := parseCSV(context.Background(), tb, text, int(skip%4), 0, false, trailerRE); err != nil {
			return
		}
		for _, r := range tb.records {
			if r.Len() != len(tb.header) || &r.Names[0] != &tb.header[0] {
				t.Fatalf("record %s has %d values for %d columns", r.Origin, r.Len(), len(tb.header))
			}
		}
	})
}

// encodesFFFD reports whether data holds U+FFFD in one of the encodings
// decodeText reads: UTF-8, GB18030, UTF-16 in either byte order.
func encodesFFFD(data []byte) bool {
	for _, seq := range [][]byte{[]byte("\ufffd"), gbFFFD, {0xFD, 0xFF}, {0xFF, 0xFD}} {
		if bytes.Contains(data, seq) {
			return true
		}
	}
	return false
}

var trailerForFuzz, _ = countRegexp(`^TOTAL,(\d+)$`)
