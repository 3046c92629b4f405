package csv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/connectors"
)

func dur(d time.Duration) *time.Duration { return &d }

// writeFile writes data under dir and dates it an hour back, so that it has
// settled for any test that does not test settling.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return p
}

func list(t *testing.T, cfg Config) (*connectors.Batch, error) {
	t.Helper()
	src, err := cfg.Open("hr", zap.NewNop())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return src.List(context.Background())
}

func mustList(t *testing.T, cfg Config) *connectors.Batch {
	t.Helper()
	b, err := list(t, cfg)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !b.Complete {
		t.Fatalf("incomplete batch: %s", b.Incomplete)
	}
	return b
}

func encode(t *testing.T, e encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rows renders records as "locator|v1|v2…" for compact comparison.
func rows(b *connectors.Batch) []string {
	var out []string
	for _, r := range b.Records {
		parts := []string{r.Origin.Locator}
		for i := 0; i < r.Len(); i++ {
			parts = append(parts, r.Value(i).(string))
		}
		if r.Problem != "" {
			parts = append(parts, "PROBLEM: "+r.Problem)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

const sample = "工号,姓名,部门\n00123,张三,总部/研发中心\nE2,李四,总部/销售部\n"

func TestEncodings(t *testing.T) {
	utf16le := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	utf16be := unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	utf16leNoBOM := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	cases := []struct {
		name     string
		encoding string
		data     []byte
	}{
		{"reads plain UTF-8", "auto", []byte(sample)},
		{"strips a UTF-8 BOM", "auto", append([]byte{0xEF, 0xBB, 0xBF}, sample...)},
		{"detects GBK as Excel on Chinese Windows writes it", "auto", encode(t, simplifiedchinese.GBK, sample)},
		{"reads explicit gbk", "gbk", encode(t, simplifiedchinese.GBK, sample)},
		{"reads explicit gb18030", "gb18030", encode(t, simplifiedchinese.GB18030, sample)},
		{"detects UTF-16LE by its BOM", "auto", encode(t, utf16le, sample)},
		{"detects UTF-16BE by its BOM", "auto", encode(t, utf16be, sample)},
		{"detects UTF-16LE without a BOM", "auto", encode(t, utf16leNoBOM, sample)},
		{"reads explicit utf-16", "utf-16", encode(t, utf16le, sample)},
		{"reads explicit utf-8 with a BOM", "utf-8", append([]byte{0xEF, 0xBB, 0xBF}, sample...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "employees.csv", c.data)
			b := mustList(t, Config{Path: p, Encoding: c.encoding, Settle: dur(0)})
			if got := strings.Join(b.Records[0].Names, ","); got != "工号,姓名,部门" {
				t.Fatalf("header %q", got)
			}
			equal(t, rows(b), []string{"employees.csv:2|00123|张三|总部/研发中心", "employees.csv:3|E2|李四|总部/销售部"})
			if b.Location != p || b.Source != "hr" {
				t.Fatalf("location %q source %q", b.Location, b.Source)
			}
		})
	}
	t.Run("rejects GBK bytes when utf-8 is configured, naming the line", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "employees.csv", encode(t, simplifiedchinese.GBK, sample))
		_, err := list(t, Config{Path: p, Encoding: "utf-8", Settle: dur(0)})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "employees.csv:1: byte offset 0 (0xB9): invalid UTF-8") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a UTF-8 file cut inside a character is incomplete, not GBK", func(t *testing.T) {
		data := []byte(sample[:len(sample)-len("销售部\n")+1]) // one byte of 销
		p := writeFile(t, t.TempDir(), "employees.csv", data)
		_, err := list(t, Config{Path: p, Settle: dur(0)})
		if !errors.Is(err, ErrIncomplete) {
			t.Fatalf("err = %v, want ErrIncomplete", err)
		}
	})
}

