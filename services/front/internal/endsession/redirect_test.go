package endsession

import "testing"

func TestRedirectTo(t *testing.T) {
	for _, tc := range []struct {
		registered, state string
		hasState          bool
		want              string
	}{
		{"https://a.example/x", "", false, "https://a.example/x"},
		{"https://a.example/x", "", true, "https://a.example/x?state="},
		{"https://a.example/x", "a b&c", true, "https://a.example/x?state=a+b%26c"},
		{"https://a.example/x?", "s", true, "https://a.example/x?state=s"},
		{"https://a.example/x?k=v", "s", true, "https://a.example/x?k=v&state=s"},
		{"https://a.example/x?k=v&", "s", true, "https://a.example/x?k=v&state=s"},
	} {
		if got := RedirectTo(tc.registered, tc.state, tc.hasState); got != tc.want {
			t.Errorf("RedirectTo(%q, %q) = %q, want %q", tc.registered, tc.state, got, tc.want)
		}
	}
}
