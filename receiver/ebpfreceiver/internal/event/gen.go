package event

// The record types (and the event-type enum) are generated from
// bpf/records.h, the one definition the BPF programs write: layout.go takes
// every offset the decoder reads from them. `make generate` reruns this line.
//
//go:generate go tool -modfile=../../../../tools/go.mod bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type event_type -type established_side -type retransmit_kind -type event_header -type sock_tuple -type cg_key -type sc_peer -type tcp_retransmit_event -type tcp_connection_event -type tcp_established_event -type tcp_reset_event -type skb_drop_event -type net_tx_timeout_event -type sched_delay_event -type cpu_throttled_event -type block_io_event -type syscall_event -type oom_kill_event records ../../../../bpf/records.c -- -I../../../../bpf -O2 -g -Wall -Werror
