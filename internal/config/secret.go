package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Secret is a string that never prints: fmt, %v, %+v, %#v, JSON and YAML
// marshalling all show "<secret>". Use Reveal where the value must be sent.
type Secret string

const redacted = "<secret>"

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// Format makes every verb print the placeholder, including %q and %x.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }
func (s Secret) MarshalYAML() (any, error)    { return redacted, nil }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// Empty reports whether the secret is unset.
func (s Secret) Empty() bool { return s == "" }

// ReadSecretFile reads a secret from a file (a systemd credential, a
// Kubernetes secret mount), trimming one trailing newline and surrounding
// white space as editors and `echo` leave them.
func ReadSecretFile(path string) (Secret, error) {
	if strings.HasPrefix(path, credDirRef) {
		name := filepath.Base(path)
		return "", fmt.Errorf("secret file %s: %w: systemd sets it for a unit with LoadCredential=%s:FILE; outside the unit run the command "+
			"with systemd-run --pipe -p LoadCredential=%s:FILE -p DynamicUser=yes -p StateDirectory=orgsync, or set CREDENTIALS_DIRECTORY "+
			"to a directory holding %s", path, ErrNoCredentialsDirectory, name, name, name)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// Never the path's text when it may be the secret itself,
			// pasted into secret_file: by mistake.
			return "", fmt.Errorf("read secret file %s: %w", shownPath(path), pe.Err)
		}
		return "", fmt.Errorf("read secret file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", shownPath(path))
	}
	return Secret(v), nil
}

// shownPath is a secret file's path as errors show it: as it is, unless
// its last element looks like a secret rather than a file name (long, no
// extension, letters and digits mixed), as when a secret is pasted into
// secret_file: instead of secret:.
func shownPath(path string) string {
	base := filepath.Base(path)
	if len(base) < 16 || strings.Contains(base, ".") {
		return path
	}
	letters, digits := false, false
	for _, r := range base {
		letters = letters || unicode.IsLetter(r)
		digits = digits || unicode.IsDigit(r)
	}
	if !letters || !digits {
		return path
	}
	return filepath.Join(filepath.Dir(path), "<a name that looks like a secret, not shown: did you mean secret: instead of secret_file:?>")
}

// ErrNoCredentialsDirectory: a secret file is under $CREDENTIALS_DIRECTORY
// but the variable is unset, as it is outside a systemd unit with
// LoadCredential=.
var ErrNoCredentialsDirectory = errors.New("$CREDENTIALS_DIRECTORY is not set")

const credDirRef = "$CREDENTIALS_DIRECTORY"

// ResolveCredentialPath expands a leading "$CREDENTIALS_DIRECTORY/" (systemd
// LoadCredential=) in a secret file path. While the variable is unset the
// path is left as written, so that reading it says why
// (ErrNoCredentialsDirectory) instead of failing on "/wecom-secret".
func ResolveCredentialPath(p string) string {
	if os.Getenv("CREDENTIALS_DIRECTORY") == "" && (strings.HasPrefix(p, credDirRef) || strings.HasPrefix(p, "${CREDENTIALS_DIRECTORY}")) {
		return credDirRef + strings.TrimPrefix(strings.TrimPrefix(p, "${CREDENTIALS_DIRECTORY}"), credDirRef)
	}
	return os.Expand(p, func(k string) string {
		if k == "CREDENTIALS_DIRECTORY" {
			return os.Getenv(k)
		}
		return "$" + k
	})
}

// A secret reference is a secret given inline (`secret:`, `token:`, `key:`,
// which may be a whole-value ${ENV_VAR}) or as a file (`secret_file:`, …),
// never both; each config block names the pair its own way.

// NormalizeSecretRef expands ${ENV_VAR} in the inline value and resolves the
// file path against the config file's directory and $CREDENTIALS_DIRECTORY.
//
// A ${VAR} that is not set is a problem, named with its line, which
// SecretRefProblems returns: an unset variable must not read as "no
// secret" (no API token would mean an open API).
func (f *File) NormalizeSecretRef(v *Secret, file *string) {
	raw := v.Reveal()
	if m := envRef.FindStringSubmatch(strings.TrimSpace(raw)); m != nil {
		if _, ok := os.LookupEnv(m[1]); !ok {
			// The reference stays as written (not ""), so that no other check
			// takes it for a missing secret: this problem is the one to fix.
			f.refProblem = append(f.refProblem, f.locate(raw, fmt.Sprintf("${%s} is not set in the environment", m[1])))
			return
		}
	}
	*v = Secret(expandEnv(raw))
	if *file != "" {
		*file = ResolveCredentialPath(*file)
		if !strings.HasPrefix(*file, credDirRef) {
			*file = f.Resolve(*file)
		}
	}
}

// SecretRefProblems returns, once, the problems NormalizeSecretRef found
// since the last call.
func (f *File) SecretRefProblems() []string {
	p := f.refProblem
	f.refProblem = nil
	return p
}

// locate prefixes msg with the file:line and key of the scalar value raw.
func (f *File) locate(raw, msg string) string {
	if f.root == nil {
		return msg
	}
	var line int
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if line != 0 {
			return
		}
		if n.Kind == yaml.ScalarNode && n.Value == raw {
			line = n.Line
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(f.root)
	if line == 0 {
		return fmt.Sprintf("%s: %s", f.name, msg)
	}
	if p := pathAtLine(f.root, line, raw); p != "" {
		return fmt.Sprintf("%s:%d: %s: %s", f.name, line, p, msg)
	}
	return fmt.Sprintf("%s:%d: %s", f.name, line, msg)
}

// ReadSecretRef returns a referenced secret: the file's content when a file
// is set, else the inline value.
func ReadSecretRef(v Secret, file string) (Secret, error) {
	if file != "" {
		return ReadSecretFile(file)
	}
	return v, nil
}
