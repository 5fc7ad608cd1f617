package main

import (
	"testing"

	"github.com/signoff/signoff/shared/service/servicetest"
)

func TestRun(t *testing.T) {
	servicetest.WorkerMain(t, "webhook", "    webhook_uri: http://127.0.0.1:9/hook\n    webhook_secret: test-secret\n", run)
}
