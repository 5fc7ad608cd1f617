package deploycheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/signoff/signoff/shared/config"
)

// TestREADMEConfigReference: the README's configuration reference has a
// row for every key that an environment variable sets, and its list of
// variables is config.EnvKeys(), no more, no less.
func TestREADMEConfigReference(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	want := config.EnvKeys()

	listed := regexp.MustCompile(`\bSIGNOFF_[A-Z0-9_]+\b`).FindAllString(envBlock(t, text), -1)
	slices.Sort(listed)
	sorted := slices.Sorted(slices.Values(want))
	if !slices.Equal(listed, sorted) {
		t.Errorf("README's list of environment variables:\n%v\nconfig.EnvKeys():\n%v", listed, sorted)
	}
	for _, v := range want {
		key := strings.ToLower(strings.TrimPrefix(v, "SIGNOFF_"))
		if !hasKeyRow(text, key) {
			t.Errorf("README's configuration reference has no row for %s", v)
		}
	}
}

// envBlock is the code block of the README that follows its
// "**Environment variables**" paragraph.
func envBlock(t *testing.T, readme string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "**Environment variables**")
	if !ok {
		t.Fatal("README has no **Environment variables** paragraph")
	}
	_, block, ok := strings.Cut(after, "```\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatal("no code block after README's **Environment variables**")
	}
	return block
}

// hasKeyRow reports whether the README has a table row for key, whose
// dots may be the variable's underscores: logout.confirm_unknown_sessions
// for SIGNOFF_LOGOUT_CONFIRM_UNKNOWN_SESSIONS.
func hasKeyRow(readme, key string) bool {
	for line := range strings.Lines(readme) {
		cell, ok := strings.CutPrefix(line, "| `")
		if !ok {
			continue
		}
		name, _, ok := strings.Cut(cell, "`")
		if ok && strings.ReplaceAll(name, ".", "_") == key {
			return true
		}
	}
	return false
}
