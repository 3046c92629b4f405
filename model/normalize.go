package model

import (
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// NormalizeMobile turns a mobile number as HR writes it into the form orgsync
// stores and sends, so that "138 0013 8000", "+86-13800138000" and
// "13800138000" compare equal:
//   - mainland China numbers (region CN) become the bare 11 digits, which
//     WeCom accepts without a country code;
//   - every other number becomes "+CC NATIONAL" (e.g. "+852 51234567"), the
//     form WeCom's docs show for non-mainland numbers.
//
// defaultRegion (ISO 3166 alpha-2, e.g. "CN") is used for numbers written
// without a country code. An empty input returns "", nil.
func NormalizeMobile(raw, defaultRegion string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", nil
	}
	if out, ok := fastMainlandMobile(s, defaultRegion); ok {
		return out, nil
	}
	out, err := parseMobile(s, defaultRegion)
	if err != nil {
		err.Raw = raw
		return "", err
	}
	return out, nil
}

// MobileError is NormalizeMobile's error: Raw is the value as given, Msg
// says what is wrong with it (without the value, so that a caller naming the
// value itself can use Msg alone), Err is the parser's error, if any.
type MobileError struct {
	Raw string
	Msg string
	Err error
}

func (e *MobileError) Error() string { return fmt.Sprintf("mobile %q: %s", e.Raw, e.Msg) }

func (e *MobileError) Unwrap() error { return e.Err }

// parseMobile is NormalizeMobile through phonenumbers, for a trimmed,
// non-empty s. The error's Raw is s.
func parseMobile(s, defaultRegion string) (string, *MobileError) {
	if defaultRegion == "" {
		defaultRegion = "CN"
	}
	num, err := phonenumbers.Parse(s, strings.ToUpper(defaultRegion))
	if err != nil {
		return "", &MobileError{Raw: s, Msg: err.Error(), Err: err}
	}
	if !phonenumbers.IsPossibleNumber(num) {
		return "", &MobileError{Raw: s, Msg: "not a possible phone number"}
	}
	if num.GetCountryCode() == 86 {
		return phonenumbers.GetNationalSignificantNumber(num), nil
	}
	return fmt.Sprintf("+%d %s", num.GetCountryCode(), phonenumbers.GetNationalSignificantNumber(num)), nil
}

// fastMainlandMobile answers the common case without phonenumbers' regexps
// (which cost more than the rest of a row's mapping together): a mainland
// mobile written as 11 digits starting with 1, optionally after +86, 0086 or
// 86, with the usual separators. Its answer is the one parseMobile gives
// (FuzzFastMainlandMobile checks that); anything else returns false.
func fastMainlandMobile(raw, region string) (string, bool) {
	if len(raw) > 32 {
		return "", false
	}
	var d [16]byte
	n, plus := 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return "", false
			}
			d[n] = c
			n++
		case c == '+' && n == 0 && !plus:
			plus = true
		case c == ' ' || c == '-':
		default:
			return "", false
		}
	}
	digits := string(d[:n])
	cn := region == "" || strings.EqualFold(region, "CN") // parseMobile's default
	switch {
	case plus && n == 13 && digits[:2] == "86":
		digits = digits[2:]
	case !plus && n == 15 && digits[:4] == "0086" && cn:
		digits = digits[4:]
	case !plus && n == 11 && cn:
	default:
		return "", false
	}
	if digits[0] != '1' || digits[1] < '3' {
		return "", false
	}
	return digits, true
}

// NormalizeEmail trims and lower-cases an email address; WeCom compares them
// case-insensitively.
func NormalizeEmail(raw string) string { return strings.ToLower(strings.TrimSpace(raw)) }

// NormalizeName trims surrounding white space (including the full-width space
// U+3000 that Chinese spreadsheets often carry).
func NormalizeName(raw string) string { return strings.TrimSpace(raw) }
