package p2p

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ParseBootstrapPeers parses full multiaddrs with a /p2p/ part into peer infos, merging
// addresses of the same peer.
func ParseBootstrapPeers(addrs []string) ([]peer.AddrInfo, error) {
	var errs []error
	var maddrs []ma.Multiaddr
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("bootstrap address %q is not a multiaddr (%v): use /ip4/1.2.3.4/tcp/4501/p2p/<peer ID>", s, err))
			continue
		}
		if _, err := m.ValueForProtocol(ma.P_P2P); err != nil {
			errs = append(errs, fmt.Errorf("bootstrap address %q has no peer ID: append /p2p/<peer ID> (`allforone id` on that node prints it)", s))
			continue
		}
		maddrs = append(maddrs, m)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(maddrs...)
	if err != nil {
		return nil, fmt.Errorf("bootstrap addresses: %w", err)
	}
	return infos, nil
}
