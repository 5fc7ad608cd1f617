//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package http1

import (
	"net"
	"syscall"
)

// peekAlive reports whether the receiver has neither closed conn nor sent
// anything on it, with one non-blocking MSG_PEEK that reads nothing: "no
// data yet" is the only answer of a live idle connection.
func peekAlive(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	alive := false
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true // done, whatever the answer: never wait
	})
	return err == nil && alive
}
