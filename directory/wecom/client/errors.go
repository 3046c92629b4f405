package client

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// APIError is a WeCom answer with a non-zero errcode. Callers branch on
// Code (see Code and IsCode); Msg is informational only, as WeCom says.
type APIError struct {
	API  string // e.g. "user/create"
	Code int
	Msg  string // errmsg without the ", hint: [...], from ip: ..., more info at ..." tail
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wecom %s: errcode %d", e.API, e.Code)
	if e.Msg != "" {
		fmt.Fprintf(&b, " (%s)", e.Msg)
	}
	if h, ok := codeHints[e.Code]; ok && !h.config {
		b.WriteString(": ")
		b.WriteString(h.text)
	}
	return b.String()
}

// ConfigError is an APIError caused by the deployment, not by the data: a
// wrong or insecure secret, a wrong corp id, an untrusted IP, a secret
// without the needed rights, restricted reads. Retrying cannot help; Fix
// tells the admin what to change.
type ConfigError struct {
	APIError
	Fix string
}

func (e *ConfigError) Error() string {
	msg := ""
	if e.Msg != "" {
		msg = " (" + e.Msg + ")"
	}
	return fmt.Sprintf("wecom %s: errcode %d%s: configuration error: %s", e.API, e.Code, msg, e.Fix)
}

// Unwrap exposes the APIError so errors.As(err, **APIError) and Code work.
func (e *ConfigError) Unwrap() error { return &e.APIError }

// ErrRateLimited matches (errors.Is) every *BanError.
var ErrRateLimited = errors.New("wecom rate limit exceeded (45009)")

// BanError reports that WeCom refused an API with 45009 and the client
// stops calling that API until Until. Other APIs are unaffected, so a
// caller may finish other kinds of work meanwhile.
type BanError struct {
	API   string
	Until time.Time
}

