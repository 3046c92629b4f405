package mapping

import (
	"fmt"
	"time"

	"github.com/orgsync/orgsync/connectors/ldap/attr"
)

// LDAP / Active Directory helpers. The LDAP source also emits derived
// fields (ou_path, uac_disabled, expired, manager_key); these functions let
// rules work from the raw attributes too, e.g.
// `enabled: !uac_disabled(userAccountControl)`.

func uacDisabledFn(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("uac_disabled takes 1 argument, got %d", len(args))
	}
	return attr.UACDisabled(args[0]), nil
}

func uacHasFn(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("uac_has takes 2 arguments, got %d", len(args))
	}
	flag, ok := attr.Int(args[1])
	if !ok {
		return nil, fmt.Errorf("uac_has: flag %v is not a number", args[1])
	}
	return attr.UACHas(args[0], int(flag)), nil
}

// adTimeFn turns an AD FILETIME (accountExpires, lockoutTime, pwdLastSet)
// or an LDAP GeneralizedTime into RFC 3339 UTC; "never" and unset are "".
func adTimeFn(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("ad_time takes 1 argument, got %d", len(args))
	}
	s := toString(args[0])
	if s == "" {
		return "", nil
	}
	if t, ok := attr.ADTimeToTime(s); ok {
		return t.UTC().Format(time.RFC3339), nil
	}
	if t, ok := attr.GeneralizedTime(s); ok {
		return t.UTC().Format(time.RFC3339), nil
	}
	if _, ok := attr.Int(s); ok {
		return "", nil // 0 or 9223372036854775807: never
	}
	return nil, &ValueError{Value: s, Msg: "not an AD or LDAP time"}
}

func ouPathFn(args ...any) (any, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, fmt.Errorf("ou_path takes 1 or 2 arguments, got %d", len(args))
	}
	base := ""
	if len(args) == 2 {
		base = toString(args[1])
	}
	return attr.OUPath(toString(args[0]), base, true), nil
}