func TestParsing(t *testing.T) {
	cases := []struct {
		name      string
		cfg       Config
		data      string
		want      []string
		header    string
		warnings  []string
		wantErr   error
		errSubstr string
	}{
		{
			name: "sniffs a semicolon delimiter", data: "a;b\n1;2\n",
			header: "a,b", want: []string{"f.csv:2|1|2"},
		},
		{
			name: "sniffs a tab delimiter", data: "a\tb\n1,5\t2\n",
			header: "a,b", want: []string{"f.csv:2|1,5|2"},
		},
		{
			name: "sniffs a pipe delimiter", data: "a|b|c\n1|2|3\n",
			header: "a,b,c", want: []string{"f.csv:2|1|2|3"},
		},
		{
			name: "uses the configured delimiter", cfg: Config{Delimiter: "tab"}, data: "a,x\tb\n1\t2\n",
			header: "a,x,b", want: []string{"f.csv:2|1|2"},
		},
		{
			name:   "keeps quoted newlines and counts physical lines in origins",
			data:   "a,b\n1,\"line one\nline two\"\n2,x\r\n3,\"y\r\nz\"\r\n4,w\n",
			header: "a,b", want: []string{"f.csv:2|1|line one\nline two", "f.csv:4|2|x", "f.csv:5|3|y\nz", "f.csv:7|4|w"},
		},
		{
			name: "handles CRLF line ends", data: "a,b\r\n1,2\r\n3,4\r\n",
			header: "a,b", want: []string{"f.csv:2|1|2", "f.csv:3|3|4"},
		},
		{
			name: "skips title rows above the header and counts them in line numbers",
			cfg:  Config{SkipRows: 2}, data: "员工花名册\n导出时间 2024-05-01,,\n工号,姓名\nE1,张三\n",
			header: "工号,姓名", want: []string{"f.csv:4|E1|张三"},
		},
		{
			name:   "trims header names and drops trailing empty header columns",
			data:   "\ufeff 工号 ,姓名\u3000,,\nE1,张三,,\n",
			header: "工号,姓名", want: []string{"f.csv:2|E1|张三"},
		},
		{
			name:   "skips blank lines and Excel's empty rows with a warning",
			data:   "a,b\n\n1,2\n,\n \t, \n3,4\n\n",
			header: "a,b", want: []string{"f.csv:3|1|2", "f.csv:6|3|4"},
			warnings: []string{"f.csv: skipped 3 blank rows"},
		},
		{
			name: "keeps values exactly as written", data: "a,b\n 00123 ,\"  x \"\n",
			header: "a,b", want: []string{"f.csv:2| 00123 |  x "},
		},
		{
			name: "warns about a duplicate column name", data: "a,b,a\n1,2,3\n",
			header: "a,b,a", want: []string{"f.csv:2|1|2|3"},
			warnings: []string{`f.csv:1: column "a" appears twice (columns 1 and 3); the first is used`},
		},
		{
			name: "a row with fewer values than the header is one rejected record, the others stand", data: "a,b,c\n1,2,3\n4,5\n6,7,8\n",
			header: "a,b,c", want: []string{"f.csv:2|1|2|3", "f.csv:3|4|5||PROBLEM: 2 values but the header has 3 columns: the row is not read (allow_short_rows: true reads short rows, the missing values empty)", "f.csv:4|6|7|8"},
			warnings: []string{"f.csv: 1 rows could not be read cleanly; they are rejected and their members left as they are (see the rejected records)"},
		},
		{
			name: "allow_short_rows pads a row with fewer values", cfg: Config{AllowShortRows: true},
			data: "a,b,c\n1,2,3\n4,5\n", header: "a,b,c", want: []string{"f.csv:2|1|2|3", "f.csv:3|4|5|"},
		},
		{
			name: "a row with more values than the header is one rejected record", data: "a,b\n1,2\n3,4,5\n",
			header: "a,b", want: []string{"f.csv:2|1|2", `f.csv:3|3|4|PROBLEM: 3 values but the header has 2 columns (value "5" in column 3): the row is not read`},
			warnings: []string{"f.csv: 1 rows could not be read cleanly; they are rejected and their members left as they are (see the rejected records)"},
		},
		{
			name: "a stray quote spoils its row only, read loosely for its identifiers", data: "a,b\n1,2\n3,x\"y\n4,5\n",
			header: "a,b", want: []string{"f.csv:2|1|2", `f.csv:3|3|x"y|PROBLEM: a " inside an unquoted value (column 4): the row is not read (quote the whole value, doubling the quote)`, "f.csv:4|4|5"},
			warnings: []string{"f.csv: 1 rows could not be read cleanly; they are rejected and their members left as they are (see the rejected records)"},
		},
		{
			name: "a file cut inside a quoted field is incomplete", data: "a,b\n1,2\n3,\"unfinished\nval",
			wantErr: ErrIncomplete, errSubstr: "record starts on line 3",
		},
		{
			name: "a header with NUL bytes fails", data: "id\x00,name\x00\n1,2\n",
			wantErr: ErrMalformed, errSubstr: `f.csv:1: column 1 "id\x00" holds a NUL byte: not text in the encoding read (UTF-16 without a byte order mark? a binary file?)`,
		},
		{
			name: "a NUL byte in a value is left to the record's validation", data: "a,b\n1,x\x00y\n",
			header: "a,b", want: []string{"f.csv:2|1|x\x00y"},
		},
		{
			name: "an empty file has no header", data: "",
			wantErr: ErrMalformed, errSubstr: "no header row",
		},
		{
			name: "a header-only file has no records", data: "a,b\n",
			header: "", want: nil,
		},
		{
			name: "accepts a trailer with the right count", cfg: Config{Trailer: `^TOTAL,(\d+)`},
			data: "a,b\n1,2\n3,4\nTOTAL,2\n\n", header: "a,b", want: []string{"f.csv:2|1|2", "f.csv:3|3|4"},
		},
		{
			name: "a trailer count that does not match fails", cfg: Config{Trailer: `^TOTAL,(\d+)`},
			data: "a,b\n1,2\n3,4\nTOTAL,3\n", wantErr: ErrIncomplete, errSubstr: "trailer says 3 records, the file has 2",
		},
		{
			name: "a missing trailer means a truncated file", cfg: Config{Trailer: `^TOTAL,(\d+)`},
			data: "a,b\n1,2\n3,4\n", wantErr: ErrIncomplete, errSubstr: `last line "3,4" does not match trailer`,
		},
		{
			name: "min_records fails a short file", cfg: Config{MinRecords: 3},
			data: "a,b\n1,2\n3,4\n", wantErr: ErrIncomplete, errSubstr: "2 records, fewer than min_records 3",
		},
		{
			name: "lazy_quotes accepts a stray quote", cfg: Config{LazyQuotes: true},
			data: "a,b\n3,x\"y\n", header: "a,b", want: []string{`f.csv:2|3|x"y`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Path = writeFile(t, t.TempDir(), "f.csv", []byte(c.data))
			cfg.Settle = dur(0)
			b, err := list(t, cfg)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), c.errSubstr) {
					t.Fatalf("err = %v\nwant %v containing %q", err, c.wantErr, c.errSubstr)
				}
				if !strings.Contains(err.Error(), cfg.Path) {
					t.Fatalf("error does not name the file: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			equal(t, rows(b), c.want)
			if len(b.Records) > 0 && strings.Join(b.Records[0].Names, ",") != c.header {
				t.Fatalf("header %q, want %q", strings.Join(b.Records[0].Names, ","), c.header)
			}
			equal(t, b.Warnings, c.warnings)
		})
	}
}

