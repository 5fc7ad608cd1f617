package event_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/shared/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

var when = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func goldenCases() map[string]any {
	return map[string]any{
		"session_ended": &event.SessionEnded{
			LogoutID: "01JDX3Q5ZK8Q7W2V9C4T6B1N0M", SID: "08a5019c-17e1-4977-8f42-65a12843ea02",
			Sub: "alice", Iss: "https://idp.example.com",
			Clients: []event.Participant{{ClientID: "app1", Sub: "alice", Channels: []string{"frontchannel", "backchannel"}},
				{ClientID: "app2", Sub: "pairwise-7f3c"}},
			InitiatingClientID: "app1", Reason: event.ReasonEndSession, Time: when,
		},
		"session_ended_subject": &event.SessionEnded{
			LogoutID: "01JDX3Q5ZK8Q7W2V9C4T6B1N0N", Sessions: []string{"s1", "s2"},
			Sub: "alice", Iss: "https://idp.example.com",
			Clients: []event.Participant{{ClientID: "app1", Sub: "alice", SIDs: []string{"s1", "s2"}}},
			Reason:  event.ReasonAPISubject, Time: when,
		},
		"client_logout": &event.ClientLogout{
			Type: event.ClientLogoutType, LogoutID: "01JDX3Q5ZK8Q7W2V9C4T6B1N0M", SID: "08a5019c-17e1-4977-8f42-65a12843ea02",
			Sub: "pairwise-7f3c", Iss: "https://idp.example.com", ClientID: "app2", Reason: event.ReasonEndSession, Time: when,
		},
		"client_logout_subject": &event.ClientLogout{
			Type: event.ClientLogoutType, LogoutID: "01JDX3Q5ZK8Q7W2V9C4T6B1N0N", SIDs: []string{"s1", "s2"},
			Sub: "alice", Iss: "https://idp.example.com", ClientID: "app1", Reason: event.ReasonAPISubject, Time: when,
		},
		"delivery_batch": &event.DeliveryBatch{
			LogoutID: "01JDX3Q5ZK8Q7W2V9C4T6B1N0M", SID: "08a5019c-17e1-4977-8f42-65a12843ea02", Channel: "backchannel",
			Deliveries: []event.BatchDelivery{{ClientID: "app1", Status: event.StatusDelivered, Attempts: 1},
				{ClientID: "app3", Status: event.StatusFailed, Attempts: 1, LastError: "HTTP 400: invalid_request"}},
			Time: when,
		},
		"joined": &event.Joined{SID: "08a5019c-17e1-4977-8f42-65a12843ea02", ClientID: "app1", Sub: "alice", Time: when},
		"delivery": &event.Delivery{
			LogoutID: "01JDX3Q5ZK8Q7W2V9C4T6B1N0M", SID: "08a5019c-17e1-4977-8f42-65a12843ea02",
			ClientID: "app2", Channel: "backchannel", Status: event.StatusRetrying, Attempts: 2,
			LastError: "HTTP 503", Time: when,
		},
	}
}

// TestGolden pins the JSON of every payload: changing it breaks workers and
// custom apps, so a diff here must be deliberate (go test -update).
func TestGolden(t *testing.T) {
	for name, v := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(v, "", "  ")
			require.NoError(t, err)
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.JSONEq(t, string(want), string(got))
		})
	}
}

