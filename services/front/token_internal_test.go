package front

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWeakAPIToken: the front warns at start about the sample's token and
// about short ones; an empty one disables the API, which is no weakness.
func TestWeakAPIToken(t *testing.T) {
	for _, tc := range []struct {
		token string
		weak  bool
	}{
		{"", false},
		{"dev-token-change-me", true},
		{"short", true},
		{"0123456789abcde", true},
		{"0123456789abcdef", false},
		{"k3x9-vQ2m-8LrT-pW4z-nB7c-Hs1d-Yf", false},
	} {
		t.Run(tc.token, func(t *testing.T) {
			assert.Equal(t, tc.weak, weakAPIToken(tc.token) != "")
		})
	}
}
