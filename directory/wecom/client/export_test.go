package client

// Test helpers of the internal tests (helpers_test.go) for the external
// test package wecom_test; like every _test.go file this one is compiled
// only into the test binary.

// FakeClock is a Clock whose Sleep advances time instantly.
type FakeClock = fakeClock

var (
	// NewFakeClock returns a FakeClock reading t.
	NewFakeClock = newFakeClock
	// AssertNoLeaks fails t if a captured log line or an error contains
	// one of needles.
	AssertNoLeaks = assertNoLeaks
)
