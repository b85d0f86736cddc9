// Package lab builds and removes the real kernel fixtures of the end-to-end
// scenarios: one network namespace per service joined by veth pairs
// (198.19.0.0/16), services reached by host name through a DNAT'ed virtual
// address (services.go), one cgroup per service in the cpu, blkio and memory v1
// hierarchies, nftables drop tables, a loop device for the disk scenario.
// Everything is named chx-e2e-* / crosshair-e2e-* so Cleanup finds it after a
// killed run.
package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Prefix names everything the scenarios create.
const Prefix = "chx-e2e-"

// OTLPPort is the collector's OTLP/HTTP port (bound on 0.0.0.0 in the root
// namespace; services reach it through their host link).
const OTLPPort = 24318

// Service is one demo service and where it runs.
type Service struct {
	Name     string
	Netns    string
	HostDev  string // veth end in the root namespace
	HostAddr string // address of HostDev (the collector as this service sees it)
	NsAddr   string // address of the service's end of the host link
	Listen   string // address:port the service serves on (the DNAT target)
	Host     string // host name clients call it by ("" for the frontend, called by address)
	VIP      string // virtual address Host resolves to (10.96.0.0/16, port ServicePort)
}

// Services of the demo chain frontend → order → payment.
var (
	Frontend = Service{Name: "frontend", Netns: Prefix + "frontend", HostDev: "chx-e2e-fe-h", HostAddr: "198.19.10.1", NsAddr: "198.19.10.2", Listen: "0.0.0.0:8080"}
	Order    = Service{Name: "order", Netns: Prefix + "order", HostDev: "chx-e2e-or-h", HostAddr: "198.19.11.1", NsAddr: "198.19.11.2", Listen: "198.19.1.2:8081", Host: "order", VIP: "10.96.0.11"}
	Payment  = Service{Name: "payment", Netns: Prefix + "payment", HostDev: "chx-e2e-pa-h", HostAddr: "198.19.12.1", NsAddr: "198.19.12.2", Listen: "198.19.2.2:8082", Host: "payment", VIP: "10.96.0.12"}
	Services = []Service{Frontend, Order, Payment}
)

// Service-to-service links (a /30 each, directly connected).
const (
	FrontendOrderA = "198.19.1.1" // frontend's end, dev "fe-or"
	FrontendOrderB = "198.19.1.2" // order's end, dev "or-fe"
	OrderPaymentA  = "198.19.2.1" // order's end, dev "or-pa"
	OrderPaymentB  = "198.19.2.2" // payment's end, dev "pa-or"
	PaymentPort    = 8082
)

// FrontendURL is what the load generator calls from the root namespace.
var FrontendURL = "http://" + Frontend.NsAddr + ":8080/checkout"

// Cgroup controllers (v1 hierarchies) each service gets a directory in.
var Controllers = []string{"cpu", "blkio", "memory"}

// CgroupRoot is the v1 mount root.
const CgroupRoot = "/sys/fs/cgroup"

// Cgroup returns the v1 directory of group under controller.
func Cgroup(controller, group string) string {
	return filepath.Join(CgroupRoot, controller, Prefix+group)
}

// CgroupDirs lists group's directories in every controller.
func CgroupDirs(group string) []string {
	var out []string
	for _, c := range Controllers {
		out = append(out, Cgroup(c, group))
	}
	return out
}

// Disk scenario fixtures.
const (
	DiskImage = "/var/tmp/crosshair-e2e-disk.img"
	DiskMount = "/run/crosshair-e2e-disk"
	DiskMB    = 1024
)

