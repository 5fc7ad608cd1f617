package httpapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFrontchannelURI(t *testing.T) {
	const iss = "https://op.example.com/tenant a"
	const isq = "iss=https%3A%2F%2Fop.example.com%2Ftenant+a"
	tests := []struct {
		name, registered, sid string
		session               bool
		want                  string
	}{
		{"not asked for: unchanged", "https://rp.example.com/fc?x=1", "s1", false, "https://rp.example.com/fc?x=1"},
		{"no query", "https://rp.example.com/fc", "s1", true, "https://rp.example.com/fc?" + isq + "&sid=s1"},
		{"query kept (FCL-12)", "https://rp.example.com/fc?x=1", "s1", true, "https://rp.example.com/fc?x=1&" + isq + "&sid=s1"},
		{"empty query", "https://rp.example.com/fc?", "s1", true, "https://rp.example.com/fc?" + isq + "&sid=s1"},
		{"query ending in &", "https://rp.example.com/fc?x=1&", "s1", true, "https://rp.example.com/fc?x=1&" + isq + "&sid=s1"},
		{"sid percent-encoded", "https://rp.example.com/fc", "a/b&c=d+e f", true, "https://rp.example.com/fc?" + isq + "&sid=a%2Fb%26c%3Dd%2Be+f"},
		{"no sid: neither (FCL-8)", "https://rp.example.com/fc", "", true, "https://rp.example.com/fc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, FrontchannelURI(tc.registered, iss, tc.sid, tc.session))
		})
	}
}
