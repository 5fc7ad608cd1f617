package endsession

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		input   url.Values
		want    Request
		wantErr string
	}{
		{
			name:  "the hint is trimmed before it is checked",
			input: url.Values{"id_token_hint": {" a.b.c\n"}, "state": {""}},
			want:  Request{IDTokenHint: "a.b.c", HasState: true},
		},
		{
			name:  "ui_locales that is not text is ignored (RIL-6)",
			input: url.Values{"client_id": {"app1"}, "ui_locales": {"de\x00"}},
			want:  Request{ClientID: "app1"},
		},
		{
			name:    "a state that is not text",
			input:   url.Values{"state": {"a\x00b"}},
			wantErr: "state is not text",
		},
		{
			name:    "a logout_hint that is not UTF-8",
			input:   url.Values{"logout_hint": {"a\xfeb"}},
			wantErr: "logout_hint is not text",
		},
		{
			name:    "a parameter given twice",
			input:   url.Values{"client_id": {"a", "b"}},
			wantErr: "client_id is given more than once",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest(tc.input)
			if tc.wantErr != "" {
				require.NotNil(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.Nil(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