// Run runs a command and returns its combined output, or an error that
// carries it.
func Run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// InNs runs a command inside a namespace.
func InNs(ns string, name string, args ...string) (string, error) {
	return Run("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Setup builds the namespaces, links and cgroups. Call Cleanup first.
func Setup() error {
	for _, s := range Services {
		if _, err := Run("ip", "netns", "add", s.Netns); err != nil {
			return err
		}
		if _, err := InNs(s.Netns, "ip", "link", "set", "lo", "up"); err != nil {
			return err
		}
		// host link: root namespace ↔ service namespace (OTLP, load).
		if _, err := Run("ip", "link", "add", s.HostDev, "type", "veth", "peer", "name", "host0", "netns", s.Netns); err != nil {
			return err
		}
		if err := addrUp("", s.HostDev, s.HostAddr+"/30"); err != nil {
			return err
		}
		if err := addrUp(s.Netns, "host0", s.NsAddr+"/30"); err != nil {
			return err
		}
		if _, err := InNs(s.Netns, "ip", "route", "add", "default", "via", s.HostAddr); err != nil {
			return err
		}
	}
	for _, l := range []struct{ nsA, devA, addrA, nsB, devB, addrB string }{
		{Frontend.Netns, "fe-or", FrontendOrderA, Order.Netns, "or-fe", FrontendOrderB},
		{Order.Netns, "or-pa", OrderPaymentA, Payment.Netns, "pa-or", OrderPaymentB},
	} {
		if _, err := Run("ip", "link", "add", l.devA, "netns", l.nsA, "type", "veth", "peer", "name", l.devB, "netns", l.nsB); err != nil {
			return err
		}
		if err := addrUp(l.nsA, l.devA, l.addrA+"/30"); err != nil {
			return err
		}
		if err := addrUp(l.nsB, l.devB, l.addrB+"/30"); err != nil {
			return err
		}
	}
	if err := setupServices(); err != nil {
		return err
	}
	for _, g := range []string{"frontend", "order", "payment", "neighbour", "collector"} {
		for _, d := range CgroupDirs(g) {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

// addrUp gives dev an address, brings it up and turns segmentation offloads
// off so that one dropped packet is one lost segment (docs/design.md §6).
func addrUp(ns, dev, cidr string) error {
	run := func(name string, args ...string) error {
		var err error
		if ns == "" {
			_, err = Run(name, args...)
		} else {
			_, err = InNs(ns, name, args...)
		}
		return err
	}
	if err := run("ip", "addr", "add", cidr, "dev", dev); err != nil {
		return err
	}
	if err := run("ip", "link", "set", dev, "up"); err != nil {
		return err
	}
	if _, err := exec.LookPath("ethtool"); err == nil {
		_ = run("ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off")
	}
	return nil
}

// DropTable is the nftables table of the packet-loss scenario.
const DropTable = Prefix + "loss"

// AddDrop drops percent% of the non-SYN TCP segments of the order↔payment
// connections on the receiving side of the veth, in both directions (after
// the client's DNAT: segments to payment carry its own port 8082, and the
// replies still do in prerouting, before conntrack rewrites them back to
// the virtual address at input):
// order→payment segments in payment's namespace (prerouting on pa-or),
// payment→order segments in order's namespace (prerouting on or-pa). A drop
// on the receiving side makes the sender retransmit (docs/design.md §6); SYNs are
// spared so connections still open.
func AddDrop(percent int) error {
	for _, side := range []struct{ ns, dev, match string }{
		{Payment.Netns, "pa-or", fmt.Sprintf("tcp dport %d", PaymentPort)},
		{Order.Netns, "or-pa", fmt.Sprintf("tcp sport %d", PaymentPort)},
	} {
		rules := fmt.Sprintf(`table inet %s {
	chain prerouting {
		type filter hook prerouting priority -150; policy accept;
		iifname "%s" %s tcp flags & syn == 0 numgen random mod 100 < %d drop
	}
}
`, DropTable, side.dev, side.match, percent)
		cmd := exec.Command("ip", "netns", "exec", side.ns, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft in %s: %v: %s", side.ns, err, out)
		}
	}
	return nil
}

// RemoveDrop deletes the drop tables.
func RemoveDrop() error {
	var errs []error
	for _, ns := range []string{Payment.Netns, Order.Netns} {
		if _, err := InNs(ns, "nft", "delete", "table", "inet", DropTable); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SetCPUQuota sets group's CFS quota (v1): quota per period; quota < 0
// removes the limit.
func SetCPUQuota(group string, quota, period time.Duration) error {
	dir := Cgroup("cpu", group)
	if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(strconv.FormatInt(period.Microseconds(), 10)), 0); err != nil {
		return err
	}
	q := "-1"
	if quota > 0 {
		q = strconv.FormatInt(quota.Microseconds(), 10)
	}
	return os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(q), 0)
}

// CPUStat returns group's cpu.stat (nr_throttled, throttled_time, ...).
func CPUStat(group string) map[string]int64 {
	out := map[string]int64{}
	b, _ := os.ReadFile(filepath.Join(Cgroup("cpu", group), "cpu.stat"))
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			out[k] = n
		}
	}
	return out
}

// SetupDisk creates a file-backed loop device with ext4 mounted at
// DiskMount and returns the device (e.g. /dev/loop3).
func SetupDisk() (string, error) {
	f, err := os.Create(DiskImage)
	if err != nil {
		return "", err
	}
	if err := f.Truncate(DiskMB << 20); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	dev, err := Run("losetup", "--find", "--show", DiskImage)
	if err != nil {
		return "", err
	}
	dev = strings.TrimSpace(dev)
	if _, err := Run("mkfs.ext4", "-q", "-F", dev); err != nil {
		return dev, err
	}
	if err := os.MkdirAll(DiskMount, 0o755); err != nil {
		return dev, err
	}
	if _, err := Run("mount", dev, DiskMount); err != nil {
		return dev, err
	}
	return dev, nil
}

// DiskStat returns the device's completed writes and the milliseconds
// spent on them (/sys/block/<dev>/stat).
func DiskStat(dev string) (writes, writeMs int64) {
	path := filepath.Join("/sys/block", filepath.Base(dev), "stat")
	if strings.HasPrefix(dev, "/sys/") {
		path = filepath.Join(dev, "stat")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) < 8 {
		return 0, 0
	}
	writes, _ = strconv.ParseInt(f[4], 10, 64)
	writeMs, _ = strconv.ParseInt(f[7], 10, 64)
	return writes, writeMs
}

// BackingStat returns the completed writes and write milliseconds of the
// block device that holds DiskImage (the loop device's backing store).
func BackingStat() (dev string, writes, writeMs int64) {
	var st syscall.Stat_t
	if err := syscall.Stat(DiskImage, &st); err != nil {
		return "", 0, 0
	}
	majmin := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	target, err := filepath.EvalSymlinks("/sys/dev/block/" + majmin)
	if err != nil {
		return majmin, 0, 0
	}
	writes, writeMs = DiskStat(target)
	return filepath.Base(target), writes, writeMs
}

// Cleanup removes everything a run (or a killed run) left: processes in
// chx-e2e-* cgroups, the cgroups, namespaces (with their veths, routes and
// nft tables), the hosts files under /etc/netns, the disk mount and loop
// devices. It keeps going on errors and
// returns them all.
func Cleanup() error {
	var errs []error
	// Processes first: everything in our cgroups.
	for round := 0; round < 50; round++ {
		alive := 0
		for _, c := range Controllers {
			dirs, _ := filepath.Glob(filepath.Join(CgroupRoot, c, Prefix+"*"))
			for _, d := range dirs {
				b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
				for _, p := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(p); err == nil && pid > 1 && pid != os.Getpid() {
						_ = syscall.Kill(pid, syscall.SIGKILL)
						alive++
					}
				}
			}
		}
		if alive == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range Controllers {
		dirs, _ := filepath.Glob(filepath.Join(CgroupRoot, c, Prefix+"*"))
		for _, d := range dirs {
			var err error
			for i := 0; i < 20; i++ {
				if err = os.Remove(d); err == nil || os.IsNotExist(err) {
					err = nil
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	// Namespaces: deleting one removes its veth ends (and so the pairs) and
	// its nftables tables.
	nss, _ := filepath.Glob("/run/netns/" + Prefix + "*")
	for _, ns := range nss {
		if _, err := Run("ip", "netns", "del", filepath.Base(ns)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range Services {
		if _, err := os.Stat("/sys/class/net/" + s.HostDev); err == nil {
			// Deleting the namespace removes this end too, asynchronously:
			// it may vanish between the Stat and the del.
			if _, err := Run("ip", "link", "del", s.HostDev); err != nil && !strings.Contains(err.Error(), "Cannot find device") && !strings.Contains(err.Error(), "No such device") {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, cleanupServices()...)
	if err := cleanupRunsc(); err != nil {
		errs = append(errs, err)
	}
	// Disk.
	if mounted(DiskMount) {
		if _, err := Run("umount", "-l", DiskMount); err != nil {
			errs = append(errs, err)
		}
	}
	_ = os.Remove(DiskMount)
	if out, err := Run("losetup", "-j", DiskImage); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if dev, _, ok := strings.Cut(line, ":"); ok && strings.HasPrefix(dev, "/dev/loop") {
				if _, err := Run("losetup", "-d", dev); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := os.Remove(DiskImage); err != nil && !os.IsNotExist(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func mounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}
