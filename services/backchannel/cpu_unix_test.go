//go:build unix

package backchannel

import (
	"syscall"
	"testing"
	"time"
)

// cpuClock measures the CPU time (user and system) of the whole process,
// so a benchmark also counts the goroutines of its fake receivers.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{start: processCPU()} }

// report adds cpu-ns/op to the benchmark's results.
func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
