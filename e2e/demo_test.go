package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DemoEnv turns `make e2e`'s harness into `make demo`: the collector's
// view is announced, every diagnosed trace is printed as one console line
// while the scenario runs, and after the fault phase the harness waits for
// Ctrl-C (the page stays up) before it stops and removes everything.
const DemoEnv = "CHX_DEMO"

// ViewURL is where the e2e collector (collector.yaml) serves the view.
const ViewURL = "http://127.0.0.1:24387/"

type demo struct {
	on     bool
	cancel context.CancelFunc
	done   chan struct{}
}

// startDemo, with CHX_DEMO=1, prints the view's URL and follows the
// diagnosis exporter's JSON lines in out, one console line per trace.
func startDemo(t *testing.T, out string) *demo {
	d := &demo{on: os.Getenv(DemoEnv) == "1"}
	if !d.on {
		return d
	}
	fmt.Printf("\ncrosshair demo: the crosshair view is at %s (each diagnosed trace: its hops × the isolation layers)\n\n", ViewURL)
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go func() {
		defer close(d.done)
		followReports(ctx, filepath.Join(out, "diagnosis.jsonl"), os.Stdout)
	}()
	t.Cleanup(d.stop)
	return d
}

// wait, in demo mode, keeps everything running until Ctrl-C.
func (d *demo) wait() {
	if !d.on {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	fmt.Printf("\ncrosshair demo: the fault phase is over; the traces stay at %s — press Ctrl-C to stop and remove everything\n", ViewURL)
	<-sig
	fmt.Println("crosshair demo: stopping; removing the namespaces, cgroups, nft tables and processes it created")
	d.stop()
}

func (d *demo) stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
		d.cancel = nil
	}
}

// followReports prints one line per diagnosis JSON line appended to path.
func followReports(ctx context.Context, path string, w io.Writer) {
	var f *os.File
	for f == nil {
		var err error
		if f, err = os.Open(path); err != nil {
			f = nil
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var partial []byte
	for {
		line, err := r.ReadBytes('\n')
		partial = append(partial, line...)
		if err == nil {
			if s := reportLine(partial); s != "" {
				fmt.Fprintln(w, s)
			}
			partial = partial[:0]
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// reportLine is one diagnosis as a console line: slow hop, layer, cause.
func reportLine(b []byte) string {
	var r struct {
		TraceID string  `json:"trace_id"`
		Root    string  `json:"root"`
		RootMs  float64 `json:"root_ms"`
		Layer   string  `json:"layer"`
		Cause   string  `json:"cause"`
		SlowHop struct {
			Service    string  `json:"service"`
			Peer       string  `json:"peer"`
			Kind       string  `json:"kind"`
			DurationMs float64 `json:"duration_ms"`
		} `json:"slow_hop"`
	}
	if json.Unmarshal(b, &r) != nil || r.TraceID == "" {
		return ""
	}
	hop := r.SlowHop.Service
	if r.SlowHop.Peer != "" {
		if r.SlowHop.Kind == "server" {
			hop = r.SlowHop.Peer + " → " + hop
		} else {
			hop += " → " + r.SlowHop.Peer
		}
	}
	cause := r.Cause
	if len([]rune(cause)) > 110 {
		cause = string([]rune(cause)[:109]) + "…"
	}
	return fmt.Sprintf("%s %6.1fms  slow hop %s (%s %.1fms)  %-7s %s  %strace/%s",
		time.Now().UTC().Format("15:04:05"), r.RootMs, hop, r.SlowHop.Kind, r.SlowHop.DurationMs, r.Layer, strings.TrimSpace(cause), ViewURL, r.TraceID)
}
