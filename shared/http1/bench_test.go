//go:build unix

package http1_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signoff/signoff/shared/http1"
)

// BenchmarkPost compares one small POST (a logout token's size) over a
// kept-alive loopback connection through net/http's Transport and through
// http1's. The receiver runs in the same process, so the times include
// its work too: compare the two in one run. cpu-ns/op is the process's
// CPU time (user and system) per POST, both sides'.
func BenchmarkPost(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	body := "logout_token=" + strings.Repeat("x", 600)
	for _, tc := range []struct {
		name string
		tr   http.RoundTripper
	}{
		{"net-http", &http.Transport{MaxIdleConnsPerHost: 64}},
		{"http1", &http1.Transport{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			client := &http.Client{Transport: tc.tr}
			defer client.CloseIdleConnections()
			b.ReportAllocs()
			b.SetParallelism(5) // 10 POSTs at a time on 2 CPUs, as a K=10 fan-out
			cpu0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/logout", strings.NewReader(body))
					req.Header = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					cancel()
					if resp.StatusCode != http.StatusOK {
						b.Fatal(resp.Status)
					}
				}
			})
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
