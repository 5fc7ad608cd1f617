package deploycheck

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// imageServices are the services with an image, each built by
// deployments/docker/<name>.Dockerfile. The production images come first;
// demo is the DEMO image of services/demo.
var (
	productionImages = []string{"front", "backchannel", "webhook", "events", "signoff"}
	imageServices    = append(slices.Clone(productionImages), "demo")
)

// dockerfile is what the checks need from a Dockerfile: its instructions,
// with continuation lines joined.
func dockerfile(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "deployments", "docker", name+".Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(strings.TrimSpace(cont) + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var goBuild = regexp.MustCompile(`cd (\S+) && go build (.*) -o (\S+) (\S+)$`)

// buildContext returns what a Dockerfile's build stage copies from the
// context (sources relative to the repository root) and its go build: the
// module directory, the flags and the package.
func buildContext(t *testing.T, instrs []string) (copies []string, module, flags, pkg string) {
	t.Helper()
	for _, in := range instrs {
		fields := strings.Fields(in)
		switch strings.ToUpper(fields[0]) {
		case "COPY":
			if strings.HasPrefix(fields[1], "--from") || strings.HasPrefix(fields[1], "--chown") {
				continue
			}
			copies = append(copies, fields[1:len(fields)-1]...)
		case "RUN":
			if m := goBuild.FindStringSubmatch(in); m != nil {
				module, flags, pkg = m[1], m[2], m[4]
			}
		}
	}
	if module == "" {
		t.Fatal("no `cd <module> && go build ... -o <out> <pkg>` step")
	}
	return copies, module, flags, pkg
}

func TestDockerfiles(t *testing.T) {
	root := repoRoot(t)
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range imageServices {
		t.Run(name, func(t *testing.T) {
			instrs := dockerfile(t, name)
			var froms []string
			user, entrypoint := "", ""
			env := ""
			for _, in := range instrs {
				kw, rest, _ := strings.Cut(in, " ")
				switch strings.ToUpper(kw) {
				case "FROM":
					froms = append(froms, rest)
				case "USER":
					user = rest
				case "ENTRYPOINT":
					entrypoint = rest
				case "ENV":
					env += " " + rest
				}
			}
			if len(froms) != 2 || froms[0] != "golang:1.26 AS build" || froms[1] != "gcr.io/distroless/static-debian12:nonroot" {
				t.Errorf("stages %q: want golang:1.26 AS build, then gcr.io/distroless/static-debian12:nonroot", froms)
			}
			if user != "nonroot" {
				t.Errorf("USER %q, want nonroot", user)
			}
			if !strings.HasPrefix(entrypoint, `["/usr/local/bin/`) {
				t.Errorf("ENTRYPOINT %s: want the binary, exec form", entrypoint)
			}
			for _, want := range []string{"GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOWORK=off", "SIGNOFF_CONFIG="} {
				if want == "SIGNOFF_CONFIG=" && name == "demo" {
					continue // the demo reads no signoff configuration
				}
				if !strings.Contains(env, want) {
					t.Errorf("ENV lacks %s", want)
				}
			}
			copies, module, flags, _ := buildContext(t, instrs)
			if flags != `-trimpath -ldflags "-s -w"` {
				t.Errorf("go build flags %q", flags)
			}
			for _, src := range copies {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("COPY %s: %v", src, err)
				}
			}
			if !strings.Contains(strings.Join(copies, " "), module+"/") {
				t.Errorf("the module %s is not copied", module)
			}
			if _, err := os.Stat(filepath.Join(root, "deployments", "docker", name+".Dockerfile.dockerignore")); err != nil {
				t.Errorf("no Dockerfile-specific .dockerignore: %v", err)
			}
			if !strings.Contains(string(makefile), "deployments/docker/$$svc.Dockerfile -t signoff/$$svc:dev") ||
				!regexp.MustCompile(`for svc in [^;]*\b`+name+`\b`).Match(makefile) {
				t.Errorf("make images does not build %s", name)
			}
		})
	}
}

// TestProductionImagesLackTheDemo checks that no production image copies
// the demo's code: the demo has an image of its own.
func TestProductionImagesLackTheDemo(t *testing.T) {
	for _, name := range productionImages {
		copies, module, _, _ := buildContext(t, dockerfile(t, name))
		for _, src := range copies {
			if strings.HasPrefix(src, "services/demo") {
				t.Errorf("%s.Dockerfile copies %s: the demo must never ship in a production image", name, src)
			}
		}
		if strings.HasPrefix(module, "services/demo") {
			t.Errorf("%s.Dockerfile builds %s", name, module)
		}
	}
}

// TestDockerBuildContext proves that what each Dockerfile copies is enough
// to build its binary: it copies the same directories into an empty folder
// and runs the Dockerfile's go build there, with GOWORK=off and CGO off.
// No container engine is needed; the module cache stands in for the
// Dockerfile's `go mod download`.
func TestDockerBuildContext(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary per image")
	}
	root := repoRoot(t)
	for _, name := range imageServices {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			copies, module, _, pkg := buildContext(t, dockerfile(t, name))
			ctx := t.TempDir()
			for _, src := range copies {
				copyTree(t, filepath.Join(root, src), filepath.Join(ctx, src))
			}
			cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(t.TempDir(), name), pkg)
			cmd.Dir = filepath.Join(ctx, module)
			cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build %s in %s, with only the Dockerfile's COPY sources: %v\n%s", pkg, module, err, out)
			}
		})
	}
}

// copyTree copies the regular files under from (a file or a folder) to to,
// overwriting, and skips executables: the local binaries that the
// Dockerfiles' .dockerignore leaves out of the context.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil || info.Mode()&0o111 != 0 {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
}
