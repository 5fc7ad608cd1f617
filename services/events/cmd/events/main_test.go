package main

import (
	"testing"

	"github.com/signoff/signoff/shared/service/servicetest"
)

func TestRun(t *testing.T) {
	servicetest.WorkerMain(t, "events", "    logout_events: true\n", run)
}
