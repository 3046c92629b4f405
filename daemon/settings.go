package daemon

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/logging"
	"github.com/orgsync/orgsync/notify"
	"github.com/orgsync/orgsync/scheduler"
)

// DefaultListen is where the daemon serves HTTP when server.listen is not
// set: loopback only, since /v1/sync changes WeCom.
const DefaultListen = "127.0.0.1:9469"

// ServerConfig is the `server:` block:
//
//	server:
//	  listen: 127.0.0.1:9469      # /healthz /readyz /metrics /v1/...
//	  token_file: $CREDENTIALS_DIRECTORY/api-token   # or token: ${ORGSYNC_API_TOKEN}
//
// POST /v1/sync needs "Authorization: Bearer TOKEN" and is refused when no
// token is configured; GET /v1/* need it when one is configured.
type ServerConfig struct {
	Listen    string        `yaml:"listen"`
	Token     config.Secret `yaml:"token"`
	TokenFile string        `yaml:"token_file"`
}

// Settings is everything the daemon reads from one config file.
type Settings struct {
	File     *config.File
	Schedule scheduler.Config
	Server   ServerConfig
	Log      logging.Config
	Notify   notify.Config
	// Token is the API token read from server.token or server.token_file.
	Token config.Secret
}

// Load reads a config file and decodes the daemon's blocks, reporting
// every problem at once (config.Problems), the main config's and the
// blocks' together. The engine's own checks (sources, mapping) are
// engine.Build's.
func Load(path string) (*Settings, error) {
	f, err := config.Load(path)
	var probs config.Problems
	if err != nil {
		if !errors.As(err, &probs) || f == nil {
			return nil, err
		}
	}
	s, err := FromFile(f)
	if err := config.JoinProblems(probs, err); err != nil {
		var all config.Problems
		errors.As(err, &all)
		return nil, withFile(all, filepath.Base(path))
	}
	return s, nil
}

var blockLineRe = regexp.MustCompile(`^line (\d+): `)

// withFile names the file in the blocks' "line N: ..." problems, as the
// main config's are ("orgsync.yaml:N: ..."), in line order.
func withFile(p config.Problems, name string) config.Problems {
	out := make(config.Problems, len(p))
	for i, s := range p {
		out[i] = blockLineRe.ReplaceAllString(s, name+":$1: ")
	}
	lineOf := func(s string) int {
		if m := regexp.MustCompile(`^[^:\s]*:(\d+): `).FindStringSubmatch(s); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
		return 0
	}
	sort.SliceStable(out, func(i, j int) bool { return lineOf(out[i]) < lineOf(out[j]) })
	return out
}

// FromFile decodes the daemon's blocks of a loaded config.
func FromFile(f *config.File) (*Settings, error) {
	s := &Settings{File: f}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	s.Schedule, err = scheduler.Decode(&f.Schedule)
	add(err)
	add(config.DecodeBlock(&f.Server, "server", &s.Server))
	if s.Server.Listen == "" {
		s.Server.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(s.Server.Listen); err != nil {
		add(fmt.Errorf("server.listen: %q: want host:port, e.g. %s", s.Server.Listen, DefaultListen))
	}
	f.NormalizeSecretRef(&s.Server.Token, &s.Server.TokenFile)
	if s.Server.TokenFile != "" && !s.Server.Token.Empty() {
		add(errors.New("server: set token or token_file, not both"))
	} else if tok, err := config.ReadSecretRef(s.Server.Token, s.Server.TokenFile); err != nil {
		add(fmt.Errorf("server.token_file: %w", err))
	} else {
		s.Token = tok
	}
	add(config.DecodeBlock(&f.Log, "log", &s.Log))
	if err := s.Log.Validate(); err != nil {
		add(fmt.Errorf("log: %w", err))
	}
	s.Notify, err = notify.Decode(f)
	add(err)
	for _, p := range f.SecretRefProblems() { // unset ${VAR}s of the blocks above
		add(errors.New(p))
	}
	if err := config.JoinProblems(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// TriggerURL is the URL `orgsync trigger` posts to for a listen address:
// a wildcard host (0.0.0.0, ::, "") is reached on loopback.
func TriggerURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("server.listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/v1/sync", nil
}
