package lab

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Services are reached the way Kubernetes clients reach them: by a host
// name (http://order, port 80) that resolves to a virtual address, which
// nftables DNATs to the address:port the service listens on — what
// kube-proxy does for a ClusterIP. The name resolves through
// /etc/netns/<ns>/hosts, which `ip netns exec` bind-mounts over /etc/hosts;
// the DNAT runs in the client's own namespace (output hook), so the
// client's socket has the virtual address as its peer while the server's
// socket sees the client's address:port unchanged.

// ServicePort is the port of every virtual service address (the port a
// Kubernetes Service exposes); the DNAT maps it to the service's own port.
const ServicePort = 80

// ServiceTable is the nftables table (in each service namespace) with the
// DNAT rules.
const ServiceTable = Prefix + "services"

// NetnsEtc is where `ip netns exec` finds per-namespace /etc files.
const NetnsEtc = "/etc/netns"

// ClusterDomain is the search-free full name suffix the hosts files also
// list (order.crosshair-e2e.svc.cluster.local).
const ClusterDomain = "crosshair-e2e.svc.cluster.local"

// URL is what a client calls to reach s: its host name, the service port
// (the scheme's default, so the URL names none) and path.
func (s Service) URL(path string) string { return "http://" + s.Host + path }

// VIPEndpoint is the virtual address:port a client's socket connects to.
func (s Service) VIPEndpoint() string {
	return net.JoinHostPort(s.VIP, fmt.Sprint(ServicePort))
}

// hostsFile is every namespace's /etc/hosts: localhost and the services'
// virtual addresses (like cluster DNS, every client can resolve every
// service).
func hostsFile() string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
	for _, s := range Services {
		if s.VIP != "" {
			fmt.Fprintf(&b, "%s\t%s %s.%s\n", s.VIP, s.Host, s.Host, ClusterDomain)
		}
	}
	return b.String()
}

// serviceRules is the DNAT table: each virtual address:port to the
// service's listen address.
func serviceRules() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n", ServiceTable)
	for _, s := range Services {
		if s.VIP != "" {
			fmt.Fprintf(&b, "\t\tip daddr %s tcp dport %d dnat to %s\n", s.VIP, ServicePort, s.Listen)
		}
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// setupServices writes the hosts files, loads the DNAT tables and routes
// each client's virtual address over its link to the service (the route
// picks the source address; the DNAT then sends the packet to the service
// on that same link).
func setupServices() error {
	for _, s := range Services {
		dir := filepath.Join(NetnsEtc, s.Netns)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("hosts of %s: %w", s.Netns, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(hostsFile()), 0o644); err != nil {
			return fmt.Errorf("hosts of %s: %w", s.Netns, err)
		}
		cmd := exec.Command("ip", "netns", "exec", s.Netns, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(serviceRules())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("service DNAT in %s: %v: %s", s.Netns, err, out)
		}
	}
	for _, r := range []struct {
		client Service
		dev    string
		via    string
		server Service
	}{
		{Frontend, "fe-or", FrontendOrderB, Order},
		{Order, "or-pa", OrderPaymentB, Payment},
	} {
		if _, err := InNs(r.client.Netns, "ip", "route", "add", r.server.VIP+"/32", "via", r.via, "dev", r.dev); err != nil {
			return err
		}
	}
	return nil
}

// cleanupServices removes the hosts files (the DNAT tables and routes go
// with their namespaces).
func cleanupServices() []error {
	var errs []error
	dirs, _ := filepath.Glob(filepath.Join(NetnsEtc, Prefix+"*"))
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Resolve returns what host resolves to inside ns (getent, through the
// namespace's hosts file).
func Resolve(ns, host string) (string, error) {
	out, err := InNs(ns, "getent", "hosts", host)
	if err != nil {
		return "", err
	}
	f := strings.Fields(out)
	if len(f) == 0 {
		return "", errors.New("no address for " + host + " in " + ns)
	}
	return f[0], nil
}

// Connections counts the established TCP connections in ns whose peer is
// endpoint (a virtual address:port): the client's pooled connections to a
// Service.
func Connections(ns, endpoint string) (int, error) {
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return 0, err
	}
	out, err := InNs(ns, "ss", "-Htn", "state", "established", "dst", host, "dport", "= :"+port)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n, nil
}
