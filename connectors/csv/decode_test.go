package csv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// Fixtures for the decoding tests. Each is a whole export as HR produces it;
// the damaged ones are built from the clean ones, so that the damage is the
// only difference.
const (
	// asciiHeaded is a UTF-8 export whose header is ASCII and whose names
	// are Chinese (the shape of the reported case).
	asciiHeaded = "id,name,dept\n" +
		"E1,李伟伟,总部/研发中心\n" +
		"E2,Café Paris,总部/销售部\n" +
		"E3,王小明,总部/人力资源部\n"
	// chineseHeaded is the same with a Chinese header.
	chineseHeaded = "工号,姓名,部门\n" +
		"E1,李伟伟,总部/研发中心\n" +
		"E2,Café Paris,总部/销售部\n" +
		"E3,王小明,总部/人力资源部\n"
	// rareCharacters needs GB18030's four-byte sequences (𠮷 and 𡘙 are
	// outside GBK).
	rareCharacters = "工号,姓名,部门\nE1,吉𠮷,总部/研发中心\nE2,𡘙涛,总部/销售部\n"
)

// latin1 replaces the UTF-8 "é" of Café by its Latin-1 byte, as a stray
// copy-paste from a Latin-1 system leaves it.
func latin1(s string) []byte { return []byte(strings.Replace(s, "é", "\xe9", 1)) }

// nonASCII counts the characters of s that UTF-8 writes in more than one
// byte.
func nonASCII(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x80 {
			n++
		}
	}
	return n
}

// at describes the offending byte of data, the first byte of the first
// match of mark that is not ASCII: the locator and byte offset an error must
// name.
func at(data []byte, mark string) string {
	i := bytes.Index(data, []byte(mark))
	for mark[0] < 0x80 {
		i, mark = i+1, mark[1:]
	}
	return fmt.Sprintf("employees.csv:%d: byte offset %d ", 1+bytes.Count(data[:i], []byte{'\n'}), i)
}

