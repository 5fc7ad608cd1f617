package keys_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

// keyFile generates an ES256 key in a directory of its own and returns
// its file.
func keyFile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	_, err := keys.Load(config.Keys{GenerateDir: dir}, []string{keys.ES256}, discard)
	require.NoError(t, err)
	return filepath.Join(dir, "signing-es256.pem")
}

func secrets(t *testing.T, purpose string, files ...string) []keys.Secret {
	t.Helper()
	s, err := keys.Load(config.Keys{Files: files}, []string{keys.ES256}, discard)
	require.NoError(t, err)
	out, err := s.DeriveSecrets(purpose)
	require.NoError(t, err)
	return out
}

func TestDeriveSecrets(t *testing.T) {
	k1, k2 := keyFile(t), keyFile(t)
	one := secrets(t, "csrf", k1)
	require.Len(t, one, 1)
	assert.Len(t, one[0].Key, 32)
	assert.NotEmpty(t, one[0].KID)
	assert.Equal(t, one, secrets(t, "csrf", k1), "same key, same secret")

	// A rotation: k2 added last, then moved first. Each key's secret is
	// the same in every set that holds it, and the first is the first key's.
	added := secrets(t, "csrf", k1, k2)
	moved := secrets(t, "csrf", k2, k1)
	require.Len(t, added, 2)
	assert.Equal(t, one[0], added[0], "adding a key leaves the others' secrets alone")
	assert.Equal(t, added[1], moved[0])
	assert.Equal(t, added[0], moved[1])
	assert.NotEqual(t, added[0].Key, added[1].Key, "other key, other secret")
	assert.NotEqual(t, added[0].KID, added[1].KID)

	assert.NotEqual(t, one[0].Key, secrets(t, "other purpose", k1)[0].Key, "other purpose, other secret")
}

func TestDeriveSecretsOfNoKey(t *testing.T) {
	_, err := new(keys.Set).DeriveSecrets("csrf")
	assert.ErrorIs(t, err, keys.ErrNoKey, "no key, no secret: a front would refuse every form")
}
