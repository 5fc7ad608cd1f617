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
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/MicahParks/jwkset"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

func TestLoadGeneratesAndKeeps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	cfg := config.Keys{GenerateDir: dir}
	algs := []string{keys.RS256, keys.ES256, keys.EdDSA}

	first, err := keys.Load(cfg, algs, discard)
	require.NoError(t, err)
	assert.Equal(t, algs, first.Algorithms())

	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	for _, name := range []string{"signing-rs256.pem", "signing-es256.pem", "signing-eddsa.pem"} {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		require.NoError(t, err, name)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), name)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		block, _ := pem.Decode(data)
		require.NotNil(t, block, name)
		assert.Equal(t, "PRIVATE KEY", block.Type, name)
		_, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		assert.NoError(t, err, name)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 3, "no temporary files are left behind")

	second, err := keys.Load(cfg, algs, discard)
	require.NoError(t, err)
	for _, alg := range algs {
		k1, err := first.Signer(alg)
		require.NoError(t, err)
		k2, err := second.Signer(alg)
		require.NoError(t, err)
		assert.Equal(t, k1.KID, k2.KID, "a restart keeps the %s kid", alg)
	}
	assert.JSONEq(t, string(first.JWKS()), string(second.JWKS()))
}

func TestLoadGeneratesOnlyNeededAlgorithms(t *testing.T) {
	dir := t.TempDir()
	set, err := keys.Load(config.Keys{GenerateDir: dir}, []string{keys.ES256, keys.ES256}, discard)
	require.NoError(t, err)
	assert.Equal(t, []string{keys.ES256}, set.Algorithms())
	assert.FileExists(t, keys.GeneratedKeyPath(dir, keys.ES256))
	assert.NoFileExists(t, keys.GeneratedKeyPath(dir, keys.RS256))
	_, err = set.Signer(keys.RS256)
	assert.ErrorIs(t, err, keys.ErrNoKey)
}

func TestLoadPrefersConfiguredFiles(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, t.TempDir(), "ec.pem", pkcs8PEM(t, fixture("ec")))
	set, err := keys.Load(config.Keys{Files: []string{file}, GenerateDir: dir}, []string{keys.ES256, keys.EdDSA}, discard)
	require.NoError(t, err)
	assert.NoFileExists(t, keys.GeneratedKeyPath(dir, keys.ES256))
	assert.FileExists(t, keys.GeneratedKeyPath(dir, keys.EdDSA))
	k, err := set.Signer(keys.ES256)
	require.NoError(t, err)
	assert.Equal(t, thumbprint(t, fixture("ec")), k.KID)
}

func TestLoadPEM(t *testing.T) {
	rsaKey := fixture("rsa").(*rsa.PrivateKey)
	ecKey := fixture("ec").(*ecdsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	require.NoError(t, err)
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }

	tests := []struct {
		name    string
		data    []byte
		wantAlg string
		key     crypto.Signer
	}{
		{"PKCS#1 RSA", block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), keys.RS256, rsaKey},
		{"PKCS#8 RSA", pkcs8PEM(t, rsaKey), keys.RS256, rsaKey},
		{"SEC1 EC", block("EC PRIVATE KEY", sec1), keys.ES256, ecKey},
		{"SEC1 EC after EC PARAMETERS", append(block("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), block("EC PRIVATE KEY", sec1)...), keys.ES256, ecKey},
		{"PKCS#8 EC", pkcs8PEM(t, ecKey), keys.ES256, ecKey},
		{"PKCS#8 Ed25519", pkcs8PEM(t, fixture("ed")), keys.EdDSA, fixture("ed")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "key.pem", tc.data)
			set, err := keys.Load(config.Keys{Files: []string{path}}, []string{tc.wantAlg}, discard)
			require.NoError(t, err)
			assert.Equal(t, []string{tc.wantAlg}, set.Algorithms())
			k, err := set.Signer(tc.wantAlg)
			require.NoError(t, err)
			assert.Equal(t, tc.wantAlg, k.Alg)
			assert.Equal(t, thumbprint(t, tc.key), k.KID, "kid is the RFC 7638 thumbprint")
			assert.True(t, tc.key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()))
		})
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(fixture("ec").Public())
	require.NoError(t, err)
	encrypted := pem.EncodeToMemory(&pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"},
		Bytes:   []byte{1, 2, 3},
	})

	tests := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"RSA under 2048 bits", pkcs8PEM(t, small), keys.ErrInvalidKey},
		{"P-384", pkcs8PEM(t, p384), keys.ErrInvalidKey},
		{"encrypted PEM", encrypted, keys.ErrInvalidKey},
		{"encrypted PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), keys.ErrInvalidKey},
		{"public key only", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), keys.ErrInvalidKey},
		{"corrupt DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nope")}), keys.ErrInvalidKey},
		{"garbage", []byte("not a key at all"), keys.ErrInvalidKey},
		{"empty", nil, keys.ErrInvalidKey},
		{"bad JSON", []byte(`{"kty":`), keys.ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "key", tc.data)
			_, err := keys.Load(config.Keys{Files: []string{path}}, nil, discard)
			require.ErrorIs(t, err, tc.wantErr)
			assert.Contains(t, err.Error(), path, "the error names the file")
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := keys.Load(config.Keys{Files: []string{filepath.Join(t.TempDir(), "nope.pem")}}, nil, discard)
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
}

