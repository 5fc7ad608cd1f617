package backchannel

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/propagate"
)

// benchK is the number of clients of the benchmarked logout.
const benchK = 10

// BenchmarkPropagate measures one logout that reaches K=10 clients, each
// op ten Propagate calls over loopback to a receiver answering 204: token
// minting, the request, the receiver's handling and the response. cpu-ns/op
// is the CPU time of the whole process (client and receiver) per logout.
func BenchmarkPropagate(b *testing.B) {
	ks := testKeys(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("logout_token") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	p := New(ks, issuer, NewHTTPClient())
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			deliveries := make([]*propagate.Delivery, benchK)
			for i := range deliveries {
				c := &config.Client{
					ClientID:                 "client-" + strconv.Itoa(i),
					IDTokenSignedResponseAlg: alg,
					BackchannelLogoutURI:     srv.URL + "/bc/" + strconv.Itoa(i),
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
