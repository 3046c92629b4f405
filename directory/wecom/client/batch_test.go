package client

import (
	"errors"
	"fmt"
	"testing"
)

func TestIsJobGoneOnlyForAJobWeComNoLongerKnows(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"40088: an unknown jobid", &APIError{API: "batch/getresult", Code: CodeJobUnknown}, true},
		{"40089: a purged result, wrapped", fmt.Errorf("await: %w", &APIError{API: "batch/getresult", Code: CodeJobPurged}), true},
		{"the wait timed out: the job may still finish", fmt.Errorf("job x: %w", ErrJobTimeout), false},
		{"a busy system: ask again", &APIError{API: "batch/getresult", Code: CodeSystemBusy}, false},
		{"no answer", errors.New("connection reset"), false},
		{"no error", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := IsJobGone(c.err); got != c.want {
				t.Fatalf("IsJobGone(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}