// privateJWK returns the private JWK of priv, with alg, changed by edit.
func privateJWK(t *testing.T, priv crypto.Signer, edit func(*jwkset.JWKMarshal)) jwkset.JWKMarshal {
	t.Helper()
	alg := jwkset.AlgEdDSA
	switch priv.(type) {
	case *rsa.PrivateKey:
		alg = jwkset.AlgRS256
	case *ecdsa.PrivateKey:
		alg = jwkset.AlgES256
	}
	j, err := jwkset.NewJWKFromKey(priv, jwkset.JWKOptions{
		Marshal:  jwkset.JWKMarshalOptions{Private: true},
		Metadata: jwkset.JWKMetadataOptions{ALG: alg},
	})
	require.NoError(t, err)
	m := j.Marshal()
	if edit != nil {
		edit(&m)
	}
	return m
}

func TestLoadJWK(t *testing.T) {
	edPub := base64.RawURLEncoding.EncodeToString(fixture("ed2").Public().(ed25519.PublicKey))
	tests := []struct {
		name     string
		value    any
		wantKIDs []string // active key first
		wantErr  error
	}{
		{
			name:     "RSA JWK with kid and alg",
			value:    privateJWK(t, fixture("rsa"), func(m *jwkset.JWKMarshal) { m.KID = "rsa-2024" }),
			wantKIDs: []string{"rsa-2024"},
		},
		{
			name:     "EC JWK without kid or alg",
			value:    privateJWK(t, fixture("ec"), func(m *jwkset.JWKMarshal) { m.ALG = "" }),
			wantKIDs: []string{thumbprint(t, fixture("ec"))},
		},
		{
			name: "JWK Set, first key of each alg signs",
			value: jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{
				privateJWK(t, fixture("ed"), func(m *jwkset.JWKMarshal) { m.KID = "ed-new"; m.USE = jwkset.UseSig }),
				privateJWK(t, fixture("ed2"), func(m *jwkset.JWKMarshal) { m.KID = "ed-old" }),
			}},
			wantKIDs: []string{"ed-new", "ed-old"},
		},
		{name: "public JWK", value: privateJWK(t, fixture("ec"), func(m *jwkset.JWKMarshal) { m.D = "" }), wantErr: keys.ErrInvalidKey},
		{name: "RSA JWK without CRT members", value: privateJWK(t, fixture("rsa"), func(m *jwkset.JWKMarshal) { m.P, m.Q = "", "" }), wantErr: keys.ErrInvalidKey},
		{name: "alg of another key type", value: privateJWK(t, fixture("rsa"), func(m *jwkset.JWKMarshal) { m.ALG = "ES256" }), wantErr: keys.ErrInvalidKey},
		{name: "alg signoff does not sign with", value: privateJWK(t, fixture("rsa"), func(m *jwkset.JWKMarshal) { m.ALG = "PS256" }), wantErr: keys.ErrUnsupportedAlgorithm},
		{name: "use enc", value: privateJWK(t, fixture("ec"), func(m *jwkset.JWKMarshal) { m.USE = jwkset.UseEnc }), wantErr: keys.ErrInvalidKey},
		{name: "Ed25519 x of another key", value: privateJWK(t, fixture("ed"), func(m *jwkset.JWKMarshal) { m.X = edPub }), wantErr: keys.ErrInvalidKey},
		{name: "EC x of another key", value: privateJWK(t, fixture("ec"), func(m *jwkset.JWKMarshal) {
			other := privateJWK(t, fixture("ec2"), nil)
			m.X, m.Y = other.X, other.Y
		}), wantErr: keys.ErrInvalidKey},
		{name: "oct key", value: map[string]string{"kty": "oct", "k": "c2VjcmV0", "d": "x"}, wantErr: keys.ErrInvalidKey},
		{name: "empty JWK Set", value: jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}, wantErr: keys.ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.value)
			require.NoError(t, err)
			path := writeFile(t, t.TempDir(), "key.json", data)
			set, err := keys.Load(config.Keys{Files: []string{path}}, nil, discard)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			active, err := set.Signer(set.Algorithms()[0])
			require.NoError(t, err)
			assert.Equal(t, tc.wantKIDs[0], active.KID)
			var published jwkset.JWKSMarshal
			require.NoError(t, json.Unmarshal(set.JWKS(), &published))
			var kids []string
			for _, k := range published.Keys {
				kids = append(kids, k.KID)
			}
			assert.Equal(t, tc.wantKIDs, kids, "every key is published, in load order")
		})
	}
}