func TestDecodingIsValidated(t *testing.T) {
	gbk := func(s string) []byte { return encode(t, simplifiedchinese.GBK, s) }
	gb18030 := func(s string) []byte { return encode(t, simplifiedchinese.GB18030, s) }
	utf16le := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	utf16be := unicode.UTF16(unicode.BigEndian, unicode.UseBOM)

	// One 0xFF in a name: never valid in GBK or GB18030.
	gbkWithFF := gbk(sample)
	gbkWithFF = bytes.Replace(gbkWithFF, gbk("李四"), append(gbk("李"), 0xFF, 'x'), 1)
	// A GBK lead byte followed by a comma: a half character.
	gbkHalfChar := bytes.Replace(gbk(sample), gbk("李四,"), append(gbk("李"), 0xCB, ','), 1)
	// The first half of the rows from a UTF-8 system, the second from GBK.
	const mixedUTF8 = "工号,姓名,部门\nE1,李伟伟,总部/研发中心\nE2,张三,总部/销售部\n"
	mixed := append([]byte(mixedUTF8), gbk("E3,王小明,总部/人力资源部\nE4,赵六,总部/财务部\n")...)
	// A lone low surrogate in a UTF-16LE name.
	utf16Unpaired := encode(t, utf16le, sample)
	i := bytes.Index(utf16Unpaired, encode(t, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "李四"))
	utf16Unpaired[i], utf16Unpaired[i+1] = 0x00, 0xDC

	ok := []struct {
		name     string
		encoding string
		data     []byte
		want     string // rows as rows() renders them
		decoded  string // Batch.Encoding
	}{
		{"reads clean UTF-8 with ASCII headers", "auto", []byte(strings.Replace(asciiHeaded, "é", "e", 1)),
			"employees.csv:2|E1|李伟伟|总部/研发中心", "utf-8"},
		{"reads clean UTF-8 with a BOM", "auto", append([]byte{0xEF, 0xBB, 0xBF}, sample...),
			"employees.csv:2|00123|张三|总部/研发中心", "utf-8"},
		{"detects clean GBK", "auto", gbk(sample), "employees.csv:2|00123|张三|总部/研发中心", "gb18030"},
		{"detects clean GB18030 with four-byte characters", "auto", gb18030(rareCharacters),
			"employees.csv:2|E1|吉𠮷|总部/研发中心", "gb18030"},
		{"reads clean explicit gbk", "gbk", gbk(sample), "employees.csv:2|00123|张三|总部/研发中心", "gbk"},
		{"reads clean explicit gb18030", "gb18030", gb18030(rareCharacters),
			"employees.csv:2|E1|吉𠮷|总部/研发中心", "gb18030"},
		{"detects UTF-16LE by its BOM", "auto", encode(t, utf16le, sample),
			"employees.csv:2|00123|张三|总部/研发中心", "utf-16le"},
		{"detects UTF-16BE by its BOM", "auto", encode(t, utf16be, sample),
			"employees.csv:2|00123|张三|总部/研发中心", "utf-16be"},
		{"reads explicit utf-16 with a big-endian BOM as big-endian", "utf-16", encode(t, utf16be, sample),
			"employees.csv:2|00123|张三|总部/研发中心", "utf-16be"},
		{"reads explicit gbk that is valid UTF-8 by chance as gbk", "gbk", gbk("id,name,sex\nE1,昊冯涵,女\n"),
			"employees.csv:2|E1|昊冯涵|女", "gbk"},
		{"reads UTF-8 Latin letters as UTF-8", "auto", []byte("id,name\nE1,José Müller\n"), "employees.csv:2|E1|José Müller", "utf-8"},
		{"keeps a genuine U+FFFD of a GB18030 file", "gb18030", gb18030("a,b\n1,x\ufffdy\n"),
			"employees.csv:2|1|x\ufffdy", "gb18030"},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "employees.csv", c.data)
			b := mustList(t, Config{Path: p, Encoding: c.encoding, Settle: dur(0)})
			if got := rows(b)[0]; got != c.want {
				t.Fatalf("first row %q, want %q", got, c.want)
			}
			if b.Encoding != c.decoded {
				t.Fatalf("Encoding %q, want %q", b.Encoding, c.decoded)
			}
			if want := strings.Join(b.Records[0].Names, ","); strings.Join(b.Columns, ",") != want {
				t.Fatalf("Columns %q, want %q", b.Columns, want)
			}
		})
	}

	// considered ends the message of a file encoding: auto could not read.
	const considered = " (encodings considered: utf-8, utf-16, gb18030)"
	damaged := func(multi, invalid int) string {
		return fmt.Sprintf("invalid UTF-8 in a file that holds UTF-8 text (%d valid multi-byte characters, %d invalid %s): "+
			"a damaged export or mixed encodings, not read as another encoding", multi, invalid, plural(invalid, "byte", "bytes")) + considered
	}
	bad := []struct {
		name     string
		encoding string
		data     []byte
		kind     error
		want     string // the message after "read PATH: KIND: "
	}{
		{
			name: "a Latin-1 byte in a UTF-8 file with ASCII headers fails instead of turning it into GB18030",
			data: latin1(asciiHeaded), kind: ErrMalformed,
			want: at(latin1(asciiHeaded), "Caf\xe9") + "(0xE9): " + damaged(nonASCII(asciiHeaded)-1, 1),
		},
		{
			name: "a Latin-1 byte in a UTF-8 file with Chinese headers fails",
			data: latin1(chineseHeaded), kind: ErrMalformed,
			want: at(latin1(chineseHeaded), "Caf\xe9") + "(0xE9): " + damaged(nonASCII(chineseHeaded)-1, 1),
		},
		{
			name: "a Latin-1 byte after a UTF-8 BOM fails",
			data: append([]byte{0xEF, 0xBB, 0xBF}, latin1(chineseHeaded)...), kind: ErrMalformed,
			want: at(append([]byte{0xEF, 0xBB, 0xBF}, latin1(chineseHeaded)...), "Caf\xe9") +
				"(0xE9): invalid UTF-8 in a file that starts with a UTF-8 byte order mark",
		},
		{
			name: "half UTF-8 rows and half GBK rows fail",
			data: mixed, kind: ErrMalformed,
			want: fmt.Sprintf("employees.csv:4: byte offset %d (0xCD): ", len(mixedUTF8+"E3,")) +
				// 4 and 26: the GBK rows' bytes are 4 valid UTF-8 characters by chance, and 26 invalid bytes.
				damaged(nonASCII(mixedUTF8)+4, 26),
		},
		{
			name: "a small GBK file that is valid UTF-8 by chance fails instead of turning into Hangul",
			data: gbk("id,name,sex\nE1,昊冯涵,女\n"), kind: ErrMalformed,
			want: "employees.csv:2: byte offset 15 (0xEA 0xBB 0xB7): the file reads as UTF-8 and as gb18030 alike " +
				"(each of its lines with a three-byte UTF-8 character is plain GB2312 text as well): set encoding: utf-8 or gbk" + considered,
		},
		{
			name: "a GBK file with one invalid byte fails",
			data: gbkWithFF, kind: ErrMalformed,
			want: at(gbkWithFF, "\xffx") + "(0xFF): invalid gb18030 sequence, and the file is not UTF-8 either " +
				"(first invalid UTF-8 byte: line 1, byte offset 0)" + considered,
		},
		{
			name: "a GBK file with half a character fails",
			data: gbkHalfChar, kind: ErrMalformed,
			want: at(gbkHalfChar, "\xcb,") + "(0xCB 0x2C): invalid gb18030 sequence, and the file is not UTF-8 either " +
				"(first invalid UTF-8 byte: line 1, byte offset 0)" + considered,
		},
		{
			name: "a Latin-1 file is neither UTF-8 nor plausibly GB18030",
			data: []byte("name,city\nRen\xe9e,Z\xfcrich\n"), kind: ErrMalformed,
			want: "employees.csv:2: byte offset 13 (0xE9): not UTF-8, and not plausibly gb18030: " +
				"only 0 of 2 double-byte characters are common Chinese (GB2312) characters, fewer than half" + considered,
		},
		{
			name:     "explicit utf-8 with an invalid byte fails",
			encoding: "utf-8", data: latin1(asciiHeaded), kind: ErrMalformed,
			want: at(latin1(asciiHeaded), "Caf\xe9") + "(0xE9): invalid UTF-8",
		},
		{
			name:     "explicit utf-8 on a GBK file fails and suggests gb18030",
			encoding: "utf-8", data: gbk(sample), kind: ErrMalformed,
			want: "employees.csv:1: byte offset 0 (0xB9): invalid UTF-8 (the file reads cleanly as gb18030: set encoding: auto or gb18030?)",
		},
		{
			name:     "explicit gbk with an invalid byte fails",
			encoding: "gbk", data: gbkWithFF, kind: ErrMalformed,
			want: at(gbkWithFF, "\xffx") + "(0xFF): invalid gbk sequence",
		},
		{
			name:     "explicit gbk with a GB18030 four-byte character fails and suggests gb18030",
			encoding: "gbk", data: gb18030(rareCharacters), kind: ErrMalformed,
			want: fmt.Sprintf("employees.csv:2: byte offset %d (0x95 0x34 0xB2 0x35): ", len(gb18030("工号,姓名,部门\nE1,吉"))) +
				"invalid gbk sequence (a gb18030 four-byte character: set encoding: gb18030?)",
		},
		{
			name:     "explicit gbk on a UTF-8 file fails instead of turning it into mojibake",
			encoding: "gbk", data: []byte(sample), kind: ErrMalformed,
			want: fmt.Sprintf("employees.csv:1: byte offset 0 (0xE5 0xB7 0xA5): encoding gbk is configured, but the file is UTF-8 text "+
				"(%d valid multi-byte characters, 0 invalid bytes): a re-encoded export? (set encoding: utf-8 or auto)", nonASCII(sample)),
		},
		{
			name:     "explicit gb18030 on a damaged UTF-8 file fails",
			encoding: "gb18030", data: latin1(chineseHeaded), kind: ErrMalformed,
			want: at(latin1(chineseHeaded), "Caf\xe9") + fmt.Sprintf("(0xE9): encoding gb18030 is configured, but the file is UTF-8 text "+
				"(%d valid multi-byte characters, 1 invalid byte): a re-encoded export? (set encoding: utf-8 or auto)", nonASCII(chineseHeaded)-1),
		},
		{
			name: "an unpaired UTF-16 surrogate fails",
			data: utf16Unpaired, kind: ErrMalformed,
			want: fmt.Sprintf("employees.csv:3: byte offset %d (0x00 0xDC): invalid utf-16le: unpaired surrogate", i),
		},
		{
			name: "a GBK file cut inside its last character is incomplete",
			data: gbk(sample)[:len(gbk(sample))-len(gbk("部\n"))+1], kind: ErrIncomplete,
			want: fmt.Sprintf("employees.csv:3: byte offset %d (0xB2): ", len(gbk(sample))-len(gbk("部\n"))) +
				"the file ends in the middle of a gb18030 character (cut short?)" + considered,
		},
		{
			name: "a UTF-16 file with an odd number of bytes is incomplete",
			data: encode(t, utf16le, sample)[:len(encode(t, utf16le, sample))-1], kind: ErrIncomplete,
			want: fmt.Sprintf("employees.csv:3: byte offset %d (0x0A): ", len(encode(t, utf16le, sample))-2) +
				"the file ends in the middle of a UTF-16 code unit (cut short?)",
		},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "employees.csv", c.data)
			enc := c.encoding
			if enc == "" {
				enc = "auto"
			}
			b, err := list(t, Config{Path: p, Encoding: enc, Settle: dur(0)})
			if err == nil {
				t.Fatalf("no error; decoded as %q, first row %q", b.Encoding, rows(b))
			}
			if want := "read " + p + ": " + c.kind.Error() + ": " + c.want; !errors.Is(err, c.kind) || err.Error() != want {
				t.Fatalf("err = %v\nwant %s", err, want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.File != "employees.csv" || de.Line < 1 || de.Offset < 0 || de.Offset >= len(c.data) {
				t.Fatalf("not a DecodeError with a position in the file: %#v", de)
			}
		})
	}
}

