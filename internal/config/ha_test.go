package config

import (
	"strings"
	"testing"
	"time"
)

func TestHABlocks(t *testing.T) {
	t.Setenv("ORGSYNC_TEST_PG_DSN", "host=db")
	t.Setenv("POD_IP", "10.1.2.3")
	t.Setenv("POD_NAME", "orgsync-7c9d")
	const pg = "state:\n  driver: postgres\n  dsn: ${ORGSYNC_TEST_PG_DSN}\n"
	for name, tt := range map[string]struct{ block, want string }{
		"the defaults":                               {pg + "ha: {enabled: true}\n", ""},
		"names from the pod's env":                   {pg + "ha: {enabled: true, name: \"${POD_NAME}\", advertise_url: \"http://${POD_IP}:9469\"}\n", ""},
		"an IPv6 advertise_url":                      {pg + "ha: {enabled: true, advertise_url: \"http://[::1]:9469\"}\n", ""},
		"ha on SQLite":                               {"ha: {enabled: true}\n", "ha.enabled: needs state.driver: postgres"},
		"a lease too short":                          {pg + "ha: {enabled: true, lease: 1s}\n", "ha.lease: 1s is too short"},
		"an unset variable is the daemon's to check": {pg + "ha: {enabled: true, advertise_url: \"http://${NO_SUCH_VAR_ORGSYNC}:9469\"}\n", ""},
		"not a URL":                                  {pg + "ha: {enabled: true, advertise_url: \"10.0.0.5:9469\"}\n", `ha.advertise_url: "10.0.0.5:9469" is not an http(s) URL`},
		"ha off needs nothing of state":              {"ha: {enabled: false, lease: 1s}\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(stateConfig(tt.block), "/etc/orgsync/orgsync.yaml")
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if f.HA.Enabled && f.HA.LeaseOrDefault() != DefaultLease {
					t.Fatalf("lease %v", f.HA.LeaseOrDefault())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	h, err := HASpec{Name: "${POD_NAME}", AdvertiseURL: "http://$POD_IP:9469"}.Expand()
	if err != nil || h.Name != "orgsync-7c9d" || h.AdvertiseURL != "http://10.1.2.3:9469" {
		t.Fatalf("Expand = %+v, %v", h, err)
	}
	if _, err := (HASpec{AdvertiseURL: "http://${NO_SUCH_VAR_ORGSYNC}:9469"}).Expand(); err == nil || !strings.Contains(err.Error(), "names $NO_SUCH_VAR_ORGSYNC, which is not set") {
		t.Fatalf("Expand of an unset variable: %v", err)
	}
	if _, err := (HASpec{AdvertiseURL: "$POD_IP:9469"}).Expand(); err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
		t.Fatalf("Expand of a bad URL: %v", err)
	}
	f, err := Parse(stateConfig(pg+"ha: {enabled: true, lease: 30s}\n"), "/etc/orgsync/orgsync.yaml")
	if err != nil || f.HA.LeaseOrDefault() != 30*time.Second {
		t.Fatalf("lease 30s: %v %v", f.HA.LeaseOrDefault(), err)
	}
}
