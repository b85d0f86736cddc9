// Command chx-demo is the traced demo system of Crosshair's end-to-end
// scenarios: one binary, several roles.
//
//	chx-demo serve     -name order -listen 198.19.1.2:8081 -downstream http://payment/pay -otlp 198.19.11.1:24318
//	chx-demo sandbox   -syscall connect -wait 50ms -- chx-demo serve ...   (seccomp user-notify supervisor)
//	chx-demo neighbour -dir /run/crosshair-e2e-disk/neighbour -direct 3 -fsync 3
//	chx-demo setup     (namespaces, veths, cgroups of the scenarios)
//	chx-demo cleanup   (removes every chx-e2e-* namespace, cgroup, nft table, loop device)
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: chx-demo serve|sandbox|neighbour|launch|setup|cleanup [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "sandbox":
		err = sandbox(os.Args[2:])
	case "neighbour":
		err = neighbour(os.Args[2:])
	case "launch":
		err = launch(os.Args[2:])
	case "cleanup":
		err = cleanup()
	case "setup":
		err = setup()
	default:
		err = fmt.Errorf("unknown role %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "chx-demo %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
