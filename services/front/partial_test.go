package front_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/natsconn"
)

// Logouts that publish several events can fail half way. These tests make
// the real JetStream server refuse all but the next event: the events
// stream takes one more message and then discards new ones, as a full
// stream with discard=new does.

// admitOneMoreEvent lets the events stream store exactly one more message
// and returns a function that lifts the limit.
func (e *env) admitOneMoreEvent(t *testing.T) (lift func()) {
	t.Helper()
	return e.admitMore(t, natsconn.StreamEvents, 1)
}

// admitMore lets stream store exactly n more messages and returns a
// function that lifts the limit.
func (e *env) admitMore(t *testing.T, stream string, n int64) (lift func()) {
	t.Helper()
	ctx := t.Context()
	st, err := e.nats.JS.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	orig := info.Config
	limited := orig
	limited.MaxMsgs = int64(info.State.Msgs) + n
	limited.Discard = jetstream.DiscardNew
	_, err = e.nats.JS.UpdateStream(ctx, limited)
	require.NoError(t, err)
	return func() {
		_, err := e.nats.JS.UpdateStream(t.Context(), orig)
		require.NoError(t, err)
	}
}

// TestEndSessionPartlyPublished: a person confirms the end of two
// sessions and only the first event is stored. The answer is the
// "temporarily unavailable" page (503), not a redirect nor the signed-out
// page, the session cookie is kept, and the session that did end stays
// ended; confirming again ends the other.
func TestEndSessionPartlyPublished(t *testing.T) {
	e := newEnv(t)
	for _, sid := range []string{"s-pp1", "s-pp2"} {
		e.join(sid, "app1", "pat")
	}
	b := newBrowser(t)
	e.setCookie(b, "pat-idp-session")
	confirm := func() response {
		// A sub-only hint ends every session of the subject with the
		// client, after the person confirms.
		r := e.do(b, http.MethodGet, "/connect/endsession", url.Values{
			"id_token_hint":            {e.hint("app1", "pat", "", time.Now().Add(time.Hour))},
			"post_logout_redirect_uri": {"https://app1.example.com/signed-out"}, "state": {"st"}})
		require.Equal(t, 200, r.status, r.body)
		return e.confirm(b, r.body)
	}

	lift := e.admitOneMoreEvent(t)
	r := confirm()
	assert.Equal(t, http.StatusServiceUnavailable, r.status, r.body)
	assert.Empty(t, r.location, "no redirect")
	assert.Contains(t, r.header.Get("Content-Type"), "text/html")
	assert.Contains(t, strings.ToLower(r.body), "temporarily unavailable")
	assert.NotContains(t, strings.Join(r.header.Values("Set-Cookie"), "\n"), "idp_session=",
		"the session cookie is kept: the person is not signed out yet")
	ended := 0
	for _, sid := range []string{"s-pp1", "s-pp2"} {
		if s, _ := e.front.Index().Session(sid); s.Ended() {
			ended++
		}
	}
	assert.Equal(t, 1, ended, "the first session ended, the second did not")
	require.Len(t, e.endedEvents(), 1)

	lift()
	r = confirm()
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	assert.Equal(t, "https://app1.example.com/signed-out?state=st", r.location)
	assert.Contains(t, strings.Join(r.header.Values("Set-Cookie"), "\n"), "idp_session=;", "now the cookie goes")
	for _, sid := range []string{"s-pp1", "s-pp2"} {
		s, _ := e.front.Index().Session(sid)
		assert.True(t, s.Ended(), sid)
	}
	assert.Len(t, e.endedEvents(), 2, "each session ended once")
}

// TestAPISubjectLogoutInSeveralEvents: a subject whose sessions make one
// event larger than 256 KiB gets several; when only the first is stored,
// the answer is a 503 that says how many sessions ended, and a retry ends
// the rest.
func TestAPISubjectLogoutInSeveralEvents(t *testing.T) {
	e := newEnv(t)
	// 900 sessions with 200-byte sids: each adds its sid twice (sessions
	// and the participant's sids), about 360 KiB in all.
	sids := make([]string, 900)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range sids {
		sids[i] = fmt.Sprintf("%04d-%s", i, strings.Repeat("x", 195))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			e.join(sids[i], "app1", "many")
		})
	}
	wg.Wait()

	lift := e.admitOneMoreEvent(t)
	status, body := e.api(http.MethodDelete, "/api/v1/subjects/many/sessions")
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	assert.Equal(t, "unavailable", body["error"])
	first := e.endedEvents()
	require.Len(t, first, 1)
	n := len(first[0].Sessions)
	assert.Positive(t, n)
	assert.Less(t, n, len(sids))
	assert.Contains(t, body["detail"], fmt.Sprintf("%d of the subject's sessions ended", n))

	lift()
	status, body = e.api(http.MethodDelete, "/api/v1/subjects/many/sessions")
	require.Equal(t, http.StatusAccepted, status, body)
	rest, _ := body["sessions"].([]any)
	assert.Len(t, rest, len(sids)-n, "the retry ends the rest")
	ended := 0
	for _, sid := range sids {
		if s, ok := e.front.Index().Session(sid); ok && s.Ended() {
			ended++
		}
	}
	assert.Equal(t, len(sids), ended)
}
