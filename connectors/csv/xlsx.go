package csv

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// parseXLSX reads one sheet of an .xlsx file into t. Cell values come out
// as Excel displays them (a 工号 stored as text "00123" stays "00123", a date
// cell is formatted with its number format). skip is the number of rows above
// the header. trailer, when set, must match the last non-empty row (its cells
// joined by commas).
func parseXLSX(ctx context.Context, t *table, data []byte, sheet string, skip int, trailer *regexp.Regexp) (trailerCount int, err error) {
	trailerCount = -1
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		return -1, fmt.Errorf("%w: %s: not a readable xlsx file (truncated?): %v", ErrIncomplete, t.file, err)
	}
	defer f.Close()
	name, err := pickSheet(f, sheet)
	if err != nil {
		return -1, fmt.Errorf("%w: %s: %v", ErrMalformed, t.file, err)
	}
	rows, err := f.GetRows(name)
	if err != nil {
		return -1, fmt.Errorf("%w: %s: sheet %q: %v", ErrMalformed, t.file, name, err)
	}
	if trailer != nil {
		last := len(rows) - 1
		for last >= 0 && blankRow(rows[last]) {
			last--
		}
		if last < 0 {
			return -1, fmt.Errorf("%w: %s: no trailer row (sheet empty or truncated?)", ErrIncomplete, t.file)
		}
		line := strings.Join(rows[last], ",")
		n, ok := parseCount(trailer, line)
		if !ok {
			return -1, fmt.Errorf("%w: %s:%d: last row %q does not match trailer %q", ErrIncomplete, t.file, last+1, truncate(line), trailer)
		}
		rows, trailerCount = rows[:last], n
	}
	for skip < len(rows) && blankRow(rows[skip]) {
		skip++ // blank rows above the header, as CSV's blank lines
	}
	if skip >= len(rows) {
		return -1, fmt.Errorf("%w: %s: no header row in sheet %q (skip_rows %d, %d rows)", ErrMalformed, t.file, name, skip, len(rows))
	}
	t.pad = true
	if err := t.setHeader(rows[skip], skip+1); err != nil {
		return -1, err
	}
	for i := skip + 1; i < len(rows); i++ {
		if i&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return -1, err
			}
		}
		if err := t.add(rows[i], i+1); err != nil {
			return -1, err
		}
	}
	return trailerCount, ctx.Err()
}

func pickSheet(f *excelize.File, sheet string) (string, error) {
	list := f.GetSheetList()
	if len(list) == 0 {
		return "", fmt.Errorf("no sheets")
	}
	if sheet == "" {
		return list[0], nil
	}
	for _, s := range list {
		if s == sheet {
			return s, nil
		}
	}
	if i, err := strconv.Atoi(sheet); err == nil && i >= 1 && i <= len(list) {
		return list[i-1], nil
	}
	return "", fmt.Errorf("no sheet %q (sheets: %s)", sheet, strings.Join(list, ", "))
}

func blankRow(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}
