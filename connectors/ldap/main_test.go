package ldap

import (
	"os"
	"sync"
	"testing"

	"github.com/orgsync/orgsync/internal/testservers"
)

// The Samba DC listens on fixed ports, so one serves every test of this
// package (none of which run in parallel), started on first use and killed
// in TestMain whatever the outcome.
var (
	dcOnce sync.Once
	dc     *testservers.SambaDC
	dcDir  string
	dcErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if dc != nil {
		dc.Stop()
	}
	if dcDir != "" {
		os.RemoveAll(dcDir)
	}
	os.Exit(code)
}

// needSamba returns the shared DC, skipping the test (or failing it under
// ORGSYNC_REQUIRE_SERVERS=1) when Samba cannot run here.
func needSamba(t *testing.T) *testservers.SambaDC {
	t.Helper()
	if testing.Short() {
		t.Skip("Samba AD DC test skipped in -short mode")
	}
	if err := testservers.SambaUsable(); err != nil {
		testservers.SkipOrFail(t, err)
	}
	dcOnce.Do(func() {
		dcDir, dcErr = os.MkdirTemp("", "orgsync-samba-")
		if dcErr != nil {
			return
		}
		dc, dcErr = testservers.StartSambaDC(dcDir)
		if dcErr == nil {
			dcErr = seedAD(dc)
		}
	})
	if dcErr != nil {
		t.Fatalf("samba AD DC: %v", dcErr)
	}
	return dc
}
