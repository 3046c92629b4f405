package csv

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/model"
)

// table turns header and data rows (from CSV or XLSX) into records. It owns
// the rules both formats share: header clean-up, blank rows, rows wider or
// narrower than the header, and origins.
type table struct {
	source string // configured source name
	file   string // file base name, for locators and errors
	pad    bool   // xlsx: short rows are normal (trailing empty cells are not stored)

	header   []string
	records  []connectors.Record
	blank    int
	lastEnd  int // CSV: the physical line on which the last record ends
	warnings []string

	slab []string // values of the next records, allocated in chunks
	// malformed counts rows read with a Problem (wrong number of values,
	// a stray quote).
	malformed int
}

const slabRows = 2048

// setHeader cleans the header row: BOM and white space (also U+3000)
// trimmed, trailing empty columns dropped.
func (t *table) setHeader(cells []string, line int) error {
	h := make([]string, len(cells))
	for i, c := range cells {
		h[i] = strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))
	}
	for len(h) > 0 && h[len(h)-1] == "" {
		h = h[:len(h)-1]
	}
	if len(h) == 0 {
		return fmt.Errorf("%w: %s:%d: empty header row (wrong skip_rows?)", ErrMalformed, t.file, line)
	}
	// A NUL is in no text export; in the header it means the file was not
	// read as the text it is (UTF-16 read as UTF-8, a binary file), and
	// no column would be found. In a value it is that record's problem.
	for i, n := range h {
		if strings.IndexByte(n, 0) >= 0 {
			return fmt.Errorf("%w: %s:%d: column %d %q holds a NUL byte: not text in the encoding read (UTF-16 without a byte order mark? a binary file?)",
				ErrMalformed, t.file, line, i+1, truncate(n))
		}
	}
	seen := make(map[string]int, len(h))
	for i, n := range h {
		if n == "" {
			t.warnings = append(t.warnings, fmt.Sprintf("%s:%d: column %d has no name", t.file, line, i+1))
			continue
		}
		if j, dup := seen[n]; dup {
			t.warnings = append(t.warnings, fmt.Sprintf("%s:%d: column %q appears twice (columns %d and %d); the first is used", t.file, line, n, j+1, i+1))
			continue
		}
		seen[n] = i
	}
	t.header = h
	return nil
}

// add appends one data row that starts on the given physical line. Values
// are kept exactly as in the file; blank rows (every cell empty or white
// space, as Excel writes ",,,,") are skipped and counted.
func (t *table) add(cells []string, line int) error {
	n := len(t.header)
	if blankRow(cells) {
		t.blank++
		return nil
	}
	// A row with more or fewer values than the header is one bad record,
	// not a bad file: it goes on with a Problem (mapping rejects it and
	// protects its member); the other rows stand.
	problem := ""
	if len(cells) > n {
		for i := n; i < len(cells); i++ {
			if strings.TrimSpace(cells[i]) != "" {
				problem = fmt.Sprintf("%d values but the header has %d columns (value %q in column %d): the row is not read", len(cells), n, truncate(cells[i]), i+1)
				break
			}
		}
		cells = cells[:n]
	}
	if len(cells) < n && !t.pad {
		problem = fmt.Sprintf("%d values but the header has %d columns: the row is not read (allow_short_rows: true reads short rows, the missing values empty)", len(cells), n)
	}
	if problem != "" {
		t.malformed++
	}
	return t.addRecord(cells, line, problem)
}

// addRecord appends one record with its cells (padded with "" to the
// header's width) and, for a row that can't be trusted, why.
func (t *table) addRecord(cells []string, line int, problem string) error {
	n := len(t.header)
	if len(t.slab) < n {
		t.slab = make([]string, n*slabRows)
	}
	vals := t.slab[:n:n]
	t.slab = t.slab[n:]
	copy(vals, cells) // the rest stay "": a short row padded
	t.records = append(t.records, connectors.Record{
		Origin:  model.Origin{Source: t.source, Locator: t.file + ":" + strconv.Itoa(line)},
		Names:   t.header,
		Texts:   vals,
		Problem: problem,
	})
	return nil
}

func (t *table) finish() {
	if t.blank > 0 {
		t.warnings = append(t.warnings, fmt.Sprintf("%s: skipped %d blank rows", t.file, t.blank))
	}
	if t.malformed > 0 {
		t.warnings = append(t.warnings, fmt.Sprintf("%s: %d rows could not be read cleanly; they are rejected and their members left as they are (see the rejected records)", t.file, t.malformed))
	}
}

func truncate(s string) string {
	if len(s) <= 40 {
		return s
	}
	r := []rune(s)
	if len(r) <= 40 {
		return s
	}
	return string(r[:40]) + "…"
}