func (e *BanError) Error() string {
	return fmt.Sprintf("wecom %s: call frequency limit reached (errcode 45009); paused until %s",
		e.API, e.Until.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrRateLimited) and IsCode(err, 45009) true.
func (e *BanError) Unwrap() []error {
	return []error{ErrRateLimited, &APIError{API: e.API, Code: CodeRateLimited, Msg: "api freq out of limit"}}
}

// UncertainError is a failed write whose outcome is not known: an attempt
// may have reached WeCom and been applied before its answer was lost (a
// dropped connection, a gateway error, a timeout), and a later attempt, if
// any, failed. The caller must settle it from WeCom's lists rather than
// treat it as not done. It unwraps to the final error, so Code and IsCode
// see the last answer.
type UncertainError struct{ Err error }

func (e *UncertainError) Error() string {
	return e.Err.Error() + " (an earlier attempt may have been applied)"
}
func (e *UncertainError) Unwrap() error { return e.Err }

// IsUncertain reports whether err leaves open whether the write happened.
func IsUncertain(err error) bool {
	var u *UncertainError
	return errors.As(err, &u)
}

// MarkUncertain wraps err as an *UncertainError when uncertain is true
// (and err is not one already): for callers that compose several calls
// into one change, where an earlier call's outcome is unknown.
func MarkUncertain(err error, uncertain bool) error {
	if err == nil || !uncertain || IsUncertain(err) {
		return err
	}
	return &UncertainError{Err: err}
}

// ErrTooManyUserIDs is returned, without calling WeCom, when batchdelete
// is given more than MaxBatchDelete user ids.
var ErrTooManyUserIDs = fmt.Errorf("user/batchdelete takes at most %d userids per call", MaxBatchDelete)

// WeCom errcodes callers commonly branch on.
const (
	CodeSystemBusy      = -1
	CodeDataConflict    = 6000
	CodeInvalidSecret   = 40001
	CodeInvalidToken    = 40014
	CodeTokenExpired    = 42001
	CodeRateLimited     = 45009
	CodeConcurrency     = 45033
	CodeForbidden       = 48002
	CodeRestrictedRead  = 48009
	CodeIPNotTrusted    = 60020
	CodeDeptNotFound    = 60003
	CodeDeptHasMembers  = 60005
	CodeDeptHasChildren = 60006
	CodeDeptExists      = 60008
	CodeUserExists      = 60102
	CodeMobileExists    = 60104
	CodeEmailExists     = 60106
	CodeUserNotFound    = 60111
	CodeInvalidDeptID   = 60123
	CodeJobRunning      = 302008
)

// Code returns err's WeCom errcode, or 0 when err is not (or does not
// wrap) an *APIError.
func Code(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

// IsCode reports whether err carries one of codes.
func IsCode(err error, codes ...int) bool {
	c := Code(err)
	if c == 0 {
		return false
	}
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// IsConfig reports whether err is a configuration error.
func IsConfig(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

type codeHint struct {
	text   string
	config bool // stop: the admin must fix the deployment
}

const fixEditSecret = "the secret is not the Contacts-Sync secret with edit rights (管理工具 → 通讯录同步 → API编辑通讯录)"

// codeHints explains errcodes; config ones become *ConfigError.
var codeHints = map[int]codeHint{
	40001: {"the secret is wrong, was reset, or its app is disabled: use the current Contacts-Sync secret (管理工具 → 通讯录同步) of this corp", true},
	40013: {"the corp id is wrong: copy it from 我的企业 → 企业信息 → 企业ID", true},
	40091: {"the secret is invalid (possibly another corp's): use this corp's Contacts-Sync secret", true},
	41002: {"the corp id is missing from the configuration", true},
	41004: {"the secret is missing from the configuration", true},
	45031: {"WeCom judged the secret insecure: reset it in the admin console and update the configuration", true},
	50003: {"the app of this secret is disabled: enable it, or use the Contacts-Sync secret", true},
	60020: {"add this host's IP to the trusted IPs (企业可信IP) of the Contacts-Sync tool; a change takes about a minute", true},
	48002: {fixEditSecret, true},
	48008: {fixEditSecret, true},
	48009: {"the Contacts-Sync secret may not read member or department details from this IP (since 2022-08-15): only user/list_id and department/simplelist are open, so run with restricted reads", true},

	-1:     {"WeCom is busy; retried without success", false},
	6000:   {"data version conflict; retried without success", false},
	40014:  {"the access token was rejected twice", false},
	42001:  {"the access token expired twice in a row", false},
	40032:  {"more than 200 userids in one batchdelete", false},
	40033:  {"the request contains \\uXXXX escapes", false},
	45009:  {"call frequency limit reached", false},
	45033:  {"too many concurrent calls; retried without success", false},
	60003:  {"the department does not exist", false},
	60123:  {"the department id is invalid", false},
	60004:  {"the parent department does not exist", false},
	60005:  {"the department still has members", false},
	60006:  {"the department still has sub-departments", false},
	60008:  {"a department with this id or sibling name exists", false},
	60102:  {"the userid exists (userids are case-insensitive)", false},
	60104:  {"the mobile is used by another member", false},
	60106:  {"the email is used by another member", false},
	60111:  {"the userid does not exist", false},
	302008: {"another import job is still running", false},
}

// tailRE matches the noise WeCom appends to errmsg.
var tailRE = regexp.MustCompile(`(?i)[,;]?\s*(hint:|from ip:|more info at).*$`)

// secretParamRE matches credentials in URLs: net/http errors quote the
// whole request URL, query string included.
var secretParamRE = regexp.MustCompile(`(?i)(access_token|corpsecret)=[^&\s"'<>]*`)

// shortMsg trims errmsg to its informative head. It does not redact:
// msg must already have gone through Client.redact.
func shortMsg(msg string) string {
	return strings.TrimSpace(tailRE.ReplaceAllString(msg, ""))
}

// scrub removes credentials given as URL parameters.
func scrub(s string) string {
	return secretParamRE.ReplaceAllString(s, "${1}=REDACTED")
}

// newAPIError builds the typed error for a non-zero errcode. msg must be
// redacted already (Client.redact): the error text is logged as is.
func newAPIError(api string, code int, msg string) error {
	ae := APIError{API: api, Code: code, Msg: shortMsg(msg)}
	if h, ok := codeHints[code]; ok && h.config {
		return &ConfigError{APIError: ae, Fix: h.text}
	}
	return &ae
}

// transportError is a failed HTTP exchange with credentials scrubbed from
// its text. It unwraps to the cause inside *url.Error (a *net.OpError,
// io.EOF, context.Canceled...), never to the *url.Error that holds the URL.
type transportError struct {
	api string
	msg string
	err error
}

func (e *transportError) Error() string { return "wecom " + e.api + ": " + e.msg }
func (e *transportError) Unwrap() error { return e.err }