func TestDecodeValidates(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{"joined ok", `{"sid":"s1","client_id":"app1","sub":"alice"}`, ""},
		{"joined no sid", `{"client_id":"app1","sub":"alice"}`, "sid: required"},
		{"joined bad client", `{"sid":"s1","client_id":"a.b","sub":"alice"}`, "client_id"},
		{"joined no sub", `{"sid":"s1","client_id":"app1"}`, "sub: required"},
		{"joined not json", `{"sid":`, "decoding"},
		{"joined not UTF-8", "{\"sid\":\"s1\",\"client_id\":\"app1\",\"sub\":\"al\xffice\"}", "not UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := event.Decode[event.Joined]([]byte(tc.data))
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, "s1", j.SID)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestSessionEndedValidate(t *testing.T) {
	ok := goldenCases()["session_ended"].(*event.SessionEnded)
	require.NoError(t, ok.Validate())
	bad := *ok
	bad.Reason = "bored"
	bad.SID, bad.Sub = "", ""
	err := bad.Validate()
	require.ErrorIs(t, err, event.ErrInvalid)
	assert.Contains(t, err.Error(), "reason")
	assert.Contains(t, err.Error(), "sid or sub")
	bad = *ok
	bad.SID = "s\xfe"
	require.ErrorIs(t, bad.Validate(), event.ErrInvalid, "a sid that JSON would change")
	subjectWide := *goldenCases()["session_ended_subject"].(*event.SessionEnded)
	subjectWide.Sessions = []string{"s1", ""}
	require.ErrorIs(t, subjectWide.Validate(), event.ErrInvalid, "an empty sid among the sessions")
	assert.False(t, event.ValidText("s\ufffd"), "U+FFFD: a report that JSON changed")
	assert.False(t, event.ValidText("s\xfe"))
	assert.True(t, event.ValidText("sïd-1"))
	for _, s := range []string{"alice\x00x", "a\tb", "a\u0085b", "a\x7fb"} {
		assert.False(t, event.ValidText(s), "a control character: %q", s)
	}
	assert.Equal(t, []string{"s1", "s2"}, goldenCases()["session_ended_subject"].(*event.SessionEnded).SIDs())
	cl := ok.ForClient(ok.Clients[1])
	assert.Equal(t, goldenCases()["client_logout"], &cl, "a client sees its own sub")
	require.NoError(t, cl.Validate())
	subject := goldenCases()["session_ended_subject"].(*event.SessionEnded)
	cl = subject.ForClient(subject.Clients[0])
	assert.Equal(t, goldenCases()["client_logout_subject"], &cl, "the sessions of that client")
	require.NoError(t, cl.Validate())
}

func TestSubjects(t *testing.T) {
	sid := "odd sid.with*dots>"
	subj := event.ParticipationSubject(sid, "app1")
	tok := event.TokenAfter(subj, event.ParticipationPrefix, 0)
	got, err := event.ParseSIDToken(tok)
	require.NoError(t, err)
	assert.Equal(t, sid, got)
	assert.Equal(t, "app1", event.TokenAfter(subj, event.ParticipationPrefix, 2))
	assert.True(t, event.ValidToken(tok))
	assert.Equal(t, "signoff.v1.logout.app1", event.LogoutSubject("app1"))
	assert.Equal(t, "webhook", event.TokenAfter(event.DeliverySubject("L1", "webhook", "app2"), event.DeliveryPrefix, 1))
	assert.Equal(t, "", event.TokenAfter("other.subject", event.DeliveryPrefix, 0))
	for _, bad := range []string{"", "a.b", "a*", "a>", "a b", "é"} {
		assert.False(t, event.ValidToken(bad), bad)
	}
}

// FuzzDecode feeds arbitrary bytes to every decoder: never a panic, and
// whatever is accepted is valid.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.golden.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if e, err := event.Decode[event.SessionEnded](data); err == nil {
			require.NoError(t, e.Validate())
		}
		if j, err := event.Decode[event.Joined](data); err == nil {
			require.True(t, event.ValidToken(j.ClientID))
		}
		if c, err := event.Decode[event.ClientLogout](data); err == nil {
			require.Equal(t, event.ClientLogoutType, c.Type)
		}
		if b, err := event.Decode[event.DeliveryBatch](data); err == nil {
			for i := range b.Deliveries {
				d := b.Delivery(i)
				require.NoError(t, d.Validate())
			}
		}
		if d, err := event.Decode[event.Delivery](data); err == nil {
			require.True(t, d.Status.Valid())
		}
	})
}
