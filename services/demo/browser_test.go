package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestBrowserClickThrough is the demo in a real headless Chromium: the
// clicks, the redirects, signoff's front-channel page with its iframes and
// script, and App B's page. Without Chromium it skips, except in CI
// (CI=true), where it fails.
func TestBrowserClickThrough(t *testing.T) {
	path := chromiumPath(t)
	s := startStack(t)
	ctx := newChromium(t, path)

	// step runs actions with a deadline, for a slow machine.
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		require.NoError(t, chromedp.Do(sctx, actions...), what)
	}
	// read returns the value of action.
	read := func(action chromedp.Action[string]) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, action)
		require.NoError(t, err)
		return v
	}
	status := chromedp.CSS("#status")

	step("signing in to App A on the IdP's page",
		chromedp.Navigate(s.appA+"/login"),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#status.signed-in")),
	)
	text := read(chromedp.Text(status))
	require.Contains(t, text, "Signed in as demo-user")
	sid := sidOf(t, text)

	step("signing in to App B with the IdP session",
		chromedp.Navigate(s.appB+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#status.signed-in")),
	)
	require.Equal(t, sid, sidOf(t, read(chromedp.Text(status))), "one IdP session")

	step("signing out in App A, through signoff's front-channel page and back",
		chromedp.Navigate(s.appA+"/"),
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#state")),
	)
	loc := read(chromedp.Location())
	require.True(t, strings.HasPrefix(loc, s.appA+"/signed-out?state="), loc)
	require.Contains(t, read(chromedp.Text(chromedp.CSS("#state"))), "state matched")

	// App B's page: the back-channel token and the iframe that the browser
	// loaded signed the person out.
	eventually(t, 60*time.Second, "App B shows that the person is signed out", func() error {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, chromedp.Navigate(s.appB+"/"), chromedp.WaitVisible(status)); err != nil {
			return err
		}
		body, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			return err
		}
		return contains(body, "Signed out:",
			"valid ES256 logout token for sid "+sid,
			"front-channel logout: iframe for sid "+sid)
	})

	eventually(t, 60*time.Second, "signoff's ledger shows every delivery delivered", func() error {
		l, err := s.session(t, sid)
		if err != nil {
			return err
		}
		got := l.delivered()
		slices.Sort(got)
		// The front-channel iframes too: the page reported their loads.
		if want := []string{"app-a/backchannel", "app-a/frontchannel", "app-b/backchannel", "app-b/frontchannel",
			"app-b/webhook"}; !slices.Equal(got, want) {
			return fmt.Errorf("delivered %v, want %v", got, want)
		}
		return nil
	})
}

// sidOf returns the sid in an app's "Signed in as … (sid …)" status.
func sidOf(t *testing.T, status string) string {
	t.Helper()
	_, rest, ok := strings.Cut(status, "(sid ")
	require.True(t, ok, status)
	return strings.TrimSuffix(strings.TrimSpace(rest), ")")
}

const chromiumHint = "install it with `apt-get install -y chromium` (.ci/run does)"

// chromiumPath finds a Chromium or Chrome binary. Without one the test
// skips, except in CI (CI=true), where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: " + chromiumHint)
	}
	t.Skip("chromium not found: " + chromiumHint)
	return ""
}

// newChromium starts a headless Chromium with a fresh profile and returns
// the context of its first tab. The browser stops when the test ends.
func newChromium(t *testing.T, path string) context.Context {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser; it must not carry a timeout.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")), "starting chromium")
	return ctx
}
