package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/orgsync/orgsync/internal/config"
	"github.com/orgsync/orgsync/internal/testservers"
)

// The pod the HA tests pretend the kubelet started.
const (
	testPodName = "orgsync-6f9c7d5b8-x2k4p"
	testPodIP   = "10.1.2.3"
)

func TestKubernetesHAExample(t *testing.T) {
	all := docs(t, "kubernetes/ha.yaml")
	byKind := map[string]map[string]any{}
	for _, d := range all {
		k := fmt.Sprint(d["kind"])
		if byKind[k] != nil {
			t.Fatalf("two %ss in ha.yaml: the tests read one of each", k)
		}
		byKind[k] = d
	}
	for _, k := range []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service"} {
		if byKind[k] == nil {
			t.Fatalf("no %s in ha.yaml", k)
		}
	}
	dep := byKind["Deployment"]
	pod := dig(dep, "spec", "template", "spec")
	c := dig(pod, "containers", 0)
	podLabels, _ := dig(dep, "spec", "template", "metadata", "labels").(map[string]any)
	selects := func(sel any) bool {
		m, _ := sel.(map[string]any)
		if len(m) == 0 {
			return false
		}
		for k, v := range m {
			if fmt.Sprint(podLabels[k]) != fmt.Sprint(v) {
				return false
			}
		}
		return true
	}
	rawCfg := fmt.Sprint(dig(byKind["ConfigMap"], "data", "orgsync.yaml"))

	t.Run("runs two daemons on different nodes, probed on the daemon's endpoints", func(t *testing.T) {
		for _, tc := range []struct {
			what string
			got  any
			want string
		}{
			{"replicas", dig(dep, "spec", "replicas"), "2"},
			{"liveness", dig(c, "livenessProbe", "httpGet", "path"), "/healthz"},
			{"readiness (true of a standby too)", dig(c, "readinessProbe", "httpGet", "path"), "/readyz"},
			{"non-root", dig(pod, "securityContext", "runAsNonRoot"), "true"},
			{"anti-affinity topology", dig(pod, "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution", 0, "topologyKey"), "kubernetes.io/hostname"},
			{"PodDisruptionBudget", dig(byKind["PodDisruptionBudget"], "spec", "maxUnavailable"), "1"},
		} {
			if fmt.Sprint(tc.got) != tc.want {
				t.Errorf("%s = %v, want %s", tc.what, tc.got, tc.want)
			}
		}
		for _, tc := range []struct {
			what string
			sel  any
		}{
			{"the anti-affinity", dig(pod, "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution", 0, "labelSelector", "matchLabels")},
			{"the PodDisruptionBudget", dig(byKind["PodDisruptionBudget"], "spec", "selector", "matchLabels")},
			{"the Service", dig(byKind["Service"], "spec", "selector")},
			{"the Deployment", dig(dep, "spec", "selector", "matchLabels")},
		} {
			if !selects(tc.sel) {
				t.Errorf("%s selects %v, not the pods (%v)", tc.what, tc.sel, podLabels)
			}
		}
		// With required anti-affinity on two nodes, a surge pod cannot be
		// scheduled and the rollout would hang.
		if s := fmt.Sprint(dig(dep, "spec", "strategy", "rollingUpdate", "maxSurge")); s != "0" {
			t.Errorf("maxSurge = %s: a surge pod has no node to go to under the required anti-affinity", s)
		}
		if dig(pod, "volumes") != nil {
			for _, v := range dig(pod, "volumes").([]any) {
				if claim := dig(v, "persistentVolumeClaim", "claimName"); claim != nil {
					for _, d := range all {
						if d["kind"] == "PersistentVolumeClaim" && dig(d, "metadata", "name") == claim {
							if modes := fmt.Sprint(dig(d, "spec", "accessModes")); modes != "[ReadWriteMany]" {
								t.Errorf("claim %v is %s: two pods on two nodes need ReadWriteMany", claim, modes)
							}
						}
					}
				}
			}
		}
	})

	// inPod writes the config as a pod sees it under root: the Secrets'
	// files at their mount paths below root. The pod's env (podEnv) is
	// what the daemon then expands ha.name and ha.advertise_url from.
	inPod := func(t *testing.T) (path string, files map[string]string) {
		root := t.TempDir()
		files = mountSecrets(t, c, pod, root, rawCfg)
		// One pass, longest mount first: /run/secrets/orgsync must not
		// rewrite /run/secrets/orgsync-postgres.
		var mounts, pairs []string
		for mount := range secretMounts(t, c, pod) {
			mounts = append(mounts, mount)
		}
		sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
		for _, m := range mounts {
			pairs = append(pairs, m, filepath.Join(root, m))
		}
		cfg := strings.NewReplacer(pairs...).Replace(rawCfg)
		path = filepath.Join(root, "orgsync.yaml")
		must(t, os.WriteFile(path, []byte(cfg), 0o644))
		return path, files
	}

	t.Run("two pods of it on one PostgreSQL: one leads, the other stands by naming it and its advertise_url", func(t *testing.T) {
		pg := testservers.StartPostgres(t)
		dsn, err := pg.NewDatabase()
		must(t, err)
		type podOf struct{ name, ip, listen, token string }
		pods := []*podOf{{name: "orgsync-6f9c7d5b8-x2k4p", ip: "10.1.2.3"}, {name: "orgsync-6f9c7d5b8-q7m2z", ip: "10.1.2.4"}}
		port := fmt.Sprint(dig(c, "ports", 0, "containerPort"))
		for _, p := range pods {
			path, files := inPod(t)
			for f, v := range files {
				switch {
				case strings.HasSuffix(f, "/orgsync-postgres/dsn"):
					must(t, os.WriteFile(f, []byte(dsn+"\n"), 0o600)) // the Secret made for this database
				case strings.HasSuffix(f, "/api-token"):
					p.token = v
				}
			}
			// Two pods have two IPs; here both share loopback.
			cfg := read(t, path)
			if !strings.Contains(cfg, "listen: 0.0.0.0:"+port) {
				t.Fatalf("server.listen is not 0.0.0.0:%s, the container port on the pod IP", port)
			}
			p.listen = freeLoopback(t)
			must(t, os.WriteFile(path, []byte(strings.Replace(cfg, "listen: 0.0.0.0:"+port, "listen: "+p.listen, 1)), 0o644))
			cmd := exec.Command(bin, "daemon", "-c", path)
			cmd.Env = os.Environ()
			for k, v := range podEnv(t, c, p.name, p.ip) {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var log bytes.Buffer
			cmd.Stdout, cmd.Stderr = &log, &log
			must(t, cmd.Start())
			t.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				_ = cmd.Wait()
				if t.Failed() {
					t.Logf("%s's log:\n%s", p.name, log.String())
				}
			})
		}
		type haStatus struct {
			HA *struct {
				Role   string `json:"role"`
				Name   string `json:"name"`
				Leader *struct {
					Holder string `json:"holder"`
					URL    string `json:"url"`
				} `json:"leader"`
			} `json:"ha"`
		}
		call := func(p *podOf, method, path string) (int, []byte) {
			req, _ := http.NewRequest(method, "http://"+p.listen+path, nil)
			req.Header.Set("Authorization", "Bearer "+p.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return 0, nil
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		// Poll until one leads and the other stands by behind its lease.
		var leader, standby *podOf
		var seen haStatus
		var last string
		for deadline := time.Now().Add(60 * time.Second); leader == nil || standby == nil; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no leader and standby within 60s; last answers:%s", last)
			}
			leader, standby, last = nil, nil, ""
			for _, p := range pods {
				code, b := call(p, "GET", "/v1/status")
				last += fmt.Sprintf("\n%s: %d %s", p.name, code, b)
				var st haStatus
				if code != http.StatusOK || json.Unmarshal(b, &st) != nil || st.HA == nil {
					continue
				}
				if st.HA.Name != p.name {
					t.Fatalf("%s: ha.name is %q, not the pod's name", p.name, st.HA.Name)
				}
				switch {
				case st.HA.Role == "leader":
					leader = p
				case st.HA.Role == "standby" && st.HA.Leader != nil && st.HA.Leader.Holder != "":
					standby, seen = p, st
				}
			}
		}
		if want := "http://" + leader.ip + ":" + port; seen.HA.Leader.Holder != leader.name || seen.HA.Leader.URL != want {
			t.Fatalf("the standby says the leader is %q at %q, want %q at %s", seen.HA.Leader.Holder, seen.HA.Leader.URL, leader.name, want)
		}
		code, b := call(standby, "POST", "/v1/sync")
		if code != http.StatusConflict || !strings.Contains(string(b), "http://"+leader.ip+":"+port) {
			t.Fatalf("POST /v1/sync to the standby: %d %s; want 409 with the leader's advertise_url", code, b)
		}
	})

	t.Run("the PostgreSQL DSN is a Secret mounted as state.dsn_file", func(t *testing.T) {
		path, files := inPod(t)
		f, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := files[f.State.DSNFile]
		if !ok {
			t.Fatalf("state.dsn_file %s is not a file of a mounted Secret (%v)", f.State.DSNFile, keys(files))
		}
		dsn, err := f.State.ReadDSN()
		if err != nil || dsn.Reveal() != want {
			t.Fatalf("ReadDSN = %v, %v; want the Secret's value", dsn, err)
		}
		for what, p := range map[string]string{"target.config.secret_file": f.Target.Config.SecretFile, "server.token_file": serverOf(t, f).TokenFile} {
			if _, ok := files[p]; !ok {
				t.Errorf("%s %s is not a file of a mounted Secret", what, p)
			}
		}
	})

	t.Run("the ConfigMap's config passes daemon --check and validate --offline in the pod", func(t *testing.T) {
		path, _ := inPod(t)
		for _, args := range [][]string{{"daemon", "--check", "-c", path}, {"validate", "--offline", "-c", path}} {
			cmd := exec.Command(bin, args...)
			cmd.Env = os.Environ()
			for k, v := range podEnv(t, c, testPodName, testPodIP) {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "ok") {
				t.Errorf("orgsync %s: %v\n%s", strings.Join(args[:2], " "), err, out)
			}
		}
	})
}

