package ebpfreceiver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crosshair-otel/crosshair/internal/testenv"
)

// echoServerEnv makes the test binary an echo server on the address it
// names (see init): the connection tests run the server side in a process
// of its own so that the two ends' owners have different pids.
const echoServerEnv = "CROSSHAIR_ECHO_SERVER"

func init() {
	addr := os.Getenv(echoServerEnv)
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("READY")
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(0)
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// startEchoServer runs the echo server in ns, listening on addr, and
// returns its pid once it listens. It is killed at the end of the test.
func startEchoServer(t *testing.T, ns *testenv.Netns, addr string) int {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.Name, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), echoServerEnv+"="+addr)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "READY", strings.TrimSpace(line), "echo server in %s", ns.Name)
	// `ip netns exec` execs the command: the server is the same process.
	return cmd.Process.Pid
}

// echo writes msg on c and reads it back.
func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_, err := c.Write([]byte(msg))
	require.NoError(t, err)
	buf := make([]byte, len(msg))
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, msg, string(buf))
}
