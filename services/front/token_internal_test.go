package front

import "testing"

// TestWeakAPIToken: the front warns at start about the sample's token and
// about short ones; an empty one disables the API, which is no weakness.
func TestWeakAPIToken(t *testing.T) {
	for token, weak := range map[string]bool{
		"":                                 false,
		"dev-token-change-me":              true,
		"short":                            true,
		"0123456789abcde":                  true,
		"0123456789abcdef":                 false,
		"k3x9-vQ2m-8LrT-pW4z-nB7c-Hs1d-Yf": false,
	} {
		if got := weakAPIToken(token) != ""; got != weak {
			t.Errorf("weakAPIToken(%q) weak = %v, want %v", token, got, weak)
		}
	}
}
