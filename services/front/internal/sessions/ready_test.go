package sessions_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/services/front/internal/sessions"
	"github.com/signoff/signoff/shared/event"
)

// TestReadyWhenEveryEventIsOlderThanTheWindow: a front restarted after a
// quiet period, when the events stream holds only events older than the
// replay window, is ready at once.
func TestReadyWhenEveryEventIsOlderThanTheWindow(t *testing.T) {
	js := setup(t)
	_, err := js.Publish(t.Context(), event.SubjectSessionEnded, mustJSON(t, event.SessionEnded{LogoutID: "Lold", SID: "s", Sub: "a",
		Iss: "x", Reason: event.ReasonAPI, Time: time.Now().UTC()}))
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond)
	ix, err := index.New()
	require.NoError(t, err)
	// A window of 100ms: the event is older than twice that.
	f := sessions.NewFeed(js, ix, 100*time.Millisecond, slog.New(slog.DiscardHandler))
	require.NoError(t, f.Start(t.Context()))
	t.Cleanup(f.Stop)
	select {
	case <-f.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the feed never became ready")
	}
}
