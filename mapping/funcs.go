package mapping

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"

	"github.com/orgsync/orgsync/connectors"
	"github.com/orgsync/orgsync/model"
)

// function is one helper rules can call. The whole set is the list in
// functions below: add new helpers (e.g. LDAP's uac_disabled) there, in this
// one place. Helpers take any values (CSV strings, LDAP []string, nil for a
// missing field) and must not panic on any of them.
type function struct {
	name  string
	doc   string
	fn    func(args ...any) (any, error)
	types []any // expr type signatures (new(func(string) string)); none = variadic any
}

// env is what helpers may read besides their arguments: the lookup tables
// and the configured default mobile region.
type funcEnv struct {
	lookups map[string]map[string]string
	region  string
}

func functions(e *funcEnv) []function {
	return []function{
		{name: "lower", doc: "lower(s): lower case", fn: str1(strings.ToLower), types: []any{new(func(any) string)}},
		{name: "upper", doc: "upper(s): upper case", fn: str1(strings.ToUpper), types: []any{new(func(any) string)}},
		{name: "trim", doc: "trim(s[, cutset]): strip white space (also U+3000) or the given characters", fn: trimFn},
		{name: "replace", doc: "replace(s, regexp, replacement): regexp replace, $1 for groups", fn: replaceFn, types: []any{new(func(any, string, string) string)}},
		{name: "split", doc: "split(s, sep): list of trimmed, non-empty parts", fn: splitFn, types: []any{new(func(any, string) []string)}},
		{name: "join", doc: "join(list, sep): join non-empty parts", fn: joinFn, types: []any{new(func(any, string) string)}},
		{name: "default", doc: "default(v, d): d when v is missing or blank", fn: defaultFn, types: []any{new(func(any, any) any)}},
		{name: "coalesce", doc: "coalesce(a, b, ...): the first value that is not blank", fn: coalesceFn},
		{name: "digits", doc: "digits(s): only the digits of s", fn: str1(keepDigits), types: []any{new(func(any) string)}},
		{name: "substr", doc: "substr(s, start[, length]): by characters, not bytes", fn: substrFn},
		{name: "path", doc: "path(a, b, ...): join the non-blank parts with /", fn: pathFn},
		{name: "truthy", doc: "truthy(v): 1/true/yes/y/是/启用/在职 → true", fn: truthyFn, types: []any{new(func(any) bool)}},
		{name: "gender", doc: "gender(v): 男/女/M/F/male/female/1/2 → \"1\"/\"2\", else \"\"", fn: genderFn, types: []any{new(func(any) string)}},
		{name: "date", doc: "date(v[, layout...]): common HR date formats or an Excel serial → 2006-01-02", fn: dateFn},
		{name: "e164", doc: "e164(mobile[, region]): normalised mobile (CN: 11 digits; others +CC NUMBER)", fn: e.e164},
		{name: "uac_disabled", doc: "uac_disabled(userAccountControl): AD's ACCOUNTDISABLE bit (0x2) is set", fn: uacDisabledFn, types: []any{new(func(any) bool)}},
		{name: "uac_has", doc: "uac_has(userAccountControl, flag): the given userAccountControl bit is set", fn: uacHasFn},
		{name: "ad_time", doc: "ad_time(v): AD FILETIME (accountExpires, lockoutTime) or LDAP GeneralizedTime → RFC 3339 UTC; \"\" for never", fn: adTimeFn},
		{name: "ou_path", doc: "ou_path(dn[, base_dn]): the OUs of a DN as a department path, top first", fn: ouPathFn},
		{name: "lookup", doc: "lookup(table, key[, default]): value from a lookup table; an unknown key without default is an error", fn: e.lookup},
	}
}

// FunctionHelp lists the helpers rules can call, one line each, for
// `orgsync validate` and the docs.
func FunctionHelp() []string {
	fs := functions(&funcEnv{})
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.doc
	}
	return out
}

// exprOptions turns the function list into expr options.
func exprOptions(fs []function) []expr.Option {
	opts := make([]expr.Option, 0, len(fs))
	for _, f := range fs {
		opts = append(opts, expr.Function(f.name, f.fn, f.types...))
	}
	return opts
}

// ValueError is a helper's verdict on a value; mapping reports its Value and
// Msg in the RecordError.
type ValueError struct {
	Value string
	Msg   string
}

func (e *ValueError) Error() string { return fmt.Sprintf("%q: %s", e.Value, e.Msg) }

// toString renders a field value: a multi-valued field yields its first
// value, nil "".
func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string, []string:
		return connectors.Text(x)
	case []any:
		if len(x) > 0 {
			return toString(x[0])
		}
		return ""
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

