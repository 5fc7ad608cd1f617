package main

import (
	"testing"

	"github.com/signoff/signoff/shared/service/servicetest"
)

func TestRun(t *testing.T) {
	servicetest.WorkerMain(t, "backchannel", "    backchannel_logout_uri: http://127.0.0.1:9/bc\n", run)
}