func TestRecordsShareTheHeader(t *testing.T) {
	p := writeFile(t, t.TempDir(), "f.csv", []byte("a,b\n1,2\n3,4\n"))
	b := mustList(t, Config{Path: p, Settle: dur(0)})
	if &b.Records[0].Names[0] != &b.Records[1].Names[0] {
		t.Fatal("records do not share one header slice")
	}
	if got := b.Records[1].String("b"); got != "4" {
		t.Fatalf("b = %q", got)
	}
}

func TestManifest(t *testing.T) {
	cases := []struct {
		name     string
		manifest string // content; "" = no manifest file
		tmpl     string
		pattern  string
		errSub   string
	}{
		{name: "accepts a manifest with the right count", manifest: "records=2\n", tmpl: "{path}.count"},
		{name: "finds the manifest by stem next to the file", manifest: "2", tmpl: "{stem}.ctl"},
		{name: "uses manifest_pattern", manifest: "date=20240501 rows=2", tmpl: "{stem}.ctl", pattern: `rows=(\d+)`},
		{name: "fails on a count mismatch", manifest: "3", tmpl: "{path}.count", errSub: "says 3 records, the file has 2"},
		{name: "fails when the manifest is missing", tmpl: "{path}.count", errSub: "is missing"},
		{name: "fails when the manifest has no count", manifest: "done", tmpl: "{path}.count", errSub: "no record count"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "emp.csv", []byte("a\n1\n2\n"))
			if c.manifest != "" {
				writeFile(t, dir, filepath.Base(expandManifest(c.tmpl, p)), []byte(c.manifest))
			}
			_, err := list(t, Config{Path: p, Settle: dur(0), Manifest: c.tmpl, ManifestPattern: c.pattern})
			if c.errSub == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), c.errSub) {
				t.Fatalf("err = %v, want ErrIncomplete with %q", err, c.errSub)
			}
		})
	}
}