// toStrings renders a field value as a list.
func toStrings(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, toString(e))
		}
		return out
	}
	return []string{toString(v)}
}

func blank(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []string:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func arity(name string, args []any, min, max int) error {
	if len(args) < min || (max >= 0 && len(args) > max) {
		return fmt.Errorf("%s: %d arguments", name, len(args))
	}
	return nil
}

func str1(f func(string) string) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("want 1 argument, got %d", len(args))
		}
		return f(toString(args[0])), nil
	}
}

func trimFn(args ...any) (any, error) {
	if err := arity("trim", args, 1, 2); err != nil {
		return nil, err
	}
	if len(args) == 2 {
		return strings.Trim(toString(args[0]), toString(args[1])), nil
	}
	return strings.TrimSpace(toString(args[0])), nil
}

var regexps sync.Map // pattern → *regexp.Regexp or error

func compileRegexp(p string) (*regexp.Regexp, error) {
	if v, ok := regexps.Load(p); ok {
		if re, ok := v.(*regexp.Regexp); ok {
			return re, nil
		}
		return nil, v.(error)
	}
	re, err := regexp.Compile(p)
	if err != nil {
		err = fmt.Errorf("bad regexp %q: %w", p, err)
		regexps.Store(p, err)
		return nil, err
	}
	regexps.Store(p, re)
	return re, nil
}

func replaceFn(args ...any) (any, error) {
	if err := arity("replace", args, 3, 3); err != nil {
		return nil, err
	}
	re, err := compileRegexp(toString(args[1]))
	if err != nil {
		return nil, err
	}
	return re.ReplaceAllString(toString(args[0]), toString(args[2])), nil
}

func splitFn(args ...any) (any, error) {
	if err := arity("split", args, 2, 2); err != nil {
		return nil, err
	}
	sep := toString(args[1])
	out := []string{}
	for _, s := range toStrings(args[0]) {
		var parts []string
		if sep == "" {
			parts = []string{s}
		} else {
			parts = strings.Split(s, sep)
		}
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func joinFn(args ...any) (any, error) {
	if err := arity("join", args, 2, 2); err != nil {
		return nil, err
	}
	var parts []string
	for _, s := range toStrings(args[0]) {
		if strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, toString(args[1])), nil
}

func defaultFn(args ...any) (any, error) {
	if err := arity("default", args, 2, 2); err != nil {
		return nil, err
	}
	if blank(args[0]) {
		return args[1], nil
	}
	return args[0], nil
}

func coalesceFn(args ...any) (any, error) {
	for _, a := range args {
		if !blank(a) {
			return a, nil
		}
	}
	return "", nil
}

func keepDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		return int(x), nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(toString(v)))
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", toString(v))
	}
	return n, nil
}

func substrFn(args ...any) (any, error) {
	if err := arity("substr", args, 2, 3); err != nil {
		return nil, err
	}
	r := []rune(toString(args[0]))
	start, err := toInt(args[1])
	if err != nil {
		return nil, err
	}
	start = min(max(start, 0), len(r))
	end := len(r)
	if len(args) == 3 {
		n, err := toInt(args[2])
		if err != nil {
			return nil, err
		}
		end = min(start+max(n, 0), len(r))
	}
	return string(r[start:end]), nil
}

func pathFn(args ...any) (any, error) {
	var parts []string
	for _, a := range args {
		for _, s := range toStrings(a) {
			if s = strings.TrimSpace(s); s != "" {
				parts = append(parts, s)
			}
		}
	}
	return strings.Join(parts, "/"), nil
}

// truthy accepts the ways HR files say yes: the yes words of enabled.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int:
		return x != 0
	case float64:
		return x != 0
	}
	return yesWords[strings.ToLower(strings.TrimSpace(toString(v)))]
}

func truthyFn(args ...any) (any, error) {
	if err := arity("truthy", args, 1, 1); err != nil {
		return nil, err
	}
	return truthy(args[0]), nil
}

// normalizeGender maps the ways HR writes gender to WeCom's "1"/"2"; ok is
// false for a value it does not know. Blank, 0 and 未知 are unset.
func normalizeGender(s string) (model.Gender, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return model.GenderUnset, true
	case "男", "m", "male", "1", "man", "男性":
		return model.GenderMale, true
	case "女", "f", "female", "2", "woman", "女性":
		return model.GenderFemale, true
	case "0", "未知", "unknown", "-":
		return model.GenderUnset, true
	}
	return model.GenderUnset, false
}

func genderFn(args ...any) (any, error) {
	if err := arity("gender", args, 1, 1); err != nil {
		return nil, err
	}
	g, _ := normalizeGender(toString(args[0]))
	return string(g), nil
}

