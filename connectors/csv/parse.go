package csv

import (
	"bytes"
	"context"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/orgsync/orgsync/connectors"
)

// parseCSV reads decoded UTF-8 text into t. skip is the number of physical
// lines above the header; delim 0 sniffs. trailer, when set, must match the
// last non-blank line, which holds the record count and is not a record.
// Line numbers in origins and errors are physical lines of the file.
func parseCSV(ctx context.Context, t *table, text []byte, skip int, delim rune, lazy bool, trailer *regexp.Regexp) (trailerCount int, err error) {
	trailerCount = -1
	offset := 0 // lines before text
	for i := 0; i < skip; i++ {
		nl := bytes.IndexByte(text, '\n')
		if nl < 0 {
			return -1, fmt.Errorf("%w: %s: skip_rows %d but the file has only %d lines", ErrMalformed, t.file, skip, i+1)
		}
		text = text[nl+1:]
		offset++
	}
	if trailer != nil {
		body, last, ok := cutLastLine(text)
		if !ok {
			return -1, fmt.Errorf("%w: %s: no trailer line (file empty or truncated?)", ErrIncomplete, t.file)
		}
		n, ok := parseCount(trailer, strings.TrimRight(last, "\r"))
		if !ok {
			return -1, fmt.Errorf("%w: %s: last line %q does not match trailer %q (file truncated?)", ErrIncomplete, t.file, truncate(last), trailer)
		}
		text, trailerCount = body, n
	}
	if delim == 0 {
		delim = sniffDelimiter(text)
	}
	// One record per line, or fewer (blank lines, quoted line breaks): the
	// records are allocated once instead of grown by doubling.
	t.records = make([]connectors.Record, 0, bytes.Count(text, []byte{'\n'})+1)
	r := stdcsv.NewReader(bytes.NewReader(text))
	r.Comma = delim
	r.FieldsPerRecord = -1
	r.LazyQuotes = lazy
	r.ReuseRecord = true

	header := true
	prevEnd := 0 // physical line (relative to text) where the previous record ended
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return -1, err
			}
		}
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *stdcsv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, stdcsv.ErrBareQuote) && !header && pe.StartLine == pe.Line {
				// A stray " inside an unquoted value spoils one row; the
				// reader goes on at the next line. The row is read loosely
				// for its identifiers, and rejected.
				cells := looseCells(physicalLine(text, pe.Line), delim)
				if err := t.addRecord(cells, pe.Line+offset, fmt.Sprintf("a \" inside an unquoted value (column %d): the row is not read (quote the whole value, doubling the quote)", pe.Column)); err != nil {
					return -1, err
				}
				t.malformed++
				prevEnd = pe.Line
				continue
			}
			if errors.As(err, &pe) {
				kind := ErrMalformed
				if errors.Is(pe.Err, stdcsv.ErrQuote) && pe.Line >= lastLineNumber(text) {
					kind = ErrIncomplete // a quoted field still open at the end of the file
				}
				return -1, fmt.Errorf("%w: %s:%d: %v (record starts on line %d)", kind, t.file, pe.Line+offset, pe.Err, pe.StartLine+offset)
			}
			return -1, fmt.Errorf("%w: %s: %v", ErrMalformed, t.file, err)
		}
		line, _ := r.FieldPos(0)
		// encoding/csv skips empty lines silently; count them as blank.
		if gap := line - prevEnd - 1; gap > 0 {
			t.blank += gap
		}
		lastLine, _ := r.FieldPos(len(rec) - 1)
		prevEnd = lastLine + strings.Count(rec[len(rec)-1], "\n")
		if header {
			if err := t.setHeader(rec, line+offset); err != nil {
				return -1, err
			}
			header = false
			continue
		}
		before := len(t.records)
		if err := t.add(rec, line+offset); err != nil {
			return -1, err
		}
		if len(t.records) > before {
			t.lastEnd = prevEnd + offset
		}
	}
	if header {
		return -1, fmt.Errorf("%w: %s: no header row", ErrMalformed, t.file)
	}
	return trailerCount, nil
}

// unterminatedLastLine returns the 1-based number of the last line of text
// when that line has no line terminator though every line before it has one
// (text holds a line feed but does not end with one), and what the line
// lacks, worded to follow "the last line". It returns 0 for a text that ends
// with a line feed, and for a single line (a header alone): with nothing to
// compare it with, a missing terminator says nothing.
//
// A CRLF file cut between CR and LF is such a text: its last line ends in a
// CR, which is no terminator on its own.
func unterminatedLastLine(text []byte) (line int, lacks string) {
	if len(text) == 0 || text[len(text)-1] == '\n' {
		return 0, ""
	}
	lf := bytes.Count(text, []byte{'\n'})
	if lf == 0 {
		return 0, ""
	}
	if text[len(text)-1] == '\r' && bytes.Count(text, []byte("\r\n")) == lf {
		return lf + 1, "ends in CR without LF though every other line ends in CRLF"
	}
	return lf + 1, "has no line terminator though every other line has one"
}

// cutLastLine splits off the last non-blank line.
func cutLastLine(text []byte) (body []byte, last string, ok bool) {
	end := len(text)
	for end > 0 {
		i := bytes.LastIndexByte(text[:end], '\n')
		line := text[i+1 : end]
		if len(bytes.TrimSpace(line)) > 0 {
			return text[:i+1], string(line), true
		}
		if i < 0 {
			break
		}
		end = i
	}
	return nil, "", false
}

// sniffDelimiter picks the candidate that occurs most often outside quotes in
// the first line (the header); a comma when none occurs.
func sniffDelimiter(text []byte) rune {
	candidates := [...]byte{',', ';', '\t', '|'}
	var counts [len(candidates)]int
	inQuote := false
	for _, c := range text {
		if c == '"' {
			inQuote = !inQuote
			continue
		}
		if inQuote {
			continue
		}
		if c == '\n' {
			break
		}
		for i, d := range candidates {
			if c == d {
				counts[i]++
			}
		}
	}
	best := 0
	for i := range candidates {
		if counts[i] > counts[best] {
			best = i
		}
	}
	return rune(candidates[best])
}

// lastLineNumber is the number of the last line of text that holds anything.
func lastLineNumber(text []byte) int {
	n := bytes.Count(text, []byte{'\n'})
	if len(text) > 0 && text[len(text)-1] != '\n' {
		n++
	}
	return n
}

// physicalLine returns line n (1-based) of text, without its terminator.
func physicalLine(text []byte, n int) string {
	for i := 1; i < n; i++ {
		nl := bytes.IndexByte(text, '\n')
		if nl < 0 {
			return ""
		}
		text = text[nl+1:]
	}
	if nl := bytes.IndexByte(text, '\n'); nl >= 0 {
		text = text[:nl]
	}
	return strings.TrimRight(string(text), "\r")
}

// looseCells splits a line that strict CSV refuses, quotes taken
// literally, so that a rejected row still yields its identifiers.
func looseCells(line string, delim rune) []string {
	r := stdcsv.NewReader(strings.NewReader(line))
	r.Comma = delim
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	cells, err := r.Read()
	if err != nil {
		return strings.Split(line, string(delim))
	}
	return cells
}
