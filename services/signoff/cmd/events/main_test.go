package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNeedsNATSURL(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "signoff.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("issuer: http://127.0.0.1:8080\nkeys: {generate_dir: "+dir+"}\n"), 0o600))
	err := run(t.Context(), []string{"events", "-config", cfg}, func(string) string { return "" }, io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "events needs nats.url")
}
