// Package reach is how a node copes with NATs: its NAT settings (Config), the libp2p
// options they give (Options), and what it knows of its own reachability and DHT mode
// (State, kept up to date by Watch).
//
// Home machines sit behind NATs. A node learns whether peers can dial it (AutoNAT, or the
// operator says so); while they cannot, it serves no DHT records, so other nodes choose
// neither it as a steward nor as a result holder (a record nobody can fetch is lost), it
// reserves slots on relays among the swarm's reachable peers and advertises the relayed
// addresses, and hole punching upgrades relayed connections to direct ones. Work itself
// flows over connections the NATed node opened: leases, results and blobs go to and from
// reachable stewards and holders, never over a relay's limited connection.
package reach

import (
	"errors"
	"fmt"

	"allforone/node/internal/p2p"
)

// Reachability settings a Config may name.
const (
	// ReachAuto lets AutoNAT find out whether peers can dial this node.
	ReachAuto = "auto"
	// ReachPublic says the node is dialable from outside (a server with a public address).
	ReachPublic = "public"
	// ReachPrivate says it is not (behind a NAT or firewall that nothing maps through).
	ReachPrivate = "private"
)

// Config is how the node copes with NATs: knowing whether it is reachable, relaying for
// others while it is, using relays and hole punching while it is not.
type Config struct {
	// Reachability is ReachAuto (default), ReachPublic or ReachPrivate. Set it only when
	// you know: AutoNAT's guess is usually right within a minute.
	Reachability string `json:"reachability"`
	// RelayService offers a circuit relay (v2) to NATed swarm peers while this node is
	// publicly reachable, bounded by RelayMaxReservations and RelayMaxCircuits. Relayed
	// connections carry only signalling and hole punching (2 min, 128 KiB each). Default on.
	RelayService         bool `json:"relay_service"`
	RelayMaxReservations int  `json:"relay_max_reservations"`
	RelayMaxCircuits     int  `json:"relay_max_circuits"`
	// AutoRelay, while this node is not reachable, reserves slots on relays found among
	// swarm peers and advertises the relayed addresses. Default on.
	AutoRelay bool `json:"auto_relay"`
	// HolePunching upgrades relayed connections to direct ones (DCUtR). Default on.
	HolePunching bool `json:"hole_punching"`
	// PortMap asks the home router for a port mapping by UPnP or NAT-PMP. Default off;
	// `allforone init --public` turns it on.
	PortMap bool `json:"port_map"`
	// PublicRendezvous finds the swarm's peers through the public IPFS DHT (advertise and
	// look up a name derived from the swarm's), for joining without bootstrap peers.
	// Opt-in: off by default, never on in tests.
	PublicRendezvous bool `json:"public_rendezvous"`
	// RendezvousBootstrap are the public DHT's bootstrap peers; empty: the IPFS defaults.
	RendezvousBootstrap []string `json:"rendezvous_bootstrap,omitempty"`
}

// DefaultConfig is a home volunteer's: find out, relay while public, use relays and
// hole punching while not; no UPnP and no public rendezvous unless asked.
func DefaultConfig() Config {
	return Config{
		Reachability:         ReachAuto,
		RelayService:         true,
		RelayMaxReservations: 32,
		RelayMaxCircuits:     16,
		AutoRelay:            true,
		HolePunching:         true,
	}
}

// Validate checks the settings, naming each one that is wrong.
func (c *Config) Validate() error {
	var errs []error
	switch c.Reachability {
	case ReachAuto, ReachPublic, ReachPrivate:
	default:
		errs = append(errs, fmt.Errorf("reachability %q is not known: use %s, %s or %s", c.Reachability, ReachAuto, ReachPublic, ReachPrivate))
	}
	if c.RelayService && (c.RelayMaxReservations < 1 || c.RelayMaxCircuits < 1) {
		errs = append(errs, fmt.Errorf("relay limits reservations=%d circuits=%d: need at least 1 each, or relay_service false", c.RelayMaxReservations, c.RelayMaxCircuits))
	}
	if _, err := p2p.ParseBootstrapPeers(c.RendezvousBootstrap); err != nil {
		errs = append(errs, fmt.Errorf("rendezvous bootstrap: %w", err))
	}
	return errors.Join(errs...)
}