// dateLayouts are the formats HR exports use, tried in order.
var dateLayouts = []string{
	"2006-01-02", "2006/01/02", "2006/1/2", "2006-1-2", "2006.01.02", "2006.1.2", "20060102",
	"2006年1月2日", "2006年01月02日",
	"2006-01-02 15:04:05", "2006/01/02 15:04:05", "2006/1/2 15:04:05", "2006/1/2 15:04", "2006-01-02 15:04",
	"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05",
	"01-02-06", // Excel's built-in date format 14 as excelize renders it
	"1/2/2006", "1/2/06",
}

var excelEpoch = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)

// dateShapes is each default layout's separators, so that parseDate tries
// only layouts a value can match (a failed time.Parse allocates an error;
// trying them all costs more than the rest of a row).
var dateShapes = func() []string {
	ref := time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("", 8*3600))
	out := make([]string, len(dateLayouts))
	for i, l := range dateLayouts {
		out[i] = shape(ref.Format(l))
	}
	return out
}()

// shape is the non-digit characters of s, in order.
func shape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// parseDate reads v with the given layouts, or the common HR ones and Excel
// serial day numbers (1–2958465, i.e. up to 9999-12-31).
func parseDate(s string, layouts []string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(layouts) == 0 {
		sh := shape(s)
		for i, l := range dateLayouts {
			if dateShapes[i] == sh || strings.ContainsAny(sh, "+Z") {
				if t, err := time.Parse(l, s); err == nil {
					return t, nil
				}
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 1 && f < 2958466 && !strings.ContainsAny(s, "eE") && len(s) != 8 {
			return excelEpoch.Add(time.Duration(math.Floor(f)) * 24 * time.Hour), nil
		}
		return time.Time{}, &ValueError{Value: s, Msg: "not a date"}
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &ValueError{Value: s, Msg: "not a date in layout " + strings.Join(layouts, " or ")}
}

func dateFn(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("date: want a value")
	}
	s := toString(args[0])
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	var layouts []string
	for _, a := range args[1:] {
		layouts = append(layouts, toString(a))
	}
	t, err := parseDate(s, layouts)
	if err != nil {
		return nil, err
	}
	return t.Format("2006-01-02"), nil
}

func (e *funcEnv) e164(args ...any) (any, error) {
	if err := arity("e164", args, 1, 2); err != nil {
		return nil, err
	}
	region := e.region
	if len(args) == 2 {
		region = toString(args[1])
	}
	raw := toString(args[0])
	out, msg := normalizeMobile(raw, region)
	if msg != "" {
		return nil, &ValueError{Value: raw, Msg: msg}
	}
	return out, nil
}

// normalizeMobile is model.NormalizeMobile with the checks a mobile field
// needs on top: only digits and the usual punctuation (no extensions, no
// letters), and a mainland number must be a mobile (11 digits starting with
// 1), since WeCom sends the invitation SMS there. It returns a message
// instead of an error: the RecordError names the field and value itself.
func normalizeMobile(raw, region string) (string, string) {
	if strings.TrimSpace(raw) == "" {
		return "", ""
	}
	if !mobileChars(raw) {
		return "", "may hold only digits, spaces and + - ( ) ."
	}
	out, err := model.NormalizeMobile(raw, region)
	if err != nil {
		var me *model.MobileError
		if errors.As(err, &me) {
			return "", me.Msg
		}
		return "", err.Error()
	}
	if !strings.HasPrefix(out, "+") && (len(out) != 11 || out[0] != '1') {
		return "", "not a mainland China mobile number (11 digits starting with 1)"
	}
	return out, ""
}

// mobileChars reports whether s holds only digits, + - ( ) . and ASCII
// white space (\t \n \f \r and space). A byte loop, not a regexp: it runs
// on every mobile of every row, before model.NormalizeMobile's fast path.
func mobileChars(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '+', c == '-', c == '(', c == ')', c == '.':
		case c == ' ', c == '\t', c == '\n', c == '\f', c == '\r':
		default:
			return false
		}
	}
	return true
}

func (e *funcEnv) lookup(args ...any) (any, error) {
	if err := arity("lookup", args, 2, 3); err != nil {
		return nil, err
	}
	name := toString(args[0])
	tab, ok := e.lookups[name]
	if !ok {
		return nil, fmt.Errorf("no lookup table %q", name)
	}
	k := strings.TrimSpace(toString(args[1]))
	if v, ok := tab[k]; ok {
		return v, nil
	}
	if len(args) == 3 {
		return args[2], nil
	}
	return nil, &ValueError{Value: k, Msg: fmt.Sprintf("not in lookup table %q", name)}
}

// runeLen counts characters, as WeCom's length limits do.
func runeLen(s string) int { return utf8.RuneCountInString(s) }

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
