package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/orgsync/orgsync/directory"
	"github.com/orgsync/orgsync/engine"
)

func TestTheTextReportShowsPacingWhereItMattered(t *testing.T) {
	var b bytes.Buffer
	printReport(&b, &engine.Report{RunID: 3, Status: engine.StatusSucceeded, Changes: engine.ChangeCounts{}, Pacing: []directory.Pace{
		{API: "user/create", Calls: 5000, PerMinute: 9150, Limit: 10000, Ratio: 0.915},
		{API: "user/update", Calls: 40, PerMinute: 280, Limit: 300, Learned: true, Ratio: 0.93},
		{API: "department/create", Calls: 3, PerMinute: 20000, Limit: 10000, Ratio: 2},
	}})
	out := b.String()
	for _, want := range []string{
		"pace user/create          5000 calls at 9150/min, 0.92 of the limit (10000/min)",
		"pace user/update          40 calls at 280/min, 0.93 of the limit (300/min, learned from a 45009: rate_per_minute is set too high)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "department/create") {
		t.Errorf("three calls' pace is noise:\n%s", out)
	}
}
