package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// joinCgroups writes this process's pid into each cgroup directory's
// cgroup.procs, so the whole process (all threads) runs in its "container".
func joinCgroups(dirs string) error {
	for _, d := range strings.Split(dirs, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(fmt.Sprint(os.Getpid())), 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", d, err)
		}
	}
	return nil
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	name := fs.String("name", "", "service.name")
	listen := fs.String("listen", "", "address:port to serve on")
	downstream := fs.String("downstream", "", "URL called once per request, e.g. http://payment/pay (empty: leaf service)")
	otlp := fs.String("otlp", "", "OTLP/HTTP endpoint host:port of the collector")
	cpuWork := fs.Duration("cpu-work", 0, "CPU time burnt per request")
	fsyncFile := fs.String("fsync-file", "", "file that gets a 4 KiB write + fsync per request")
	syscallWork := fs.Int("syscall-work", 0, "one-byte positional reads (pread64) of /dev/zero per request: request work made of system calls that never wait for anyone, the part a syscall-intercepting sandbox slows")
	cgroups := fs.String("cgroups", "", "comma-separated cgroup directories to join at start")
	truthPath := fs.String("truth", "", "file for the harness's per-request measurements (fsync and CPU-work wall time); never on spans")
	_ = fs.Parse(args)
	if *name == "" || *listen == "" || *otlp == "" {
		return fmt.Errorf("-name, -listen and -otlp are required")
	}
	if err := joinCgroups(*cgroups); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(*otlp), otlptracehttp.WithInsecure())
	if err != nil {
		return err
	}
	// The SDK's default resource (service.name, telemetry.sdk.*) and nothing
	// else: no process.pid, no host, as a stock Go service sends.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", *name)))
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(500*time.Millisecond), sdktrace.WithMaxQueueSize(20000)),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	var ledger *os.File
	if *fsyncFile != "" {
		if err := os.MkdirAll(filepath.Dir(*fsyncFile), 0o755); err != nil {
			return err
		}
		ledger, err = os.OpenFile(*fsyncFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		defer ledger.Close()
	}
	block := make([]byte, 4096)
	var off int64
	var zero *os.File
	if *syscallWork > 0 {
		if zero, err = os.Open("/dev/zero"); err != nil {
			return err
		}
		defer zero.Close()
	}

	// Stock client: otelhttp over the default transport, whose keep-alive
	// pool carries many requests on each connection.
	client := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport), Timeout: 10 * time.Second}

	mux := http.NewServeMux()
	truth, err := openTruth(*truthPath)
	if err != nil {
		return err
	}
	defer truth.Close()

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		rec := recordOf(r) // the harness's oracle (nil-safe); never on the span
		if *cpuWork > 0 {
			t0 := time.Now()
			rec.CPUSpent = int64(burn(*cpuWork))
			rec.CPUWall = since(t0)
		}
		if zero != nil {
			var b [1]byte
			for i := 0; i < *syscallWork; i++ {
				if _, err := zero.ReadAt(b[:], 0); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
			}
		}
		if ledger != nil {
			// A small durable write per request: a ledger entry.
			if _, err := ledger.WriteAt(block, off%(64<<20)); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			off += int64(len(block))
			wall, runDelay, err := measuredSync(ledger)
			rec.FsyncNs, rec.FsyncRunDelayNs = int64(wall), int64(runDelay)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		if *downstream != "" {
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, *downstream, nil)
			resp, err := client.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				http.Error(w, "downstream "+resp.Status, http.StatusBadGateway)
				return
			}
		}
		rec.identify(r)
		_, _ = io.WriteString(w, *name+" ok\n")
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	traced := otelhttp.NewHandler(mux, *name, otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" }))
	// The oracle measures around the whole span (truth.measure).
	srv := &http.Server{Handler: truth.measure(traced)}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	fmt.Fprintf(os.Stderr, "%s: serving on %s (pid %d)\n", *name, *listen, os.Getpid())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return tp.Shutdown(sctx)
}

// burn spends d of this thread's CPU time (not wall time: a throttled or
// preempted thread takes longer, which is the point).
// It returns the CPU time spent.
func burn(d time.Duration) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	buf := make([]byte, 4096)
	for threadCPU()-start < d {
		for i := 0; i < 64; i++ {
			sum := sha256.Sum256(buf)
			buf[0] = sum[0]
		}
	}
	return threadCPU() - start
}

func threadCPU() time.Duration {
	var ts syscall.Timespec
	// CLOCK_THREAD_CPUTIME_ID = 3
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptrOf(&ts), 0)
	return time.Duration(ts.Nano())
}
