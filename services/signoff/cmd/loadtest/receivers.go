package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// receivers are K back-channel clients on one loopback server. Each
// verifies the logout token it gets against the front's JWKS and every
// claim rule, and records when each session's token arrived.
type receivers struct {
	s      scenario
	srv    *httptest.Server
	issuer string
	keys   map[string]crypto.PublicKey

	mu       sync.Mutex
	got      map[string]map[string]time.Time // sid -> client -> first valid token
	jtis     map[string]bool
	overshot []time.Duration // how late each delay's sleep woke
	invalid  atomic.Int64
	requests atomic.Int64
	hang     chan struct{}
}

func newReceivers(s scenario) *receivers {
	r := &receivers{s: s, got: map[string]map[string]time.Time{}, jtis: map[string]bool{}, hang: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

func (r *receivers) close() {
	close(r.hang)
	r.srv.Close()
}

// loadJWKS fetches the front's published keys.
func (r *receivers) loadJWKS(base, issuer string) error {
	r.issuer = issuer
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, Kty, Crv, X, Y, N, E string } `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return fmt.Errorf("decoding jwks: %w", err)
	}
	r.keys = map[string]crypto.PublicKey{}
	b64 := func(s string) []byte { b, _ := base64.RawURLEncoding.DecodeString(s); return b }
	for _, k := range set.Keys {
		switch k.Kty {
		case "RSA":
			r.keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(b64(k.N)), E: int(new(big.Int).SetBytes(b64(k.E)).Int64())}
		case "EC":
			r.keys[k.Kid] = &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(b64(k.X)), Y: new(big.Int).SetBytes(b64(k.Y))}
		case "OKP":
			r.keys[k.Kid] = ed25519.PublicKey(b64(k.X))
		}
	}
	return nil
}

func (r *receivers) serve(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	arrived := time.Now()
	client := strings.TrimPrefix(req.URL.Path, "/c/")
	idx := 0
	fmt.Sscanf(client, "c%d", &idx)
	if idx < r.s.Hang {
		select {
		case <-r.hang:
		case <-req.Context().Done():
		}
		return
	}
	// The client has its token once it has the request and its delay is
	// over. That is the arrival plus the delay, not the moment this tool's
	// sleep wakes: on the product's two CPUs the sleep wakes late (the
	// table's footnotes say how late), and a real client on its own
	// machine would not. Nor is the time this tool then spends verifying
	// the token the product's latency.
	now := arrived.Add(r.s.Delay)
	if r.s.Delay > 0 {
		time.Sleep(r.s.Delay)
		late := time.Since(now)
		r.mu.Lock()
		r.overshot = append(r.overshot, late)
		r.mu.Unlock()
	}
	if err := req.ParseForm(); err != nil || len(req.PostForm) != 1 {
		r.invalid.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	raw := req.PostForm.Get("logout_token")
	if r.s.FailPercent > 0 && failDraw(raw) < r.s.FailPercent {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	sid, err := r.verify(raw, client)
	if err != nil {
		r.invalid.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"error":"invalid_request","error_description":%q}`, err.Error())
		return
	}
	r.mu.Lock()
	m := r.got[sid]
	if m == nil {
		m = map[string]time.Time{}
		r.got[sid] = m
	}
	if _, ok := m[client]; !ok {
		m[client] = now
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// failDraw is a stable 0..99 draw per token (a retry has a new jti, so a
// new draw).
func failDraw(raw string) int {
	h := fnv.New32a()
	h.Write([]byte(raw))
	return int(h.Sum32() % 100)
}

// verify checks every rule of Back-Channel Logout 1.0 §2.4 and returns the
// token's sid.
func (r *receivers) verify(raw, client string) (string, error) {
	tok, err := jwt.Parse(raw, func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != "logout+jwt" {
			return nil, fmt.Errorf("typ %v", t.Header["typ"])
		}
		k, ok := r.keys[fmt.Sprint(t.Header["kid"])]
		if !ok {
			return nil, fmt.Errorf("unknown kid")
		}
		return k, nil
	}, jwt.WithValidMethods([]string{r.s.Alg}), jwt.WithIssuer(r.issuer), jwt.WithAudience(client),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil {
		return "", err
	}
	c := tok.Claims.(jwt.MapClaims)
	iat, _ := c.GetIssuedAt()
	exp, _ := c.GetExpirationTime()
	if iat == nil || exp == nil {
		return "", fmt.Errorf("iat or exp missing")
	}
	if exp.Sub(iat.Time) > 2*time.Minute {
		return "", fmt.Errorf("exp too far")
	}
	if _, ok := c["nonce"]; ok {
		return "", fmt.Errorf("nonce present")
	}
	ev, _ := json.Marshal(c["events"])
	if string(ev) != `{"http://schemas.openid.net/event/backchannel-logout":{}}` {
		return "", fmt.Errorf("events %s", ev)
	}
	if c["sub"] != "sub-"+client {
		return "", fmt.Errorf("sub %v", c["sub"])
	}
	jti, _ := c["jti"].(string)
	sid, _ := c["sid"].(string)
	if jti == "" || sid == "" {
		return "", fmt.Errorf("jti or sid missing")
	}
	// Only a token valid in every other way counts as verified.
	r.mu.Lock()
	seen := r.jtis[jti]
	r.jtis[jti] = true
	r.mu.Unlock()
	if seen {
		return "", fmt.Errorf("jti %q reused", jti)
	}
	return sid, nil
}

// complete returns when session sid's healthy clients all had their token,
// and whether they all did.
func (r *receivers) complete(sid string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.got[sid]
	if len(m) < r.s.K-r.s.Hang {
		return time.Time{}, false
	}
	var last time.Time
	for _, t := range m {
		if t.After(last) {
			last = t
		}
	}
	return last, true
}
