package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The ES256 signer's nonces are RFC 6979's: its appendix A.2.5 vectors
// (P-256, SHA-256) come out exactly, and golang-jwt's ES256 verifies them.
func TestES256IsRFC6979(t *testing.T) {
	priv := rfc6979Key(t)
	for msg, want := range map[string]string{
		"sample": "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716" +
			"F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
		"test": "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367" +
			"019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083",
	} {
		sig, err := signingMethod(ES256).Sign(msg, priv)
		require.NoError(t, err)
		assert.Equal(t, want, strings.ToUpper(hex.EncodeToString(sig)), msg)
		assert.Len(t, sig, 64, "r and s padded to 32 bytes each")
		require.NoError(t, jwt.SigningMethodES256.Verify(msg, sig, &priv.PublicKey))
	}
}

// rfc6979Key is the P-256 key of RFC 6979's appendix A.2.5.
func rfc6979Key(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	d, _ := new(big.Int).SetString("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721", 16)
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(make([]byte, 32)))
	require.NoError(t, err)
	return priv
}

// Short r and s (a leading zero byte, one time in 256 each) are padded at
// the front. With RFC 6979's key, the nonces make "pad-200" an r and
// "pad-206" an s that starts with a zero byte; a signature padded anywhere
// else does not verify.
func TestES256PadsShortIntegers(t *testing.T) {
	m, priv := signingMethod(ES256), rfc6979Key(t)
	for msg, zeroAt := range map[string]int{"pad-200": 0, "pad-206": 32} {
		sig, err := m.Sign(msg, priv)
		require.NoError(t, err)
		require.Len(t, sig, 64)
		assert.Zero(t, sig[zeroAt], "%s: the integer at %d is short", msg, zeroAt)
		require.NoError(t, jwt.SigningMethodES256.Verify(msg, sig, &priv.PublicKey), msg)
	}
	_, err := m.Sign("x", []byte("not a key"))
	assert.ErrorIs(t, err, jwt.ErrInvalidKeyType)
}

// A loaded ES256 key signs with the deterministic signer, through the path
// that signs the input without copying it: the same token twice is the
// same signature, and it verifies.
func TestES256KeySignsDeterministically(t *testing.T) {
	priv := rfc6979Key(t)
	k, err := newKey(priv, "kid-1", ES256)
	require.NoError(t, err)
	payload := []byte(`{"iss":"https://idp.example.com"}`)
	a, err := k.appendSigned(nil, payload, LogoutTokenType)
	require.NoError(t, err)
	b, err := k.appendSigned([]byte("logout_token="), payload, LogoutTokenType)
	require.NoError(t, err)
	assert.Equal(t, "logout_token="+string(a), string(b), "deterministic, and appended after what dst held")
	tok, err := jwt.Parse(string(a), func(*jwt.Token) (any, error) { return &priv.PublicKey, nil },
		jwt.WithValidMethods([]string{ES256}))
	require.NoError(t, err)
	assert.True(t, tok.Valid)
}
