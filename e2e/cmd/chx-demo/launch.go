package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// launch joins the given cgroups and then execs the command, so the command
// and everything it forks start inside them. It exists because
// `ip netns exec` remounts /sys, hiding /sys/fs/cgroup from the process it
// runs: joining happens here, before entering the namespace.
func launch(args []string) error {
	fs := flag.NewFlagSet("launch", flag.ExitOnError)
	cgroups := fs.String("cgroups", "", "comma-separated cgroup directories to join")
	_ = fs.Parse(args)
	rest := fs.Args()
	if len(rest) == 0 {
		return fmt.Errorf("usage: launch -cgroups dir,dir -- command args")
	}
	if err := joinCgroups(*cgroups); err != nil {
		return err
	}
	path, err := exec.LookPath(rest[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, rest, os.Environ())
}
