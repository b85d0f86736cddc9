package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Chromium drives Debian's headless Chromium to load the crosshair view as
// a person's browser would: the DOM it builds and a screenshot of it.
type Chromium struct{ Path string }

// FindChromium finds the browser (Debian's chromium package).
func FindChromium() (*Chromium, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return &Chromium{Path: p}, nil
		}
	}
	return nil, errors.New("no chromium on PATH (apt-get install chromium)")
}

// run starts a headless, offline, throw-away browser profile on url with
// extra flags and returns its standard output.
func (c *Chromium) run(ctx context.Context, url string, extra ...string) ([]byte, error) {
	profile, err := os.MkdirTemp("", "chx-view-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + profile,
	}, extra...)
	cmd := exec.CommandContext(ctx, c.Path, append(args, url)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("chromium %s: %w\n%s", url, err, tail(stderr.String(), 2000))
	}
	return out, nil
}

// DOM loads url and returns the document Chromium built, serialized.
func (c *Chromium) DOM(ctx context.Context, url string) (string, error) {
	out, err := c.run(ctx, url, "--dump-dom")
	return string(out), err
}

// Screenshot loads url in a window of w×h pixels and writes a PNG to path.
// Chromium does not create the directory (it fails silently), so it is made here.
func (c *Chromium) Screenshot(ctx context.Context, url, path string, w, h int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("screenshot directory: %w", err)
	}
	if _, err := c.run(ctx, url, "--hide-scrollbars", fmt.Sprintf("--window-size=%d,%d", w, h), "--screenshot="+path); err != nil {
		return err
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		return fmt.Errorf("chromium wrote no screenshot to %s: %v", path, err)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
