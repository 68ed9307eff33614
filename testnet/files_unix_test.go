//go:build unix

package testnet

import "syscall"

// raiseFileLimit raises this process's open-file limit to want where it may (the soft
// limit to the hard one, and the hard one too when the process is allowed to) and returns
// the limit it has then.
func raiseFileLimit(want uint64) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur >= want {
		return l.Cur
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: max(want, l.Max)}); err == nil {
		return want
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: l.Max, Max: l.Max}); err == nil {
		return l.Max
	}
	return l.Cur
}
