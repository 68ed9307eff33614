package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"allforone/node"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// The doctor's network checks: listen ports, bootstrap peers, and the running daemon.

const (
	doctorDialTime = 3 * time.Second // one TCP dial to a bootstrap address
	doctorAPITime  = 5 * time.Second // one API request
)

// daemonState is what the daemon's API said, if it answered.
type daemonState struct {
	running  bool
	refused  error // the API answered but refused (a token that changed?)
	info     node.IDInfo
	health   node.Health
	time     time.Time // the daemon's clock, when asked
	asked    time.Time // this machine's clock at the same moment
	healthOK bool      // health was read
}

func (d *doctor) probeDaemon(ctx context.Context) daemonState {
	var s daemonState
	c, err := node.NewClient(d.dir)
	if err != nil {
		return s
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, doctorAPITime)
	defer cancel()
	if s.info, err = c.ID(ctx); err != nil {
		if !errors.Is(err, node.ErrDaemonNotRunning) {
			s.refused = err
		}
		return s
	}
	s.running = true
	if h, err := c.Health(ctx); err == nil {
		s.health, s.healthOK = h, true
	}
	var dash struct {
		Time time.Time `json:"time"`
	}
	t0 := time.Now()
	if c.Get(ctx, "/api/v1/dashboard", &dash) == nil {
		s.time, s.asked = dash.Time, t0.Add(time.Since(t0)/2)
	}
	return s
}

// hostPort returns the network ("tcp" or "udp") and host:port of a multiaddr that starts
// with an IP or DNS name and a TCP or UDP port; ok is false for any other.
func hostPort(m ma.Multiaddr) (network, addr string, ok bool) {
	if len(m) < 2 {
		return "", "", false
	}
	switch m[0].Protocol().Code {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
	default:
		return "", "", false
	}
	switch m[1].Protocol().Code {
	case ma.P_TCP:
		network = "tcp"
	case ma.P_UDP:
		network = "udp"
	default:
		return "", "", false
	}
	return network, net.JoinHostPort(m[0].Value(), m[1].Value()), true
}

// checkListen: every listen address parses and, unless the daemon has them, can be bound.
func (d *doctor) checkListen(cfg node.Config, running bool) {
	if running {
		d.ok("listen", plural(len(cfg.ListenAddrs), "address", "addresses")+" in use by the running daemon")
		return
	}
	var free []string
	type problem struct{ addr, err, fix string }
	var problems []problem
	for _, s := range cfg.ListenAddrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			problems = append(problems, problem{s, err.Error(), "use a form like /ip4/0.0.0.0/tcp/4501"})
			continue
		}
		network, addr, ok := hostPort(m)
		switch {
		case !ok:
			free = append(free, s+" (not checked)")
			continue
		case network == "udp" && cfg.SwarmKeyFile != "":
			d.warn("listen", s+" is ignored: a private swarm speaks TCP only", "remove it: `allforone config set listen ...` with the TCP addresses")
			continue
		}
		if err := bindOnce(network, addr); err != nil {
			problems = append(problems, problem{s, err.Error(), bindFix(err, addr)})
			continue
		}
		free = append(free, s)
	}
	if len(free) > 0 {
		d.ok("listen", "free: "+strings.Join(free, ", "))
	}
	for _, p := range problems {
		// The daemon starts when at least one address works.
		if len(free) == 0 {
			d.fail("listen", p.addr+": "+p.err, p.fix)
		} else {
			d.warn("listen", p.addr+": "+p.err, p.fix)
		}
	}
}

func bindOnce(network, addr string) error {
	if network == "udp" {
		c, err := net.ListenPacket(network, addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		return err
	}
	return l.Close()
}

func bindFix(err error, addr string) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return addr + " is taken by another program (another allforone daemon?): stop it, or listen on another port (`allforone config set listen ...`)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "this machine has no such address (no IPv6?): remove it from listen"
	case errors.Is(err, syscall.EACCES):
		return "ports below 1024 need privileges: use a higher port"
	}
	return "change listen (`allforone config set listen ...`)"
}

// checkBootstrap: bootstrap peers are configured (or public rendezvous is on) and answer a
// TCP dial. Only the configured addresses are dialled.
func (d *doctor) checkBootstrap(ctx context.Context, cfg node.Config, daemon daemonState) {
	peers, _ := node.ParseBootstrapPeers(cfg.BootstrapPeers) // Validate passed
	if cfg.NAT.PublicRendezvous {
		d.ok("bootstrap", "public rendezvous is on: the daemon looks the swarm up in the public IPFS DHT")
	}
	if len(peers) == 0 {
		if !cfg.NAT.PublicRendezvous {
			d.warn("bootstrap", "no bootstrap peers: this node finds its swarm only through peers it remembers or peers that dial it",
				"add some with `allforone config set bootstrap MULTIADDR,...` (README: \"Joining the public swarm\"), or `allforone config set nat.public_rendezvous true`")
		}
		return
	}
	results := make([]string, len(peers))
	answered := make([]int, len(peers)) // 1 answers, 0 does not, -1 not checked
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() { results[i], answered[i] = dialPeer(ctx, p) })
	}
	wg.Wait()
	answering := 0 // or not known not to
	for i, p := range peers {
		if answered[i] != 0 {
			answering++
			d.ok("bootstrap", results[i])
		} else {
			d.warn("bootstrap", results[i], "is "+short(p.ID.String())+" running, and is its address right? (`allforone id` on it prints them)")
		}
	}
	if answering == 0 && (!daemon.running || daemon.health.ConnectedPeers == 0) {
		d.fail("bootstrap", fmt.Sprintf("no bootstrap peer answers (%d configured): this node cannot join its swarm", len(peers)),
			"start one of them, or set bootstrap peers that run (`allforone config set bootstrap ...`)")
	}
}

