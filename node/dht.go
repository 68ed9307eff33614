package node

import (
	"context"
	"fmt"
	"time"

	"allforone/node/internal/store"
	"allforone/protocol"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"
)

func dhtMode(m string) dht.ModeOpt {
	switch m {
	case DHTServer:
		return dht.ModeServer
	case DHTClient:
		return dht.ModeClient
	case DHTAuto:
		return dht.ModeAuto
	default:
		return dht.ModeAutoServer
	}
}

// startDHT starts the Kademlia DHT under the swarm's own protocol prefix, with its records
// in the node's datastore.
func (n *Node) startDHT() error {
	boot, err := ParseBootstrapPeers(n.cfg.BootstrapPeers)
	if err != nil {
		return err
	}
	d, err := dht.New(n.host,
		dht.ProtocolPrefix(protocol.DHTPrefix(n.cfg.Swarm)),
		dht.Mode(dhtMode(n.cfg.DHTMode)),
		dht.Datastore(namespace.Wrap(n.ds, datastore.NewKey(store.DHTNamespace))),
		dht.BootstrapPeers(boot...),
		dht.RoutingTableRefreshPeriod(time.Duration(n.cfg.RoutingRefresh)),
	)
	if err != nil {
		return fmt.Errorf("start DHT: %w", err)
	}
	n.dht = d
	return nil
}

// FindPeer looks a peer up in the swarm's DHT.
func (n *Node) FindPeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error) {
	return n.dht.FindPeer(ctx, id)
}

// RoutingTableSize is the number of peers in the DHT routing table.
func (n *Node) RoutingTableSize() int { return n.dht.RoutingTable().Size() }

// RoutingTablePeers lists the peers in the DHT routing table.
func (n *Node) RoutingTablePeers() []peer.ID { return n.dht.RoutingTable().ListPeers() }

// refreshRoutingTable asks the DHT to refresh its table and waits up to timeout.
func (n *Node) refreshRoutingTable(ctx context.Context, timeout time.Duration) {
	select {
	case err := <-n.dht.RefreshRoutingTable():
		if err != nil {
			n.logs.p2p.Debug("routing table refresh", "err", err)
		}
	case <-time.After(timeout):
	case <-ctx.Done():
	}
}
