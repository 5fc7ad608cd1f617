package backchannel

import (
	"bufio"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/propagate"
)

// benchK is the number of clients of the benchmarked logout.
const benchK = 10

// receiverEnv makes the test binary a benchmark receiver instead.
const receiverEnv = "BACKCHANNEL_BENCH_RECEIVER"

func TestMain(m *testing.M) {
	if os.Getenv(receiverEnv) == "1" {
		serveBenchReceiver()
		return
	}
	os.Exit(m.Run())
}

// benchReceiver answers 204 to a request with a logout_token.
func benchReceiver() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("logout_token") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// serveBenchReceiver runs an httptest receiver, prints its URL and serves
// until its standard input closes (the benchmark ended or died).
func serveBenchReceiver() {
	srv := httptest.NewServer(benchReceiver())
	fmt.Println(srv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

// startReceiver starts the benchmark receiver in a child process, so that
// the process CPU time the benchmark reports is the worker's alone. Where
// that fails it serves in this process.
func startReceiver(b *testing.B) (url string, separate bool) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), receiverEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err == nil {
		var stdout io.ReadCloser
		if stdout, err = cmd.StdoutPipe(); err == nil {
			if err = cmd.Start(); err == nil {
				b.Cleanup(func() {
					_ = stdin.Close()
					_ = cmd.Wait()
				})
				if line, err := bufio.NewReader(stdout).ReadString('\n'); err == nil {
					return strings.TrimSpace(line), true
				}
			}
		}
	}
	b.Logf("receiver in this process: %v", err)
	srv := httptest.NewServer(benchReceiver())
	b.Cleanup(srv.Close)
	return srv.URL, false
}

// BenchmarkPropagate measures one logout that reaches K=10 clients: each op
// is ten Propagate calls over loopback to an httptest receiver answering
// 204, with token minting, the request and the response. The receiver runs
// in a child process, so cpu-ns/op is the CPU time (user and system, all
// goroutines) that the worker spends per logout.
func BenchmarkPropagate(b *testing.B) {
	ks := testKeys(b)
	url, separate := startReceiver(b)
	if !separate {
		b.Log("cpu-ns/op includes the receiver")
	}
	p := New(ks, issuer, NewHTTPClient())
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			deliveries := make([]*propagate.Delivery, benchK)
			for i := range deliveries {
				c := &config.Client{
					ClientID:                 "client-" + strconv.Itoa(i),
					IDTokenSignedResponseAlg: alg,
					BackchannelLogoutURI:     url + "/bc/" + strconv.Itoa(i),
				}
				deliveries[i] = delivery(c, "alice-"+strconv.Itoa(i), "sid-1")
			}
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				for _, d := range deliveries {
					if err := p.Propagate(b.Context(), d); err != nil {
						b.Fatal(err)
					}
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkBareRSASign is RS256's floor for BenchmarkPropagate/RS256: ten
// PKCS#1 v1.5 signatures with a 2048-bit key, nothing else.
func BenchmarkBareRSASign(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSJ9"))
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		for range benchK {
			if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu.report(b)
}

// BenchmarkBareHTTP is the transport's floor for BenchmarkPropagate: ten
// POSTs of a token-sized form to the same receiver (in another process, so
// cpu-ns/op is the client's alone), nothing signed, with a plain
// http.Client (net/http's transport) and with the workers' client
// (NewHTTPClient: http1's).
func BenchmarkBareHTTP(b *testing.B) {
	url, _ := startReceiver(b)
	body := "logout_token=" + strings.Repeat("a", 400)
	for _, tc := range []struct {
		name   string
		client *http.Client
	}{
		{"net-http", &http.Client{}},
		{"http1", NewHTTPClient()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				for range benchK {
					resp, err := tc.client.Post(url, "application/x-www-form-urlencoded", strings.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			}
			cpu.report(b)
		})
	}
}
