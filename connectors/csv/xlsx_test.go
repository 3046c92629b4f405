package csv

import (
	"errors"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// xlsxBytes builds a workbook: sheets in order, each a list of rows; a cell
// given as float64 is stored as a number, a string as text.
func xlsxBytes(t testing.TB, sheets []string, data map[string][][]any, styles map[string]int) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, name := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(name); err != nil {
			t.Fatal(err)
		}
		for r, row := range data[name] {
			for c, v := range row {
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				if v == nil {
					continue
				}
				if err := f.SetCellValue(name, cell, v); err != nil {
					t.Fatal(err)
				}
				if id, ok := styles[cell]; ok {
					st, err := f.NewStyle(&excelize.Style{NumFmt: id})
					if err != nil {
						t.Fatal(err)
					}
					_ = f.SetCellStyle(name, cell, cell, st)
				}
			}
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestXLSX(t *testing.T) {
	data := map[string][][]any{
		"说明": {{"这是说明页"}},
		"花名册": {
			{"员工花名册"},
			{" 工号 ", "姓名", "手机", "入职日期", nil},
			{"00123", "张三", 13800138000.0, 45292.0},
			{},
			{"E2", "李四"},
		},
	}
	styles := map[string]int{"D3": 14}
	book := xlsxBytes(t, []string{"说明", "花名册"}, data, styles)

	for _, sheet := range []string{"花名册", "2"} {
		t.Run("reads the sheet named or numbered "+sheet+" as HR sees it", func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "employees.xlsx", book)
			b := mustList(t, Config{Path: p, Sheet: sheet, SkipRows: 1, Settle: dur(0)})
			if got := strings.Join(b.Records[0].Names, ","); got != "工号,姓名,手机,入职日期" {
				t.Fatalf("header %q", got)
			}
			equal(t, rows(b), []string{"employees.xlsx:3|00123|张三|13800138000|01-01-24", "employees.xlsx:5|E2|李四||"})
			equal(t, b.Warnings, []string{"employees.xlsx: skipped 1 blank rows"})
		})
	}
	t.Run("reads the first sheet by default", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "employees.xlsx", book)
		b := mustList(t, Config{Path: p, Settle: dur(0)})
		if len(b.Records) != 0 {
			t.Fatalf("first sheet has only a header, got %d records", len(b.Records))
		}
	})
	t.Run("names the sheets when the configured one is missing", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "employees.xlsx", book)
		_, err := list(t, Config{Path: p, Sheet: "员工", Settle: dur(0)})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "sheets: 说明, 花名册") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("skips blank rows above the header", func(t *testing.T) {
		d := map[string][][]any{"S": {{}, {}, {nil, "工号"}, {nil, "E1"}}}
		p := writeFile(t, t.TempDir(), "e.xlsx", xlsxBytes(t, []string{"S"}, d, nil))
		b := mustList(t, Config{Path: p, Settle: dur(0)})
		equal(t, rows(b), []string{"e.xlsx:4||E1"})
	})
	t.Run("checks a trailer row", func(t *testing.T) {
		d := map[string][][]any{"S": {{"工号"}, {"E1"}, {"E2"}, {"合计", "3"}}}
		p := writeFile(t, t.TempDir(), "e.xlsx", xlsxBytes(t, []string{"S"}, d, nil))
		_, err := list(t, Config{Path: p, Trailer: `^合计,(\d+)`, Settle: dur(0)})
		if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "trailer says 3 records, the file has 2") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a truncated workbook is incomplete", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "employees.xlsx", book[:len(book)/2])
		_, err := list(t, Config{Path: p, Settle: dur(0)})
		if !errors.Is(err, ErrIncomplete) {
			t.Fatalf("err = %v", err)
		}
	})
}
