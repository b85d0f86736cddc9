package layers

import "github.com/crosshair-otel/crosshair/internal/contract"

// The verdict's rules that need the processor's state (what else the node
// saw around the span), named here beside the table they refine.

// SlowVirtioDisk is the layer of a span's slow disk-wait syscalls
// (DiskWait) when the span ran while a virtio disk of its node was slow:
// the process waited for that disk's shared queue (virtio-blk queue
// latency), though the receiver calls a body without an IO limit app.
const SlowVirtioDisk = contract.LayerL2

// PeerBoundary reports whether layer, the innermost layer around a peer
// on this node, is taken as the layer of loss to that peer: only a
// container or sandbox boundary (L3, L4). For a peer running directly on
// the node, loss between two local sockets is not the hypervisor's or the
// virtio device's; the verdict stays network.
func PeerBoundary(layer string) bool {
	return layer == contract.LayerL3 || layer == contract.LayerL4
}
