package config

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
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
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return Secret(v), nil
}

// ResolveCredentialPath expands a leading "$CREDENTIALS_DIRECTORY/" (systemd
// LoadCredential=) in a secret file path.
func ResolveCredentialPath(p string) string {
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
func (f *File) NormalizeSecretRef(v *Secret, file *string) {
	*v = Secret(expandEnv(v.Reveal()))
	if *file != "" {
		*file = f.Resolve(ResolveCredentialPath(*file))
	}
}

// ReadSecretRef returns a referenced secret: the file's content when a file
// is set, else the inline value.
func ReadSecretRef(v Secret, file string) (Secret, error) {
	if file != "" {
		return ReadSecretFile(file)
	}
	return v, nil
}
