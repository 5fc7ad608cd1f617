package keys_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

// issuer is the issuer of every test token.
const issuer = "https://idp.example.com"

// discard is the logger of tests that do not look at logs.
var discard = slog.New(slog.DiscardHandler)

// fixtureKeys are generated on first use, once per test binary: RSA
// generation is slow, more so under -race.
var fixtureKeys = map[string]func() crypto.Signer{
	"rsa": sync.OnceValue(func() crypto.Signer { return must(rsa.GenerateKey(rand.Reader, 2048)) }),
	"ec":  sync.OnceValue(newP256),
	"ec2": sync.OnceValue(newP256),
	"ec3": sync.OnceValue(newP256),
	"ed":  sync.OnceValue(newEd25519),
	"ed2": sync.OnceValue(newEd25519),
}

func newP256() crypto.Signer { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) }

func newEd25519() crypto.Signer {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return must(priv, err)
}

func must[K crypto.Signer](k K, err error) crypto.Signer {
	if err != nil {
		panic(err)
	}
	return k
}

// fixture returns a fixture key by name.
func fixture(name string) crypto.Signer {
	k, ok := fixtureKeys[name]
	if !ok {
		panic("no fixture key " + name)
	}
	return k()
}

// writeFile writes data to a new file in dir with mode 0600.
func writeFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	require.NoError(tb, os.WriteFile(path, data, 0o600))
	return path
}

// pkcs8PEM returns priv as a PKCS#8 PEM block.
func pkcs8PEM(tb testing.TB, priv crypto.Signer) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(tb, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// loadSet loads a Set from the fixture keys named, in order, one PKCS#8
// file each.
func loadSet(tb testing.TB, names ...string) *keys.Set {
	tb.Helper()
	dir := tb.TempDir()
	var files []string
	for i, name := range names {
		files = append(files, writeFile(tb, dir, fmt.Sprintf("%d-%s.pem", i, name), pkcs8PEM(tb, fixture(name))))
	}
	set, err := keys.Load(config.Keys{Files: files}, nil, discard)
	require.NoError(tb, err)
	return set
}

// segments splits a compact JWS and decodes its header and payload.
func segments(tb testing.TB, token string) (header, payload map[string]any) {
	tb.Helper()
	parts := strings.Split(token, ".")
	require.Len(tb, parts, 3)
	for i, dst := range []*map[string]any{&header, &payload} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		require.NoError(tb, err)
		require.NoError(tb, json.Unmarshal(raw, dst))
	}
	return header, payload
}

// b64JSON returns the base64url JSON of v.
func b64JSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	require.NoError(tb, err)
	return base64.RawURLEncoding.EncodeToString(b)
}