// dialPeer dials the TCP addresses of p until one answers.
func dialPeer(ctx context.Context, p peer.AddrInfo) (string, int) {
	var errs []string
	for _, a := range p.Addrs {
		network, addr, ok := hostPort(a)
		if !ok || network != "tcp" {
			continue
		}
		start := time.Now()
		c, err := (&net.Dialer{Timeout: doctorDialTime}).DialContext(ctx, network, addr)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		c.Close()
		return fmt.Sprintf("%s answers at %s (%.1f ms)", short(p.ID.String()), addr, float64(time.Since(start).Microseconds())/1000), 1
	}
	if len(errs) == 0 {
		return short(p.ID.String()) + " not checked: no TCP address (doctor dials TCP only)", -1
	}
	return short(p.ID.String()) + " does not answer: " + strings.Join(errs, "; "), 0
}

// checkDaemon: the daemon runs as this data dir's node, with peers; its reachability,
// relays and DHT mode.
func (d *doctor) checkDaemon(cfg node.Config, cfgOK bool, s daemonState, id peer.ID, idOK bool) {
	switch {
	case s.refused != nil:
		d.fail("daemon", "the API answers but refuses: "+s.refused.Error(), "restart the daemon (was api.token changed after it started?)")
		return
	case !s.running:
		d.warn("daemon", "not running", "start it: `allforone daemon --data "+d.dir+"` (or `allforone service install` to keep it running)")
		return
	case idOK && s.info.PeerID != id.String():
		d.fail("daemon", "the API at "+s.info.API+" is peer "+s.info.PeerID+", not this data dir's "+id.String(),
			"another daemon wrote "+d.dir+"/api: stop it, then start this node's daemon")
		return
	}
	up := ""
	if s.healthOK {
		up = ", up " + (time.Duration(s.health.UptimeSeconds) * time.Second).String()
	}
	d.ok("daemon", fmt.Sprintf("running: version %s, API %s%s", s.info.Version, s.info.API, up))
	if s.healthOK {
		if s.health.ConnectedPeers == 0 {
			d.warn("peers", "no peers connected", "check the bootstrap lines above; `allforone why` says more")
		} else {
			d.ok("peers", fmt.Sprintf("%s connected, %d in the DHT routing table", plural(s.health.ConnectedPeers, "peer", "peers"), s.health.RoutingTableSize))
		}
	}
	d.checkReachability(cfg, cfgOK, s.info)
}

func (d *doctor) checkReachability(cfg node.Config, cfgOK bool, info node.IDInfo) {
	switch info.Reachability {
	case "public":
		d.ok("reachability", "public: peers can dial this node")
	case "private":
		d.warn("reachability", "private: peers cannot dial this node (a NAT or firewall). It reaches others through relays and hole punching, "+
			"and is never chosen as a steward or result holder while private",
			"forward TCP and UDP port 4501 on the router to this machine, or try `allforone config set nat.port_map true` (UPnP, NAT-PMP); then restart the daemon")
		switch {
		case len(info.Relays) > 0:
			d.ok("relays", "reservations on "+plural(len(info.Relays), "relay", "relays")+": "+strings.Join(info.Relays, ", "))
		case cfgOK && !cfg.NAT.AutoRelay:
			d.warn("relays", "no relay reservation, and auto_relay is off: peers cannot reach this node", "`allforone config set nat.auto_relay true`, then restart the daemon")
		default:
			d.warn("relays", "no relay reservation yet: peers cannot reach this node until it has one",
				"relays are swarm peers with a public address and relay_service on; the daemon keeps looking (it may take a few minutes after start)")
		}
	case "unknown":
		d.ok("reachability", "unknown: AutoNAT has no verdict yet (it needs public peers to probe it; on a LAN or loopback it never gets one)")
	default:
		return // a daemon too old to say
	}
	switch {
	case info.DHTServer:
		d.ok("dht", "serving: this node may be chosen as a steward and result holder")
	case info.Reachability == "private":
		d.ok("dht", "client mode, as it should be while peers cannot dial this node")
	case info.Reachability == "public" && cfgOK && cfg.DHTMode == node.DHTClient:
		d.warn("dht", "client mode although peers can dial this node", "`allforone config set dht_mode auto` lets it serve")
	default:
		d.ok("dht", "client mode: it serves once AutoNAT confirms peers can dial it (dht_mode "+cfg.DHTMode+")")
	}
}
