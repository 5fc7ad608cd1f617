package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// servePprof points pprofAddr at a loopback server answering with h.
func servePprof(t *testing.T, h http.HandlerFunc) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	old := pprofAddr
	pprofAddr = strings.TrimPrefix(srv.URL, "http://")
	t.Cleanup(func() { pprofAddr = old })
}

// TestWriteProfile: the product's answer is written to the file when it
// is 200; any other answer is an error and writes nothing, as its body is
// an error message, not a profile.
func TestWriteProfile(t *testing.T) {
	t.Run("200", func(t *testing.T) {
		servePprof(t, func(w http.ResponseWriter, req *http.Request) {
			assert.Equal(t, "/debug/pprof/heap", req.URL.Path)
			_, _ = w.Write([]byte("profile bytes"))
		})
		file := filepath.Join(t.TempDir(), "mem.pprof")
		require.NoError(t, writeProfile(t.Context(), allocsPath, file))
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.Equal(t, "profile bytes", string(b))
	})
	t.Run("404", func(t *testing.T) {
		servePprof(t, http.NotFound)
		file := filepath.Join(t.TempDir(), "mem.pprof")
		err := writeProfile(t.Context(), allocsPath, file)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "404")
		assert.NoFileExists(t, file)
	})
}
