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
	if defaultRegion == "" {
		defaultRegion = "CN"
	}
	num, err := phonenumbers.Parse(s, strings.ToUpper(defaultRegion))
	if err != nil {
		return "", fmt.Errorf("mobile %q: %w", raw, err)
	}
	if !phonenumbers.IsPossibleNumber(num) {
		return "", fmt.Errorf("mobile %q: not a possible phone number", raw)
	}
	if num.GetCountryCode() == 86 {
		return phonenumbers.GetNationalSignificantNumber(num), nil
	}
	return fmt.Sprintf("+%d %s", num.GetCountryCode(), phonenumbers.GetNationalSignificantNumber(num)), nil
}

// NormalizeEmail trims and lower-cases an email address; WeCom compares them
// case-insensitively.
func NormalizeEmail(raw string) string { return strings.ToLower(strings.TrimSpace(raw)) }

// NormalizeName trims surrounding white space (including the full-width space
// U+3000 that Chinese spreadsheets often carry).
func NormalizeName(raw string) string { return strings.TrimSpace(raw) }
