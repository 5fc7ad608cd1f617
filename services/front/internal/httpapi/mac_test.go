package httpapi

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/signoff/signoff/shared/keys"
)

func TestMACKeys(t *testing.T) {
	k1 := keys.Secret{KID: "k1", Key: []byte("secret of key one")}
	k2 := keys.Secret{KID: "k.2", Key: []byte("secret of key two")} // a kid may have dots
	m := macKeys{k1, k2}

	tok := m.sign("domain", "value")
	assert.True(t, m.verify("domain", "value", tok))
	assert.False(t, m.verify("domain", "other value", tok), "another value")
	assert.False(t, m.verify("other domain", "value", tok), "another domain")
	assert.False(t, m.verify("domain", "value", ""), "no token")
	assert.False(t, m.verify("domain", "value", "k1"), "no MAC")
	assert.False(t, m.verify("domain", "value", "k9"+tok[2:]), "a kid the front does not have")
	assert.False(t, macKeys{{KID: "k1", Key: []byte("another key, same kid")}}.verify("domain", "value", tok))
	assert.True(t, macKeys{k2}.verify("domain", "value", macKeys{k2, k1}.sign("domain", "value")))

	assert.Empty(t, macKeys(nil).sign("domain", "value"))
	assert.False(t, macKeys(nil).verify("domain", "value", tok))
}

// TestMACKeysRotation: a key rotation rolled out one front at a time (k2
// added last, then moved first, then k1 dropped). At every step, any two
// fronts that are at most one step apart take each other's tokens.
func TestMACKeysRotation(t *testing.T) {
	k1 := keys.Secret{KID: "k1", Key: []byte("secret of key one")}
	k2 := keys.Secret{KID: "k2", Key: []byte("secret of key two")}
	steps := []macKeys{{k1}, {k1, k2}, {k2, k1}, {k2}}
	for i := range len(steps) - 1 {
		a, b := steps[i], steps[i+1]
		assert.True(t, b.verify("d", "v", a.sign("d", "v")), "step %d's token at step %d", i, i+1)
		assert.True(t, a.verify("d", "v", b.sign("d", "v")), "step %d's token at step %d", i+1, i)
	}
	// Two steps apart, with no key in common: refused, as the rotation's
	// order is there to avoid.
	assert.False(t, steps[3].verify("d", "v", steps[0].sign("d", "v")))
}