func TestLoadAlgorithmsAndRotation(t *testing.T) {
	dir := t.TempDir()
	ec1 := writeFile(t, dir, "ec1.pem", pkcs8PEM(t, fixture("ec")))
	ec2 := writeFile(t, dir, "ec2.pem", pkcs8PEM(t, fixture("ec2")))
	rsaFile := writeFile(t, dir, "rsa.pem", pkcs8PEM(t, fixture("rsa")))

	t.Run("first key of an algorithm signs, all are published", func(t *testing.T) {
		set, err := keys.Load(config.Keys{Files: []string{ec2, ec1}}, []string{keys.ES256}, discard)
		require.NoError(t, err)
		k, err := set.Signer(keys.ES256)
		require.NoError(t, err)
		assert.Equal(t, thumbprint(t, fixture("ec2")), k.KID)
		var published jwkset.JWKSMarshal
		require.NoError(t, json.Unmarshal(set.JWKS(), &published))
		assert.Len(t, published.Keys, 2)
	})
	t.Run("missing algorithm without generate dir", func(t *testing.T) {
		_, err := keys.Load(config.Keys{Files: []string{rsaFile}}, []string{"", keys.ES256}, discard)
		require.ErrorIs(t, err, keys.ErrNoKey)
		assert.EqualError(t, err, "keys: no signing key for ES256 (needed by a client's id_token_signed_response_alg)")
	})
	t.Run("empty alg means RS256", func(t *testing.T) {
		set, err := keys.Load(config.Keys{Files: []string{rsaFile}}, []string{""}, discard)
		require.NoError(t, err)
		k, err := set.Signer("")
		require.NoError(t, err)
		assert.Equal(t, keys.RS256, k.Alg)
	})
	t.Run("unsupported algorithm", func(t *testing.T) {
		_, err := keys.Load(config.Keys{Files: []string{rsaFile}}, []string{"HS256"}, discard)
		assert.ErrorIs(t, err, keys.ErrUnsupportedAlgorithm)
	})
	t.Run("the same key twice", func(t *testing.T) {
		_, err := keys.Load(config.Keys{Files: []string{ec1, ec1}}, nil, discard)
		assert.ErrorIs(t, err, keys.ErrDuplicateKID)
	})
	t.Run("no keys at all", func(t *testing.T) {
		_, err := keys.Load(config.Keys{}, nil, discard)
		assert.ErrorIs(t, err, keys.ErrNoKey)
	})
}

func TestThumbprintRFC7638Example(t *testing.T) {
	// RFC 7638 §3.1.
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	require.NoError(t, err)
	got, err := keys.Thumbprint(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
	require.NoError(t, err)
	assert.Equal(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", got)
}

// thumbprint returns the RFC 7638 thumbprint of a key's public key.
func thumbprint(t *testing.T, priv crypto.Signer) string {
	t.Helper()
	tp, err := keys.Thumbprint(priv.Public())
	require.NoError(t, err)
	return tp
}
