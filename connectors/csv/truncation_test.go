package csv

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/text/encoding/unicode"
)

// TestUnterminatedLastLine: an export cut inside its last line can still
// parse (the cut row may keep all its columns), so the only sign is the
// missing line terminator. Such a batch is returned marked incomplete, which
// holds every disable and delete of the run, and without the record that
// ends on the cut line, whose last value may be cut short.
func TestUnterminatedLastLine(t *testing.T) {
	// truncated is the Incomplete reason for last line n; with a record,
	// the record ending there, which is left out.
	truncated := func(n int, record string) string {
		s := fmt.Sprintf("employees.csv:%d: the last line has no line terminator though every other line has one: the file looks truncated", n)
		if record != "" {
			s += "; the record ending there (employees.csv:" + record + ") is left out"
		}
		return s
	}
	utf16le := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	cases := []struct {
		name       string
		cfg        Config
		data       []byte
		records    int
		incomplete string // "" = complete
		warning    string // a warning that must be there
	}{
		{
			name: "a file with every line terminated is complete",
			data: []byte("工号,姓名\nE1,张三\nE2,李四\n"), records: 2,
		},
		{
			name: "a file cut inside its last line is incomplete, naming the line",
			data: []byte("工号,姓名,部门\nE1,张三,总部/研发中心\nE2,李四,总部/销"), records: 1,
			incomplete: truncated(3, "3"),
		},
		{
			name: "a CRLF file cut between CR and LF is incomplete",
			data: []byte("工号,姓名\r\nE1,张三\r\nE2,李四\r"), records: 1,
			incomplete: "employees.csv:3: the last line ends in CR without LF though every other line ends in CRLF: the file looks truncated" +
				"; the record ending there (employees.csv:3) is left out",
		},
		{
			name: "a CRLF file with every line terminated is complete",
			data: []byte("工号,姓名\r\nE1,张三\r\nE2,李四\r\n"), records: 2,
		},
		{
			name: "a header-only file without a terminator is complete: one line says nothing",
			data: []byte("工号,姓名"), records: 0,
		},
		{
			name: "one data row without a terminator after a terminated header is incomplete",
			data: []byte("工号,姓名\nE1,张三"), records: 0,
			incomplete: truncated(2, "2"),
		},
		{
			name: "trailing blank lines are terminated lines",
			data: []byte("工号,姓名\nE1,张三\n\n\n"), records: 1,
		},
		{
			name: "a last line of blanks without a terminator is incomplete",
			data: []byte("工号,姓名\nE1,张三\n,"), records: 1,
			incomplete: truncated(3, ""),
		},
		{
			name: "a quoted multi-line last record without a terminator is incomplete",
			data: []byte("工号,地址\nE1,\"北京\n朝阳\""), records: 0,
			incomplete: truncated(3, "2"),
		},
		{
			name: "a UTF-16 file cut inside its last line is incomplete",
			data: encode(t, utf16le, "工号\t姓名\r\nE1\t张三\r\nE2\t李"), records: 1,
			incomplete: truncated(3, "3"),
		},
		{
			name: "title rows count as lines",
			cfg:  Config{SkipRows: 1}, data: []byte("花名册\n工号,姓名\nE1,张三"), records: 0,
			incomplete: truncated(3, "3"),
		},
		{
			name: "a matching manifest does not vouch for a cut last line",
			cfg:  Config{Manifest: "{stem}.count"}, data: []byte("工号,姓名\nE1,张三\nE2,李四四"), records: 1,
			incomplete: truncated(3, "3"),
		},
		{
			name: "min_records does not vouch for a cut last line",
			cfg:  Config{MinRecords: 2}, data: []byte("工号,姓名\nE1,张三\nE2,李四四"), records: 1,
			incomplete: truncated(3, "3"),
		},
		{
			name: "a matching trailer without a terminator vouches for the records and warns",
			cfg:  Config{Trailer: `^TOTAL,(\d+)$`}, data: []byte("工号,姓名\nE1,张三\nE2,李四\nTOTAL,2"), records: 2,
			warning: "employees.csv:4: the last line has no line terminator; the trailer's record count vouches for the records",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := c.cfg
			cfg.Path = writeFile(t, dir, "employees.csv", c.data)
			cfg.Settle = dur(0)
			if cfg.Manifest != "" {
				writeFile(t, dir, "employees.count", []byte("2\n"))
			}
			b, err := list(t, cfg)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(b.Records) != c.records {
				t.Fatalf("%d records, want %d: %q", len(b.Records), c.records, rows(b))
			}
			if c.incomplete == "" {
				if !b.Complete || b.Incomplete != "" {
					t.Fatalf("incomplete: %q", b.Incomplete)
				}
			} else if b.Complete || b.Incomplete != c.incomplete {
				t.Fatalf("Complete=%v Incomplete=%q\nwant Complete=false Incomplete=%q", b.Complete, b.Incomplete, c.incomplete)
			}
			for _, r := range b.Records {
				if strings.Contains(b.Incomplete, "("+r.Origin.Locator+") is left out") {
					t.Fatalf("the record left out is in the batch: %q", rows(b))
				}
			}
			if c.warning != "" && !strings.Contains(strings.Join(b.Warnings, "\n"), c.warning) {
				t.Fatalf("warnings %q, want %q", b.Warnings, c.warning)
			}
		})
	}
}