// TestAutoDetectionHeuristics runs the plausibility rules of encoding: auto
// over many small generated exports (fixed seed): short GBK lines are the
// ones most likely to look like UTF-8 by chance, short UTF-8 files with one
// stray byte the ones most likely to pass as GB18030.
func TestAutoDetectionHeuristics(t *testing.T) {
	// Common surname and given-name characters, a few rare ones (堃喆赟
	// are outside GB2312) among them.
	names := []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥玲芬燕彬鹏辉斌宇浩凯健俊帆帅旭宁欣怡梓涵子轩昊堃喆赟")
	rng := rand.New(rand.NewSource(1))
	file := func(header string, rows int) string {
		var b strings.Builder
		b.WriteString(header)
		for i := 0; i < rows; i++ {
			fmt.Fprintf(&b, "E%d,", i)
			for n := 2 + rng.Intn(2); n > 0; n-- {
				b.WriteRune(names[rng.Intn(len(names))])
			}
			b.WriteString([]string{",男\r\n", ",女\r\n"}[rng.Intn(2)])
		}
		return b.String()
	}
	for i := 0; i < 3000; i++ {
		s := file([]string{"工号,姓名,性别\r\n", "id,name,sex\r\n"}[i%2], 2+i%5)
		gbk := encode(t, simplifiedchinese.GBK, s)
		if _, enc, err := decodeText(gbk, "auto", "employees.csv"); err != nil && !errors.Is(err, ErrMalformed) || err == nil && enc != "gb18030" {
			t.Fatalf("GBK file read as %q, %v:\n%s", enc, err, s)
		} else if err != nil && !strings.Contains(err.Error(), "reads as UTF-8 and as gb18030 alike") {
			// The one failure allowed: a file that is valid UTF-8
			// too, which the admin must then name.
			t.Fatalf("GBK file not read: %v:\n%s", err, s)
		}
		if _, _, err := decodeText(gbk, "gbk", "employees.csv"); err != nil {
			t.Fatalf("GBK file not read as explicit gbk: %v:\n%s", err, s)
		}
		stray := []byte(s)
		stray = append(stray[:len(stray)-2], 0xE9, '\r', '\n')
		if _, enc, err := decodeText(stray, "auto", "employees.csv"); !errors.Is(err, ErrMalformed) {
			t.Fatalf("UTF-8 file with a stray byte read as %q, %v:\n%s", enc, err, s)
		}
	}
	if _, enc, err := decodeText(gbkEmployees(t, 20_000), "auto", "employees.csv"); err != nil || enc != "gb18030" {
		t.Fatalf("the benchmark's GBK export read as %q: %v", enc, err)
	}
}