func TestPickingAFile(t *testing.T) {
	now := time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC)
	at := func(t *testing.T, p string, age time.Duration) {
		t.Helper()
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	clock := func() time.Time { return now }

	t.Run("does not read a file modified within settle and says why", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "e.csv", []byte("a\n1\n"))
		at(t, p, 10*time.Second)
		_, err := list(t, Config{Path: p, Now: clock})
		if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "less than settle 30s") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("reads a file once it has settled", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "e.csv", []byte("a\n1\n"))
		at(t, p, 31*time.Second)
		mustList(t, Config{Path: p, Now: clock})
	})
	t.Run("reads the newest settled match of a glob and warns about newer unsettled ones", func(t *testing.T) {
		dir := t.TempDir()
		old := writeFile(t, dir, "emp-0429.csv", []byte("a\nold\n"))
		mid := writeFile(t, dir, "emp-0430.csv", []byte("a\nmid\n"))
		fresh := writeFile(t, dir, "emp-0501.csv", []byte("a\nnew\n"))
		at(t, old, 48*time.Hour)
		at(t, mid, 24*time.Hour)
		at(t, fresh, 5*time.Second)
		b := mustList(t, Config{Path: filepath.Join(dir, "emp-*.csv"), Now: clock})
		if b.Location != mid || b.Records[0].String("a") != "mid" {
			t.Fatalf("read %s", b.Location)
		}
		if len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "emp-0501.csv") {
			t.Fatalf("warnings %q", b.Warnings)
		}
	})
	t.Run("with require_marker reads only a file with its marker", func(t *testing.T) {
		dir := t.TempDir()
		a := writeFile(t, dir, "emp-1.csv", []byte("a\none\n"))
		bb := writeFile(t, dir, "emp-2.csv", []byte("a\ntwo\n"))
		at(t, a, 2*time.Hour)
		at(t, bb, time.Hour)
		m := writeFile(t, dir, "emp-1.done", nil)
		at(t, m, time.Hour)
		b := mustList(t, Config{Path: filepath.Join(dir, "emp-*"), RequireMarker: true, Now: clock})
		if b.Location != a {
			t.Fatalf("read %s, want %s", b.Location, a)
		}
		writeFile(t, dir, "emp-2.csv.ok", nil)
		b = mustList(t, Config{Path: filepath.Join(dir, "emp-*"), RequireMarker: true, Now: clock})
		if b.Location != bb {
			t.Fatalf("read %s, want %s", b.Location, bb)
		}
	})
	t.Run("does not mistake a newer manifest matched by the glob for an export", func(t *testing.T) {
		dir := t.TempDir()
		data := writeFile(t, dir, "emp.csv", []byte("a\n1\n"))
		man := writeFile(t, dir, "emp.csv.count", []byte("1"))
		at(t, data, time.Hour)
		at(t, man, time.Minute)
		b := mustList(t, Config{Path: filepath.Join(dir, "*"), Manifest: "{path}.count", Now: clock})
		if b.Location != data {
			t.Fatalf("read %s", b.Location)
		}
	})
	t.Run("a single file without its marker is not ready", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "e.csv", []byte("a\n1\n"))
		_, err := list(t, Config{Path: p, RequireMarker: true, Settle: dur(0)})
		if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "e.csv.done") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a glob that matches nothing is an error", func(t *testing.T) {
		_, err := list(t, Config{Path: filepath.Join(t.TempDir(), "*.csv"), Settle: dur(0)})
		if !errors.Is(err, ErrNotReady) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a missing file is an error naming it", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nope.csv")
		_, err := list(t, Config{Path: p})
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), p) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestConfig(t *testing.T) {
	t.Run("decodes strictly with defaults applied at open", func(t *testing.T) {
		var node yaml.Node
		if err := yaml.Unmarshal([]byte("path: /x/e.csv\nsettle: 45s\ndelimiter: tab\nskip_rows: 1\n"), &node); err != nil {
			t.Fatal(err)
		}
		var cfg Config
		if err := connectors.Decode(node.Content[0], &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Settle == nil || *cfg.Settle != 45*time.Second || cfg.SkipRows != 1 {
			t.Fatalf("decoded %+v", cfg)
		}
		s, err := cfg.open("hr", nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.settle != 45*time.Second || s.delim != '\t' || s.encoding != "auto" {
			t.Fatalf("opened %+v", s)
		}
		s, _ = (&Config{Path: "/x"}).open("hr", nil)
		if s.settle != DefaultSettle || s.delim != 0 {
			t.Fatalf("defaults: settle %s delim %q", s.settle, s.delim)
		}
	})
	t.Run("decodes a numeric sheet and an explicit format", func(t *testing.T) {
		var node yaml.Node
		_ = yaml.Unmarshal([]byte("path: /x/export\nformat: xlsx\nsheet: 2\nsettle: 0s\n"), &node)
		var cfg Config
		if err := connectors.Decode(node.Content[0], &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Sheet != "2" || cfg.format() != formatXLSX || cfg.Settle == nil || *cfg.Settle != 0 {
			t.Fatalf("decoded %+v", cfg)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rejects an unknown key", func(t *testing.T) {
		var node yaml.Node
		_ = yaml.Unmarshal([]byte("path: /x\nencodng: gbk\n"), &node)
		if err := connectors.Decode(node.Content[0], &Config{}); err == nil || !strings.Contains(err.Error(), "encodng") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("reports every problem, each naming its field", func(t *testing.T) {
		cfg := Config{Format: "ods", Encoding: "latin1", Delimiter: "::", SkipRows: -1, Settle: dur(-time.Second),
			MinRecords: -2, Sheet: "x", Trailer: `TOTAL \d+`, ManifestPattern: "("}
		err := cfg.Validate()
		if err == nil {
			t.Fatal("no error")
		}
		for _, field := range []string{"path: required", "format:", "encoding:", "delimiter:", "skip_rows:", "settle:",
			"min_records:", "sheet:", "trailer:", "manifest_pattern: set without manifest", "manifest_pattern: bad regexp"} {
			if !strings.Contains(err.Error(), field) {
				t.Errorf("missing %q in:\n%v", field, err)
			}
		}
		if _, err := cfg.Open("hr", nil); err == nil {
			t.Fatal("Open accepted an invalid config")
		}
	})
	t.Run("accepts a minimal config", func(t *testing.T) {
		if err := (&Config{Path: "/srv/hr/*.xlsx", Sheet: "2"}).Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCancelledContext(t *testing.T) {
	p := writeFile(t, t.TempDir(), "f.csv", []byte(sample))
	src, _ := (&Config{Path: p, Settle: dur(0)}).Open("hr", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.List(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func ExampleConfig() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "employees.csv")
	_ = os.WriteFile(p, []byte("工号,姓名\n00123,张三\n"), 0o644)
	src, _ := (&Config{Path: p, Settle: dur(0)}).Open("hr", zap.NewNop())
	b, _ := src.List(context.Background())
	for _, r := range b.Records {
		fmt.Println(r.Origin, r.String("工号"), r.String("姓名"))
	}
	// Output: hr:employees.csv:2 00123 张三
}

func TestBatchShape(t *testing.T) {
	t.Run("a CSV batch names its encoding and its cleaned header", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "f.csv", encode(t, simplifiedchinese.GBK, " 工号 ,姓名,,\nE1,张三,,\n"))
		b := mustList(t, Config{Path: p, Settle: dur(0)})
		if b.Encoding != "gb18030" || strings.Join(b.Columns, "|") != "工号|姓名" {
			t.Fatalf("Encoding %q Columns %q", b.Encoding, b.Columns)
		}
		b.Columns[0] = "changed"
		if b.Records[0].Names[0] != "工号" {
			t.Fatal("Columns shares its array with the records' Names")
		}
	})
	t.Run("an XLSX batch names its header and no text encoding", func(t *testing.T) {
		book := xlsxBytes(t, []string{"员工"}, map[string][][]any{"员工": {{"工号", "姓名"}, {"E1", "张三"}}}, nil)
		p := writeFile(t, t.TempDir(), "f.xlsx", book)
		b := mustList(t, Config{Path: p, Settle: dur(0)})
		if b.Encoding != "" || strings.Join(b.Columns, "|") != "工号|姓名" {
			t.Fatalf("Encoding %q Columns %q", b.Encoding, b.Columns)
		}
	})
}
