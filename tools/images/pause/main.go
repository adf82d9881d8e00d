// The pod sandbox ("pause") process of the test node: holds the pod's namespaces
// until containerd stops it. Built locally because no image registry is reachable.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	go func() { // PID 1 of the sandbox: reap orphans.
		ch := make(chan os.Signal, 8)
		signal.Notify(ch, syscall.SIGCHLD)
		for range ch {
			for {
				if pid, _ := syscall.Wait4(-1, nil, syscall.WNOHANG, nil); pid <= 0 {
					break
				}
			}
		}
	}()
	<-c
}
