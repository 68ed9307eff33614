package testnet

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// natLab is a small internet in network namespaces, built and torn down by the test: an
// "internet" namespace with a bridge and the public nodes' addresses, and per home a router
// namespace (NAT by nftables masquerade) in front of a home namespace on a private LAN.
// Nothing links these namespaces to the host's network, so no packet leaves them.
//
// The internet's addresses must look public: AutoNAT (v1 and v2) refuses to probe private
// and reserved ranges, so a lab on 10/8 alone would never learn anything. 11.0.0.0/24 is
// used only inside the lab's namespaces; the homes sit on 10.<i>.0.0/24 like real homes.
type natLab struct {
	t      testing.TB
	prefix string
	public int
	homes  []natKind
}

// natKind is a home router's NAT behaviour.
type natKind int

const (
	// coneNAT keeps a LAN socket's port on the outside for every destination (Linux
	// masquerade does when the port is free): hole punching can work.
	coneNAT natKind = iota
	// symmetricNAT gives every connection a random outside port: hole punching cannot work
	// and peers meet over relays only.
	symmetricNAT
)

// labPublicIP is the address of public node i (i from 0) on the lab's internet.
func labPublicIP(i int) string { return fmt.Sprintf("11.0.0.%d", i+1) }

// labHomeIP is the LAN address of home h (from 0).
func labHomeIP(h int) string { return fmt.Sprintf("10.%d.0.2", h+1) }

// needNATLab skips the test unless it can build namespaces and NAT rules.
func needNATLab(t testing.TB) {
	if os.Geteuid() != 0 {
		t.Skip("the NAT lab needs root to create network namespaces; run as root (CI does)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the NAT lab needs %q (Debian: iproute2, nftables; .ci/run installs them): %v", tool, err)
		}
	}
}

// newNATLab builds the lab with public machines and one home per element of homes, and
// removes it when the test ends.
func newNATLab(t testing.TB, public int, homes ...natKind) *natLab {
	needNATLab(t)
	l := &natLab{t: t, prefix: fmt.Sprintf("a41%d-", os.Getpid()%100000), public: public, homes: homes}
	t.Cleanup(l.teardown)
	inet := l.ns("inet")
	l.addNS(inet)
	l.run(inet, "ip", "link", "add", "br0", "type", "bridge")
	l.run(inet, "ip", "link", "set", "br0", "up")
	// Each public machine in its own namespace, on the bridge.
	for i := range l.public {
		p := l.publicNS(i)
		l.addNS(p)
		l.run("", "ip", "link", "add", "eth0", "netns", p, "type", "veth", "peer", "name", fmt.Sprintf("upp%d", i), "netns", inet)
		l.run(inet, "ip", "link", "set", fmt.Sprintf("upp%d", i), "master", "br0", "up")
		l.run(p, "ip", "addr", "add", labPublicIP(i)+"/24", "dev", "eth0")
		l.run(p, "ip", "link", "set", "eth0", "up")
	}
	for h, kind := range homes {
		r, home := l.ns(fmt.Sprintf("r%d", h)), l.homeNS(h)
		l.addNS(r)
		l.addNS(home)
		wan, lan := fmt.Sprintf("w%d", h), fmt.Sprintf("l%d", h)
		// The router's WAN side on the internet's bridge.
		l.run("", "ip", "link", "add", wan, "netns", r, "type", "veth", "peer", "name", "up"+wan, "netns", inet)
		l.run(inet, "ip", "link", "set", "up"+wan, "master", "br0", "up")
		l.run(r, "ip", "addr", "add", fmt.Sprintf("11.0.0.%d/24", 101+h), "dev", wan)
		l.run(r, "ip", "link", "set", wan, "up")
		// The LAN: the router at .1, the home machine at .2 with the router as gateway.
		l.run("", "ip", "link", "add", lan, "netns", r, "type", "veth", "peer", "name", "eth0", "netns", home)
		l.run(r, "ip", "addr", "add", fmt.Sprintf("10.%d.0.1/24", h+1), "dev", lan)
		l.run(r, "ip", "link", "set", lan, "up")
		l.run(home, "ip", "addr", "add", labHomeIP(h)+"/24", "dev", "eth0")
		l.run(home, "ip", "link", "set", "eth0", "up")
		l.run(home, "ip", "route", "add", "default", "via", fmt.Sprintf("10.%d.0.1", h+1))
		l.run(r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
		l.run(r, "nft", "add", "table", "ip", "nat")
		l.run(r, "nft", "add chain ip nat post { type nat hook postrouting priority 100 ; }")
		rule := []string{"add", "rule", "ip", "nat", "post", "oifname", wan, "masquerade"}
		if kind == symmetricNAT {
			rule = append(rule, "random,fully-random")
		}
		l.run(r, "nft", rule...)
		// Like a home router's firewall: drop (not refuse) what nobody inside asked for.
		l.run(r, "nft", "add", "table", "ip", "filter")
		for _, hook := range []string{"input", "forward"} {
			l.run(r, "nft", "add chain ip filter "+hook+" { type filter hook "+hook+" priority 0 ; }")
			l.run(r, "nft", "add", "rule", "ip", "filter", hook, "iifname", wan, "ct", "state", "new", "drop")
		}
	}
	return l
}

func (l *natLab) ns(name string) string { return l.prefix + name }

// homeNS is the namespace of home h, publicNS that of public machine i.
func (l *natLab) homeNS(h int) string   { return l.ns(fmt.Sprintf("h%d", h)) }
func (l *natLab) publicNS(i int) string { return l.ns(fmt.Sprintf("p%d", i)) }
func (l *natLab) inetNS() string        { return l.ns("inet") }

func (l *natLab) addNS(name string) {
	l.run("", "ip", "netns", "add", name)
	l.run(name, "ip", "link", "set", "lo", "up")
}

// run runs a command in namespace ns ("" for the test's own) and fails the test on error.
func (l *natLab) run(ns, name string, args ...string) {
	l.t.Helper()
	argv := append([]string{name}, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	if name == "nft" && len(args) == 1 { // one rule string
		argv = append(argv[:len(argv)-1], strings.Fields(args[0])...)
	}
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
}

func (l *natLab) teardown() {
	for h := range l.homes {
		exec.Command("ip", "netns", "del", l.homeNS(h)).Run()
		exec.Command("ip", "netns", "del", l.ns(fmt.Sprintf("r%d", h))).Run()
	}
	for i := range l.public {
		exec.Command("ip", "netns", "del", l.publicNS(i)).Run()
	}
	exec.Command("ip", "netns", "del", l.inetNS()).Run()
}

// wrap runs a command inside namespace ns.
func wrapNS(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// dialNS opens TCP connections from inside namespace ns: the socket is created on an OS
// thread that joined ns (a socket stays in the namespace it was made in); the thread then
// goes back to the test's namespace. (Letting the thread die instead would fire the
// Pdeathsig of any daemon that thread had started.)
func dialNS(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			home, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer home.Close()
			target, err := os.Open("/var/run/netns/" + ns)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, fmt.Errorf("enter namespace %s: %w", ns, err)}
				return
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread() // else the thread stays locked and exits with us
			}
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}
