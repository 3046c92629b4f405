package deploy

import (
	"fmt"
	"strings"
	"testing"
)

func TestContainerImageAndKubernetesHardening(t *testing.T) {
	df := read(t, "docker/Dockerfile")
	t.Run("the image checks its own health without a shell", func(t *testing.T) {
		if !strings.Contains(df, `HEALTHCHECK `) || !strings.Contains(df, `CMD ["/usr/bin/orgsync", "healthcheck"]`) {
			t.Fatal("no HEALTHCHECK running 'orgsync healthcheck' (distroless has no shell or curl)")
		}
		if out := run(t, bin, "healthcheck", "--help"); !strings.Contains(out, "127.0.0.1:9469") {
			t.Fatalf("healthcheck --help: %s", out)
		}
	})
	t.Run("the build context leaves out builds, git and test data", func(t *testing.T) {
		ignore := strings.Fields(read(t, "../.dockerignore"))
		for _, want := range []string{".git", "bin", "dist", "demo-run", "**/testdata", "*.db"} {
			found := false
			for _, l := range ignore {
				found = found || l == want
			}
			if !found {
				t.Errorf(".dockerignore lacks %s", want)
			}
		}
	})
	for _, f := range []string{"kubernetes/deployment.yaml", "kubernetes/cronjob.yaml"} {
		for _, d := range docs(t, f) {
			var pod any
			switch d["kind"] {
			case "Deployment":
				pod = dig(d, "spec", "template", "spec")
			case "CronJob":
				pod = dig(d, "spec", "jobTemplate", "spec", "template", "spec")
			default:
				continue
			}
			t.Run(f, func(t *testing.T) {
				if v := dig(pod, "automountServiceAccountToken"); v != false {
					t.Errorf("automountServiceAccountToken = %v, want false", v)
				}
				c := dig(pod, "containers", 0)
				img := fmt.Sprint(dig(c, "image"))
				if i := strings.LastIndex(img, ":"); i < 0 || strings.HasSuffix(img, ":latest") || strings.Contains(img[i:], "/") {
					t.Errorf("image %q is not pinned to a release or digest", img)
				}
				if dig(c, "securityContext", "readOnlyRootFilesystem") != true {
					t.Error("the root filesystem is writable")
				}
				tmp := false
				for i := 0; dig(c, "volumeMounts", i) != nil; i++ {
					if dig(c, "volumeMounts", i, "mountPath") == "/tmp" {
						name := dig(c, "volumeMounts", i, "name")
						for j := 0; dig(pod, "volumes", j) != nil; j++ {
							if dig(pod, "volumes", j, "name") == name && dig(pod, "volumes", j, "emptyDir") != nil {
								tmp = true
							}
						}
					}
				}
				if !tmp {
					t.Error("no emptyDir on /tmp (the root filesystem is read-only)")
				}
			})
		}
	}
}
