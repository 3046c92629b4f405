package emulator

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseImportCSV feeds arbitrary files to the import parser and the
// row conversions: they must never panic, and a parsed table always has a
// header with the key column and at least one data row.
func FuzzParseImportCSV(f *testing.F) {
	f.Add([]byte("\ufeff" + userHeader + "张三,zs,13800000000,,1;2,,男,1;0,1;2,,,,1,\n"))
	f.Add([]byte("说明\n" + userHeader + "\"a,b\",x,,a@b.cn,1\n"))
	f.Add([]byte("部门名称,部门ID,父部门ID,排序\nCorp,1,0,\nA,2,1,5\nB,3,2,\n"))
	f.Add([]byte("\"unterminated\n"))
	f.Add([]byte{})
	for _, name := range []string{"users.csv", "departments.csv"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	s := &Server{opts: Options{ImportDirectLeaderColumn: true}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if tb, e := parseImportCSV(data, userColumns, "userid"); e == nil {
			if !tb.has("userid") || len(tb.rows) == 0 {
				t.Fatalf("table without key column or rows: %+v", tb)
			}
			for _, row := range tb.rows {
				for _, update := range []bool{false, true} {
					if b, e := s.userRowBody(tb, row, update); e == nil {
						_, _ = parseUserInput(b)
					}
				}
			}
		}
		if tb, e := parseImportCSV(data, partyColumns, "id"); e == nil {
			_, _ = parsePartyRows(tb)
		}
	})
}
