package front_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/event"
)

func (e *env) api(method, path string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestAPIEndsSessions(t *testing.T) {
	e := newEnv(t)
	e.join("s-api", "app1", "alice")
	e.join("s-api", "app2", "pw-alice")

	status, body := e.api(http.MethodDelete, "/api/v1/sessions/s-api")
	require.Equal(t, http.StatusAccepted, status, body)
	logoutID := body["logout_id"].(string)
	s, _ := e.front.Index().Session("s-api")
	assert.True(t, s.Ended())
	assert.Equal(t, event.ReasonAPI, s.Reason)

	// Again: idempotent, the first logout is reported.
	status, body = e.api(http.MethodDelete, "/api/v1/sessions/s-api")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, logoutID, body["logout_id"])
	assert.Equal(t, true, body["already_ended"])

	evs := e.endedEvents()
	require.Len(t, evs, 1)
	assert.Equal(t, event.ReasonAPI, evs[0].Reason)
	assert.Len(t, evs[0].Clients, 2)
	assert.Empty(t, evs[0].InitiatingClientID)

	// A session the index does not know (yet) ends too, with no
	// participant: a participation reported later gets a logout of its
	// own, instead of a live session.
	status, body = e.api(http.MethodDelete, "/api/v1/sessions/s-not-yet")
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, true, body["unknown"])
	assert.Equal(t, http.StatusConflict, e.report("s-not-yet", "app1", "alice"), "a late participation")
	s, _ = e.front.Index().Session("s-not-yet")
	assert.True(t, s.Ended())
	require.Eventually(t, func() bool { return len(e.endedEvents()) == 3 }, 10*time.Second, 20*time.Millisecond,
		"the unknown session's logout, and app1's own")
	status, body = e.api(http.MethodDelete, "/api/v1/sessions/"+url.PathEscape("bad\x00sid"))
	assert.Equal(t, http.StatusBadRequest, status, body)
}

func TestAPIEndsAllSessionsOfASubject(t *testing.T) {
	e := newEnv(t)
	e.join("s1", "app1", "bob")
	e.join("s1", "app2", "pw-bob")
	e.join("s2", "app1", "bob")
	e.join("s3", "app1", "carol")

	status, body := e.api(http.MethodDelete, "/api/v1/subjects/bob/sessions")
	require.Equal(t, http.StatusAccepted, status, body)
	assert.ElementsMatch(t, []any{"s1", "s2"}, body["sessions"])
	e.assertEnded(map[string]bool{"s1": true, "s2": true, "s3": false})
	evs := e.endedEvents()
	require.Len(t, evs, 1)
	ev := evs[0]
	assert.Empty(t, ev.SID, "a subject-wide logout has no sid (BCL-12)")
	assert.ElementsMatch(t, []string{"s1", "s2"}, ev.Sessions)
	assert.Equal(t, event.ReasonAPISubject, ev.Reason)
	// Each participant lists its sessions, for clients that require a sid.
	assert.ElementsMatch(t, []event.Participant{
		{ClientID: "app1", Sub: "bob", SIDs: []string{"s1", "s2"}},
		{ClientID: "app2", Sub: "pw-bob", SIDs: []string{"s1"}},
	}, ev.Clients)

	status, body = e.api(http.MethodDelete, "/api/v1/subjects/nobody/sessions")
	assert.Equal(t, http.StatusOK, status)
	assert.Empty(t, body["sessions"])
}

// TestAPISubjectLogoutByAnyClientsSub: a subject's sessions are those
// where any client was given that sub, not only those where it was the
// first reported: with pairwise subs, which client the person signed in
// to first must not decide whether the session ends.
func TestAPISubjectLogoutByAnyClientsSub(t *testing.T) {
	e := newEnv(t)
	e.join("s-pw-first", "app2", "pw-dave") // the session's sub is pw-dave
	e.join("s-pw-first", "app1", "dave")
	e.join("s-plain", "app1", "dave")
	e.join("s-other", "app2", "pw-erin")

	status, body := e.api(http.MethodDelete, "/api/v1/subjects/dave/sessions")
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, []any{"s-plain", "s-pw-first"}, body["sessions"])
	e.assertEnded(map[string]bool{"s-pw-first": true, "s-plain": true, "s-other": false})

	// And by the sub a client was given, whichever was reported first.
	e.join("s-erin", "app1", "erin")
	e.join("s-erin", "app2", "pw-erin")
	status, body = e.api(http.MethodDelete, "/api/v1/subjects/pw-erin/sessions")
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, []any{"s-erin", "s-other"}, body["sessions"])
}

