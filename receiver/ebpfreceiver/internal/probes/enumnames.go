package probes

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// KernelNames resolves the values of kernel enums that tracepoints report as
// numbers (enum skb_drop_reason, enum sk_rst_reason) to their names, read
// once from the running kernel's BTF: the numbering changes between kernel
// versions, so a hard-coded table would be wrong somewhere.
type KernelNames struct {
	drop, reset map[uint32]string
}

// LoadKernelNames reads the enums from /sys/kernel/btf/vmlinux. An enum the
// kernel lacks leaves its names empty (the decoder then reports numbers).
func LoadKernelNames() (*KernelNames, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("load kernel BTF: %w", err)
	}
	n := &KernelNames{}
	var errs []error
	if n.drop, err = enumNames(spec, "skb_drop_reason", "SKB_DROP_REASON_"); err != nil {
		errs = append(errs, err)
	}
	if n.reset, err = enumNames(spec, "sk_rst_reason", "SK_RST_REASON_"); err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// enumNames maps each value of the named enum to its name without prefix
// (SKB_DROP_REASON_NETFILTER_DROP → NETFILTER_DROP, the spelling of the
// tracepoint's own output and of perf/dropwatch).
func enumNames(spec *btf.Spec, name, prefix string) (map[uint32]string, error) {
	var enum *btf.Enum
	if err := spec.TypeByName(name, &enum); err != nil {
		return nil, fmt.Errorf("enum %s: %w", name, err)
	}
	out := make(map[uint32]string, len(enum.Values))
	for _, v := range enum.Values {
		if _, dup := out[uint32(v.Value)]; dup {
			continue // aliases like SKB_DROP_REASON_MAX: keep the first name
		}
		out[uint32(v.Value)] = strings.TrimPrefix(v.Name, prefix)
	}
	return out, nil
}

// DropReason names an skb_drop_reason value, "" when unknown.
func (n *KernelNames) DropReason(v uint32) string {
	if n == nil {
		return ""
	}
	return n.drop[v]
}

// ResetReason names an sk_rst_reason value, "" when unknown.
func (n *KernelNames) ResetReason(v uint32) string {
	if n == nil {
		return ""
	}
	return n.reset[v]
}

// DropReasonValue is the value of an skb_drop_reason name (with or without
// the SKB_DROP_REASON_ prefix) in the running kernel.
func (n *KernelNames) DropReasonValue(name string) (uint32, bool) {
	if n == nil {
		return 0, false
	}
	name = strings.TrimPrefix(name, "SKB_DROP_REASON_")
	for v, s := range n.drop {
		if s == name {
			return v, true
		}
	}
	return 0, false
}
