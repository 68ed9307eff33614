// Command goprobe is a hostile test task built with Go for wasip1: it tries to read a file,
// list the root directory, read the environment, read the clock, dial the network (Go's
// wasip1 net package has only an in-process fake network), sleep, and read randomness, and
// reports what it saw, one "key: value" line each.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	_, err := os.ReadFile("/etc/passwd")
	fmt.Printf("open: %v\n", err)
	_, err = os.ReadDir("/")
	fmt.Printf("readdir: %v\n", err)
	fmt.Printf("home: %q\n", os.Getenv("HOME"))
	fmt.Printf("environ: %s\n", strings.Join(os.Environ(), ","))
	fmt.Printf("args: %s\n", strings.Join(os.Args, ","))
	fmt.Printf("now: %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	_, err = net.Dial("tcp", "127.0.0.1:80")
	fmt.Printf("dial: %v\n", err)
	start := time.Now()
	time.Sleep(time.Second)
	fmt.Printf("slept: %v\n", time.Since(start) >= time.Second)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	fmt.Printf("random: %s\n", hex.EncodeToString(b))
}