// TestAPIPathValuesDecodedOnce: a sid or sub holding a percent sign is
// itself, escaped once in the path: %2561lice names "%61lice", not "alice",
// whether or not the path holds another escape.
func TestAPIPathValuesDecodedOnce(t *testing.T) {
	e := newEnv(t)
	e.join("s-alice", "app1", "alice")
	e.join("s-pct", "app1", "%61lice")
	e.join("x%41", "app1", "bob")
	e.join("a/b%41", "app1", "carol")
	for _, sid := range []string{"x%41", "a/b%41"} {
		status, body := e.api(http.MethodGet, "/api/v1/sessions/"+url.PathEscape(sid))
		require.Equal(t, http.StatusOK, status, sid)
		assert.Equal(t, sid, body["sid"])
	}
	_, ok := e.front.Index().Session("xA")
	assert.False(t, ok)

	status, body := e.api(http.MethodDelete, "/api/v1/subjects/"+url.PathEscape("%61lice")+"/sessions")
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, []any{"s-pct"}, body["sessions"])
	s, _ := e.front.Index().Session("s-alice")
	assert.False(t, s.Ended(), "alice's session is not %61lice's")
}

func TestAPIReplayUnknownDeadLetter(t *testing.T) {
	e := newEnv(t)
	status, body := e.api(http.MethodPost, "/api/v1/deadletters/backchannel/app1/nope/replay")
	assert.Equal(t, http.StatusNotFound, status, body)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/deadletters/backchannel/app1/nope/replay", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.join("s-m", "app1", "alice")
	_ = e.do(newBrowser(t), http.MethodGet, "/connect/endsession", nil)

	// Client ids and counts are not public: the API token is needed.
	resp, err := http.Get(e.srv.URL + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	assert.Contains(t, text, "signoff_index_sessions 1")
	assert.True(t, strings.Contains(text, "signoff_end_session_duration_seconds_count 1"), text)
}

func TestJoinAfterTheSessionEndedIsRefused(t *testing.T) {
	e := newEnv(t)
	e.join("s-late", "app1", "alice")
	status, _ := e.api(http.MethodDelete, "/api/v1/sessions/s-late")
	require.Equal(t, http.StatusAccepted, status)
	assert.Equal(t, http.StatusConflict, e.report("s-late", "app2", "bob"))
	// The late client still hears of the logout: one of its own.
	evs := e.endedEvents()
	require.Len(t, evs, 2)
	late := evs[1]
	assert.Equal(t, "s-late", late.SID)
	assert.Equal(t, []event.Participant{{ClientID: "app2", Sub: "bob"}}, late.Clients)
	assert.NotEqual(t, evs[0].LogoutID, late.LogoutID)

	// The IdP repeats a report the session had before it ended: app1 was in
	// the logout, and gets no second one.
	assert.Equal(t, http.StatusConflict, e.report("s-late", "app1", "alice"))
	assert.Len(t, e.endedEvents(), 2)
}

// TestHealthzWhenNATSGaveUp: /healthz, the liveness probe, answers 503
// once the NATS connection has closed for good (which a restart cures);
// /readyz too.
func TestHealthzWhenNATSGaveUp(t *testing.T) {
	e := newEnv(t)
	status, _ := e.api(http.MethodGet, "/healthz")
	require.Equal(t, http.StatusOK, status)
	e.nats.NC.Close()
	status, _ = e.api(http.MethodGet, "/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	status, _ = e.api(http.MethodGet, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, status)
}

// TestLateReportRepeated: an IdP that repeats a late client's report after
// JetStream's duplicate window (2 s here, the event retention; 2 min by
// default) sends that client no second logout: the session remembers its
// late logout.
func TestLateReportRepeated(t *testing.T) {
	const window = 2 * time.Second
	e := newEnv(t, func(c *config.Config) { c.NATS.EventRetention = window })
	e.join("s-late2", "app1", "alice")
	status, _ := e.api(http.MethodDelete, "/api/v1/sessions/s-late2")
	require.Equal(t, http.StatusAccepted, status)
	sub, err := e.nats.NC.SubscribeSync(event.SubjectSessionEnded)
	require.NoError(t, err)
	require.Equal(t, http.StatusConflict, e.report("s-late2", "app2", "bob"))
	_, err = sub.NextMsg(5 * time.Second)
	require.NoError(t, err, "the late client's logout")
	require.Eventually(t, func() bool {
		s, ok := e.front.Index().Session("s-late2")
		return ok && len(s.Later) == 1
	}, 10*time.Second, 10*time.Millisecond, "the index has the late logout")
	time.Sleep(window + 100*time.Millisecond) // past the duplicate window

	require.Equal(t, http.StatusConflict, e.report("s-late2", "app2", "bob"))
	_, err = sub.NextMsg(500 * time.Millisecond)
	assert.ErrorIs(t, err, nats.ErrTimeout, "no second logout")
}