// TestKubernetesExamplesHoldNoSecret: every secret is a file from a Secret
// created beside the manifests, never a value in them, in the HA and the
// single-daemon examples alike.
func TestKubernetesExamplesHoldNoSecret(t *testing.T) {
	for _, file := range []string{"kubernetes/ha.yaml", "kubernetes/deployment.yaml", "kubernetes/cronjob.yaml"} {
		t.Run(file, func(t *testing.T) {
			for _, d := range docs(t, file) {
				if d["kind"] == "Secret" {
					t.Errorf("%s defines Secret %v: create it with kubectl instead", file, dig(d, "metadata", "name"))
				}
				inlineSecrets(t, file, d)
				if cfg, ok := dig(d, "data", "orgsync.yaml").(string); ok {
					var m map[string]any
					if err := yaml.Unmarshal([]byte(cfg), &m); err != nil {
						t.Fatalf("%s: the ConfigMap's orgsync.yaml: %v", file, err)
					}
					inlineSecrets(t, file+" orgsync.yaml", m)
				}
				for _, c := range []any{
					dig(d, "spec", "template", "spec", "containers"),
					dig(d, "spec", "jobTemplate", "spec", "template", "spec", "containers"),
				} {
					cs, _ := c.([]any)
					for _, c := range cs {
						envs, _ := dig(c, "env").([]any)
						for _, e := range envs {
							if dig(e, "valueFrom", "secretKeyRef") != nil {
								t.Errorf("%s: env %v comes from a Secret: mount it as a file (environment variables leak into crash dumps and child processes)", file, dig(e, "name"))
							}
						}
					}
				}
			}
		})
	}
}

