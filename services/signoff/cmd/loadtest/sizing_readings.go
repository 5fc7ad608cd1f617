package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sessionSettled reports whether the index shows sid ended, with k
// back-channel deliveries, all delivered.
func sessionSettled(ctx context.Context, client *http.Client, base, sid string, k int) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/sessions/"+sid, nil)
	if err != nil {
		return false, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer loadtest")
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("sending the request: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET session %s: HTTP %d", sid, resp.StatusCode)
	}
	var s struct {
		EndedAt    *time.Time `json:"ended_at"`
		Deliveries []struct {
			Channel, Status string
		} `json:"deliveries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return false, fmt.Errorf("decoding session %s: %w", sid, err)
	}
	delivered := 0
	for _, d := range s.Deliveries {
		if d.Channel == "backchannel" && d.Status == "delivered" {
			delivered++
		}
	}
	return s.EndedAt != nil && delivered == k, nil
}

// get returns the body of a GET that answers 200, with token as the
// bearer token if it is not empty.
func get(ctx context.Context, url, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("building the request: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("sending the request: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetching %s: HTTP %d", url, resp.StatusCode)
	}
	return string(b), nil
}

// gauge is the value of an unlabelled metric in a Prometheus text
// exposition.
func gauge(exposition, name string) (int64, error) {
	for line := range strings.Lines(exposition) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("reading metric %s: %w", name, err)
			}
			return int64(f), nil
		}
	}
	return 0, fmt.Errorf("no metric %s", name)
}

// residentMemory reads VmRSS and VmHWM of process pid, in bytes.
func residentMemory(pid int) (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("opening the process status: %w", err)
	}
	defer f.Close()
	return parseStatus(f)
}

// parseStatus reads VmRSS and VmHWM from a /proc/PID/status.
func parseStatus(r io.Reader) (rss, peak int64, err error) {
	sc := bufio.NewScanner(r)
	found := 0
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("reading %s: %w", name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("reading the process status: %w", err)
	}
	if found != 2 {
		return 0, 0, errors.New("reading the process status: no VmRSS or VmHWM")
	}
	return rss, peak, nil
}

// diskUsage is what du counts under dir: the blocks allocated to its
// files, not their length.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("measuring the store_dir: %w", err)
	}
	return total, nil
}

// streamUsage is diskUsage per stream of the store_dir
// (jetstream/<account>/streams/<name>).
func streamUsage(storeDir string) (map[string]int64, error) {
	dirs, err := filepath.Glob(filepath.Join(storeDir, "jetstream", "*", "streams", "*"))
	if err != nil {
		return nil, fmt.Errorf("listing the streams' directories: %w", err)
	}
	usage := map[string]int64{}
	for _, d := range dirs {
		b, err := diskUsage(d)
		if err != nil {
			return nil, err
		}
		usage[filepath.Base(d)] += b
	}
	return usage, nil
}
