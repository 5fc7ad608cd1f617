package deploycheck

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/signoff/signoff/shared/config"
	"github.com/signoff/signoff/shared/keys"
)

// repoRoot is the repository root: two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	root, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// mount maps a path inside a container to a path on the test's disk.
type mount struct {
	target string // inside the container
	source string // on disk
}

// resolve maps the container path p through the mounts, the longest
// target first, and reports whether a mount covers it.
func resolve(mounts []mount, p string) (string, bool) {
	sorted := slices.Clone(mounts)
	slices.SortFunc(sorted, func(a, b mount) int { return len(b.target) - len(a.target) })
	for _, m := range sorted {
		if p == m.target {
			return m.source, true
		}
		if rest, ok := strings.CutPrefix(p, strings.TrimSuffix(m.target, "/")+"/"); ok {
			return filepath.Join(m.source, filepath.FromSlash(rest)), true
		}
	}
	return "", false
}

// loadSignoffConfig loads the signoff configuration at path with signoff's
// own loader and the given environment. For a service that signs, it
// checks that every key file (a container path, mapped through mounts)
// exists and loads as a signing key for the algorithms the clients need;
// for one that does not, that no key file is mounted.
func loadSignoffConfig(t *testing.T, path string, env map[string]string, mounts []mount, signs bool) *config.Config {
	t.Helper()
	cfg, err := config.Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("%s does not pass config.Load:\n%v", path, err)
	}
	if cfg.Keys.GenerateDir != "" {
		t.Errorf("%s: keys.generate_dir gives every replica its own keys; use keys.files", path)
	}
	if !signs {
		// A service that signs nothing gets no private keys.
		for _, f := range cfg.Keys.Files {
			if host, ok := resolve(mounts, f); ok {
				if _, err := os.Stat(host); err == nil {
					t.Errorf("%s: key file %s is mounted in a service that signs nothing", path, f)
				}
			}
		}
		return cfg
	}
	files := make([]string, 0, len(cfg.Keys.Files))
	for _, f := range cfg.Keys.Files {
		host, ok := resolve(mounts, f)
		if !ok {
			t.Errorf("%s: key file %s is not under any mount", path, f)
			continue
		}
		if _, err := os.Stat(host); err != nil {
			t.Errorf("%s: key file %s (%s): %v", path, f, host, err)
			continue
		}
		files = append(files, host)
	}
	if t.Failed() {
		return cfg
	}
	if _, err := keys.Load(config.Keys{Files: files}, cfg.SigningAlgs(), nil); err != nil {
		t.Errorf("%s: the key files do not load: %v", path, err)
	}
	return cfg
}
