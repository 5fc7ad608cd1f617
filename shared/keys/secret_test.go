package keys_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

func TestDeriveSecret(t *testing.T) {
	dir := t.TempDir()
	a, err := keys.Load(config.Keys{GenerateDir: dir}, []string{keys.ES256}, discard)
	require.NoError(t, err)
	b, err := keys.Load(config.Keys{GenerateDir: dir}, []string{keys.ES256}, discard)
	require.NoError(t, err)
	other, err := keys.Load(config.Keys{GenerateDir: t.TempDir()}, []string{keys.ES256}, discard)
	require.NoError(t, err)

	sa, err := a.DeriveSecret("csrf")
	require.NoError(t, err)
	sb, _ := b.DeriveSecret("csrf")
	so, _ := other.DeriveSecret("csrf")
	sp, _ := a.DeriveSecret("other purpose")
	assert.Len(t, sa, 32)
	assert.Equal(t, sa, sb, "same keys, same secret")
	assert.NotEqual(t, sa, so, "other keys, other secret")
	assert.NotEqual(t, sa, sp, "other purpose, other secret")
}
