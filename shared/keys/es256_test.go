package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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
	d, _ := new(big.Int).SetString("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721", 16)
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(make([]byte, 32)))
	require.NoError(t, err)
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

// Short r and s (a leading zero byte, one time in 128 each) are padded:
// many keys and messages, every signature verifies.
func TestES256PadsShortIntegers(t *testing.T) {
	m := signingMethod(ES256)
	for i := range 400 {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		msg := hex.EncodeToString([]byte{byte(i), byte(i >> 8)})
		sig, err := m.Sign(msg, priv)
		require.NoError(t, err)
		require.NoError(t, jwt.SigningMethodES256.Verify(msg, sig, &priv.PublicKey), "key %d", i)
	}
	_, err := m.Sign("x", []byte("not a key"))
	assert.ErrorIs(t, err, jwt.ErrInvalidKeyType)
}
