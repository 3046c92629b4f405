package mapping

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/connectors/csv"
	"github.com/orgsync/orgsync/model"
)

var update = flag.Bool("update", false, "rewrite golden files and encoded fixtures")

// encodedFixtures are the golden inputs in encodings a text editor cannot
// keep: their bytes are generated from this UTF-8 text (go test -update) and
// committed; TestEncodedFixtures fails if the two drift apart.
var encodedFixtures = []struct {
	file string
	enc  encoding.Encoding
	text string
}{
	{
		// Excel on Chinese Windows: "CSV (逗号分隔)" is GBK with CRLF.
		file: "gbk.csv",
		enc:  simplifiedchinese.GBK,
		text: "工号,姓名,部门,职位,手机,邮箱,性别,状态,直属上级工号\r\n" +
			"G001,欧阳锋,总部/西域分部,部长,13100131000,ouyang@example.com,男,在职,\r\n" +
			"G002,黄蓉,\"总部/桃花岛,分部\",副部长,13100131001,,女,在职,G001\r\n" +
			"G003,郭靖,总部/西域分部,员工,131 0013 1002,,男,离职,G001\r\n" +
			"G004,坏手机,总部/西域分部,员工,1310013,,男,在职,G001\r\n",
	},
	{
		// Excel's "Unicode 文本": UTF-16LE with a BOM, tab-separated.
		file: "utf16.csv",
		enc:  unicode.UTF16(unicode.LittleEndian, unicode.UseBOM),
		text: "工号\t姓名\t部门\t职位\t手机\t邮箱\t性别\t状态\t直属上级工号\r\n" +
			"U001\t段誉\t大理/王府\t世子\t13200132000\t\tM\t在职\t\r\n" +
			"U002\t王语嫣\t大理/王府\t\t\tyuyan@example.com\tF\t在职\tU001\r\n" +
			"U003\t虚竹\t大理/寺庙\t\t13200132002\t\t男\t在职\tU009\r\n",
	},
}

func TestEncodedFixtures(t *testing.T) {
	for _, f := range encodedFixtures {
		t.Run("keeps "+f.file+" equal to its UTF-8 source", func(t *testing.T) {
			want, err := f.enc.NewEncoder().Bytes([]byte(f.text))
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join("testdata", f.file)
			if *update {
				if err := os.WriteFile(p, want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from its source text; run go test ./mapping -run TestEncodedFixtures -update", p)
			}
		})
	}
}

// goldenProblem is a RecordError with its text, as the golden files show it.
type goldenProblem struct {
	Error string `json:"error"`
	RecordError
}

// goldenWarning is a Warning with its text.
type goldenWarning struct {
	Text string `json:"text"`
	Warning
}

type golden struct {
	Org      model.Org       `json:"org"`
	Problems []goldenProblem `json:"problems"`
	Warnings []goldenWarning `json:"warnings"`
}

func loadConfig(t *testing.T, path string) Config {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var node yaml.Node
	if err := yaml.Unmarshal(b, &node); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	cfg, err := Decode(&node)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	cfg.BaseDir = filepath.Dir(path)
	return cfg
}

func readCSV(t testing.TB, path string) *connectors.Batch {
	t.Helper()
	settle := time.Duration(0)
	src, err := (&csv.Config{Path: path, Settle: &settle}).Open("hr", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.List(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// TestGolden maps every testdata/<case>.csv (with <case>.yaml, or
// default.yaml) and compares the Org and problems with <case>.golden.json.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.csv")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".csv")
		if strings.Contains(name, ".") {
			continue // a helper file of a case (lookup or department table)
		}
		n++
		t.Run(name, func(t *testing.T) {
			cfgPath := filepath.Join("testdata", name+".yaml")
			if _, err := os.Stat(cfgPath); err != nil {
				cfgPath = "testdata/default.yaml"
			}
			m, err := Compile(withFiles(loadConfig(t, cfgPath)))
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			res := m.MapResult([]*connectors.Batch{readCSV(t, f)})
			org := res.Org
			buf := encodeGolden(t, res)
			// The same records given as Values (as a source of mixed
			// values gives them) and mapped by MapAndRelease (as a run maps
			// them, its people then given text of their own) map alike.
			for how, res := range map[string]Result{
				"as Values":        m.MapResult([]*connectors.Batch{asValues(readCSV(t, f))}),
				"by MapAndRelease": m.MapAndRelease([]*connectors.Batch{readCSV(t, f)}),
			} {
				if other := encodeGolden(t, res); !bytes.Equal(other.Bytes(), buf.Bytes()) {
					t.Errorf("mapped %s, the result differs:\n%s", how, diffLines(buf.String(), other.String()))
				}
			}
			gp := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(gp, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(gp)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s differs (run with -update and review the diff):\n%s", gp, diffLines(string(want), buf.String()))
			}
			if _, err := org.Index(); err != nil {
				t.Errorf("mapped Org is not consistent: %v", err)
			}
		})
	}
	if n < 8 {
		t.Fatalf("only %d golden cases found", n)
	}
}

// encodeGolden renders a mapping result as its golden file holds it.
func encodeGolden(t *testing.T, res Result) *bytes.Buffer {
	t.Helper()
	g := golden{Org: res.Org, Problems: []goldenProblem{}, Warnings: []goldenWarning{}}
	for _, p := range res.Rejected {
		g.Problems = append(g.Problems, goldenProblem{Error: p.Error(), RecordError: p})
	}
	for _, w := range res.Warnings {
		g.Warnings = append(g.Warnings, goldenWarning{Text: w.String(), Warning: w})
	}
	return indentedJSON(t, g)
}

// indentedJSON is v as the golden files hold it: indented, HTML unescaped.
func indentedJSON(t *testing.T, v any) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// asValues gives b's text cells as Values, the form of a source whose
// values may be lists.
func asValues(b *connectors.Batch) *connectors.Batch {
	for i := range b.Records {
		r := &b.Records[i]
		if r.Texts == nil {
			continue
		}
		r.Values = make([]any, len(r.Texts))
		for j, v := range r.Texts {
			r.Values[j] = v
		}
		r.Texts = nil
	}
	return b
}

// diffLines shows the first lines that differ.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)) && len(out) < 20; i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			out = append(out, "  want: "+a, "  got:  "+b)
		}
	}
	return strings.Join(out, "\n")
}
