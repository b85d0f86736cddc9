// Package probes loads Crosshair's BPF programs, attaches them to their
// kernel hooks and owns the maps they share (one ring buffer per node).
package probes

// The C sources live in /bpf; bpf2go compiles them with clang and commits the
// objects next to this file, so a plain `go build` needs no clang.
// `make generate` reruns these lines.
//
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type retrans_key tcpretrans ../../../../bpf/tcpretrans.c -- -I../../../../bpf -O2 -g -Wall -Werror
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel tcplife ../../../../bpf/tcplife.c -- -I../../../../bpf -O2 -g -Wall -Werror
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel tcpsnapshot ../../../../bpf/tcpsnapshot.c -- -I../../../../bpf -O2 -g -Wall -Werror
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel tcpreset ../../../../bpf/tcpreset.c -- -I../../../../bpf -O2 -g -Wall -Werror
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type drop_key -type rate skbdrop ../../../../bpf/skbdrop.c -- -I../../../../bpf -O2 -g -Wall -Werror
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type tx_timeout_key txtimeout ../../../../bpf/txtimeout.c -- -I../../../../bpf -O2 -g -Wall -Werror
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64,arm64 -type log2_hist -type cg_key sched ../../../../bpf/sched.c -- -I../../../../bpf -O2 -g -Wall -Werror
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type blk_key blockio ../../../../bpf/blockio.c -- -I../../../../bpf -O2 -g -Wall -Werror
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64,arm64 -type sc_key syscall ../../../../bpf/syscall.c -- -I../../../../bpf -O2 -g -Wall -Werror
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64,arm64 -type sc_key syscalltp ../../../../bpf/syscall_tp.c -- -I../../../../bpf -O2 -g -Wall -Werror
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel oom ../../../../bpf/oom.c -- -I../../../../bpf -O2 -g -Wall -Werror
