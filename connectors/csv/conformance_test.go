package csv

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/connectors/conformance"
)

func csvBytes(people []conformance.Person) []byte {
	var b bytes.Buffer
	b.WriteString("工号,姓名,邮箱,部门\r\n")
	for _, p := range people {
		fmt.Fprintf(&b, "%s,%s,%s,\"%s\"\r\n", p.Key, p.Name, p.Mail, p.Dept)
	}
	return b.Bytes()
}

func open(t *testing.T, cfg Config) connectors.Source {
	t.Helper()
	src, err := cfg.Open("hr", nil)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestConformanceCSV(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		KeyField:  "工号",
		NameField: "姓名",
		New: func(t *testing.T, people []conformance.Person) connectors.Source {
			p := writeFile(t, t.TempDir(), "employees.csv", csvBytes(people))
			return open(t, Config{Path: p, Settle: dur(0)})
		},
		Broken: func(t *testing.T, people []conformance.Person) connectors.Source {
			// Cut inside the quoted department of a record in the middle.
			data := csvBytes(people)
			i := bytes.Index(data[len(data)/2:], []byte(`"总部`))
			p := writeFile(t, t.TempDir(), "employees.csv", data[:len(data)/2+i+4])
			return open(t, Config{Path: p, Settle: dur(0)})
		},
		Unreachable: func(t *testing.T) connectors.Source {
			return open(t, Config{Path: filepath.Join(t.TempDir(), "missing.csv")})
		},
	})
}

func TestConformanceCSVWithTrailer(t *testing.T) {
	trailer := func(people []conformance.Person, n int) []byte {
		return append(csvBytes(people), fmt.Sprintf("TOTAL,%d\r\n", n)...)
	}
	conformance.Run(t, conformance.Harness{
		KeyField:  "工号",
		NameField: "姓名",
		New: func(t *testing.T, people []conformance.Person) connectors.Source {
			p := writeFile(t, t.TempDir(), "employees.csv", trailer(people, len(people)))
			return open(t, Config{Path: p, Settle: dur(0), Trailer: `^TOTAL,(\d+)$`})
		},
		Broken: func(t *testing.T, people []conformance.Person) connectors.Source {
			// Whole lines lost in the middle: only the trailer can tell.
			p := writeFile(t, t.TempDir(), "employees.csv", trailer(append(people[:10:10], people[20:]...), len(people)))
			return open(t, Config{Path: p, Settle: dur(0), Trailer: `^TOTAL,(\d+)$`})
		},
	})
}

func TestConformanceXLSX(t *testing.T) {
	book := func(t *testing.T, people []conformance.Person) []byte {
		rows := [][]any{{"工号", "姓名", "邮箱", "部门"}}
		for _, p := range people {
			rows = append(rows, []any{p.Key, p.Name, p.Mail, p.Dept})
		}
		return xlsxBytes(t, []string{"员工"}, map[string][][]any{"员工": rows}, nil)
	}
	conformance.Run(t, conformance.Harness{
		KeyField:  "工号",
		NameField: "姓名",
		Many:      500,
		New: func(t *testing.T, people []conformance.Person) connectors.Source {
			p := writeFile(t, t.TempDir(), "employees.xlsx", book(t, people))
			return open(t, Config{Path: p, Settle: dur(0)})
		},
		Broken: func(t *testing.T, people []conformance.Person) connectors.Source {
			b := book(t, people)
			p := writeFile(t, t.TempDir(), "employees.xlsx", b[:len(b)*2/3])
			return open(t, Config{Path: p, Settle: dur(0)})
		},
		Unreachable: func(t *testing.T) connectors.Source {
			return open(t, Config{Path: filepath.Join(t.TempDir(), "missing.xlsx")})
		},
	})
}
