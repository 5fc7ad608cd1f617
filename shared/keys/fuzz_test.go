package keys_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/keys"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, every
// rejection must wrap ErrInvalidHint, and an accepted hint must carry the
// issuer.
func FuzzVerify(f *testing.F) {
	set := loadSet(f, "rsa", "ec", "ed")
	v, err := keys.NewHintVerifier(f.Context(), hintConfig(), issuer, set, nil)
	require.NoError(f, err)
	now := time.Now()
	for _, alg := range set.Algorithms() {
		for _, exp := range []time.Time{now.Add(time.Hour), now.Add(-time.Hour)} {
			token, err := set.IDToken(alg, issuer, "client-a", "alice", "sid-1", now.Add(-2*time.Hour), exp)
			require.NoError(f, err)
			f.Add(token)
			parts := strings.Split(token, ".")
			f.Add(b64JSON(f, map[string]any{"alg": "none"}) + "." + parts[1] + ".")
			f.Add(parts[0] + "." + parts[1] + ".")
			f.Add(parts[0] + ".." + parts[2])
		}
	}
	logout, err := set.LogoutToken(keys.ES256, issuer, "client-a", "alice", "sid-1", now)
	require.NoError(f, err)
	f.Add(logout)
	for _, s := range []string{"", ".", "..", "...", "a.b.c", "eyJhbGciOiJub25lIn0..", "eyJ9.eyJ9.eyJ9", strings.Repeat("A", 100)} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, raw string) {
		h, err := v.Verify(t.Context(), raw)
		if err != nil {
			require.ErrorIs(t, err, keys.ErrInvalidHint)
			require.Nil(t, h)
			return
		}
		require.Equal(t, issuer, h.Issuer)
		require.NotEmpty(t, h.Subject)
		require.NotEmpty(t, h.Audience)
	})
}
