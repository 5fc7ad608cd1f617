package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/keys"
)

func TestReportToken(t *testing.T) {
	h := &handler{Deps: Deps{FrontchannelKeys: []keys.Secret{{KID: "k1", Key: []byte("key one")}}}}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	targets := []fcTarget{{LogoutID: "L1", SID: "s/1", ClientID: "app3"}, {LogoutID: "L2", SID: "s2", ClientID: "app3"}}
	tok := h.reportToken(targets, 2500*time.Millisecond, now.Add(time.Minute))
	assert.NotContains(t, tok, "s/1")

	got, timeout, err := h.parseReportToken(tok, now)
	require.NoError(t, err)
	assert.Equal(t, []fcTarget{{LogoutID: "L1", ClientID: "app3"}, {LogoutID: "L2", ClientID: "app3"}}, got,
		"no sid: a live session's sid may be a credential elsewhere")
	assert.Equal(t, 2500*time.Millisecond, timeout)

	_, _, err = h.parseReportToken(tok, now.Add(time.Minute+time.Second))
	assert.ErrorIs(t, err, errReportExpired)

	other := &handler{Deps: Deps{FrontchannelKeys: []keys.Secret{{KID: "k2", Key: []byte("key two")}}}}
	_, _, err = other.parseReportToken(tok, now)
	assert.ErrorIs(t, err, errReportToken, "another key's token")

	// A payload changed under the same MAC.
	forged := other.reportToken([]fcTarget{{LogoutID: "L9", ClientID: "app9"}}, time.Second, now.Add(time.Hour))
	_, mac, _ := strings.Cut(tok, ".")
	payload, _, _ := strings.Cut(forged, ".")
	_, _, err = h.parseReportToken(payload+"."+mac, now)
	assert.ErrorIs(t, err, errReportToken)
}