// secretKey matches the path of a config key whose value would be a
// secret (target.config.secret, state.dsn, server.token, a password, the
// robot's key).
var secretKey = regexp.MustCompile(`\.(secret|dsn|token|password|bind_password|api_key|wecom_robot\.key)$`)

// credentialURL is a URL with a password in it (postgres://u:pw@host).
var credentialURL = regexp.MustCompile(`^[a-z][a-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@`)

// inlineSecrets fails t for every value under a secret-looking key that is
// set to anything but a ${ENV_VAR}, and every URL carrying a password.
func inlineSecrets(t *testing.T, where string, v any) {
	t.Helper()
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && secretKey.MatchString(path+"."+k) && s != "" && !regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`).MatchString(s) {
					t.Errorf("%s: %s.%s holds a value inline", where, path, k)
				}
				walk(path+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		case string:
			if credentialURL.MatchString(v) {
				t.Errorf("%s: %s is a URL with a password in it", where, path)
			}
		}
	}
	walk("", v)
}

var kubeEnvRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// podEnv is the container's environment as the kubelet would set it for
// a pod named name at ip: downward-API fields, and $(VAR) in a value
// expanded from the variables defined before it.
func podEnv(t *testing.T, c any, name, ip string) map[string]string {
	t.Helper()
	fields := map[string]string{"metadata.name": name, "status.podIP": ip}
	env := map[string]string{}
	envs, _ := dig(c, "env").([]any)
	for _, e := range envs {
		key := fmt.Sprint(dig(e, "name"))
		if f := dig(e, "valueFrom", "fieldRef", "fieldPath"); f != nil {
			v, ok := fields[fmt.Sprint(f)]
			if !ok {
				t.Fatalf("env %s: field %v is not one the test fakes", key, f)
			}
			env[key] = v
			continue
		}
		env[key] = kubeEnvRef.ReplaceAllStringFunc(fmt.Sprint(dig(e, "value")), func(ref string) string {
			v, ok := env[kubeEnvRef.FindStringSubmatch(ref)[1]]
			if !ok {
				t.Fatalf("env %s: %s is not defined before it, and the kubelet would leave it as is", key, ref)
			}
			return v
		})
	}
	return env
}

// freeLoopback is a loopback address with a port free at the moment.
func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().String()
}

// secretMounts maps each mount path of a Secret volume in container c to
// that volume.
func secretMounts(t *testing.T, c, pod any) map[string]any {
	t.Helper()
	vols := map[string]any{}
	vs, _ := dig(pod, "volumes").([]any)
	for _, v := range vs {
		if dig(v, "secret") != nil {
			vols[fmt.Sprint(dig(v, "name"))] = dig(v, "secret")
		}
	}
	out := map[string]any{}
	ms, _ := dig(c, "volumeMounts").([]any)
	for _, m := range ms {
		if s, ok := vols[fmt.Sprint(dig(m, "name"))]; ok {
			out[fmt.Sprint(dig(m, "mountPath"))] = s
		}
	}
	if len(out) == 0 {
		t.Fatal("no Secret is mounted in the container")
	}
	return out
}

// mountSecrets lays out under root the files the container's Secret
// volumes would show: a volume with items: shows exactly those paths; one
// without shows every key of its Secret, here the files the config names
// under its mount (the keys the kubectl commands in the comments create).
// cfg is the config as written, naming the mount paths.
// It returns each file's path (as the rewritten config names it) and value.
func mountSecrets(t *testing.T, c, pod any, root, cfg string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for mount, s := range secretMounts(t, c, pod) {
		dir := filepath.Join(root, mount)
		must(t, os.MkdirAll(dir, 0o755))
		var names []string
		if items, ok := dig(s, "items").([]any); ok {
			for _, it := range items {
				names = append(names, fmt.Sprint(dig(it, "path")))
			}
		} else {
			for _, m := range regexp.MustCompile(regexp.QuoteMeta(mount)+`/([A-Za-z0-9._-]+)`).FindAllStringSubmatch(cfg, -1) {
				names = append(names, m[1])
			}
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			v := "value-of-" + fmt.Sprint(dig(s, "secretName")) + "-" + n
			must(t, os.WriteFile(p, []byte(v+"\n"), 0o600))
			files[p] = v
		}
	}
	return files
}

// serverOf decodes the server: block the daemon reads.
func serverOf(t *testing.T, f *config.File) (s struct {
	Listen    string `yaml:"listen"`
	TokenFile string `yaml:"token_file"`
}) {
	t.Helper()
	if err := f.Server.Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
