//go:build !unix

package backchannel

import "testing"

// cpuClock reports nothing where getrusage is missing.
type cpuClock struct{}

func startCPU() cpuClock { return cpuClock{} }

func (cpuClock) report(*testing.B) {}
