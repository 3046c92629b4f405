package csv

import (
	"context"
	"testing"
)

// FuzzParseCSV feeds arbitrary bytes through decoding and parsing: no panic,
// and every record it accepts has exactly one value per header column and a
// line number inside the file.
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
	} {
		f.Add([]byte(s), uint8(0), false)
	}
	f.Add([]byte("title\na,b\n1,2\nTOTAL,1\n"), uint8(1), true)
	f.Fuzz(func(t *testing.T, data []byte, skip uint8, withTrailer bool) {
		text, _, err := decodeText(data, "auto")
		if err != nil {
			return
		}
		tb := &table{source: "hr", file: "f.csv"}
		var trailerRE = trailerForFuzz
		if !withTrailer {
			trailerRE = nil
		}
		if _, err := parseCSV(context.Background(), tb, text, int(skip%4), 0, false, trailerRE); err != nil {
			return
		}
		for _, r := range tb.records {
			if len(r.Values) != len(tb.header) || &r.Names[0] != &tb.header[0] {
				t.Fatalf("record %s has %d values for %d columns", r.Origin, len(r.Values), len(tb.header))
			}
		}
	})
}

var trailerForFuzz, _ = countRegexp(`^TOTAL,(\d+)$`)
