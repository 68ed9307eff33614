package node

import (
	"context"
	"fmt"

	"allforone/node/internal/p2p"
	"allforone/protocol"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
)

// startPubsub starts gossipsub with strict signing and joins the swarm's topics. gossipsub
// has no Close: it lives as long as n.ctx.
func (n *Node) startPubsub() error {
	params := pubsub.DefaultGossipSubParams()
	if n.cfg.GossipHeartbeat > 0 {
		params.HeartbeatInterval = n.cfg.GossipHeartbeat
		params.HeartbeatInitialDelay = n.cfg.GossipHeartbeat / 10
	}
	scoreParams, scoreThresholds := p2p.PeerScore(n.cfg.Swarm, n.gater.IsBlocked)
	ps, err := pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithPeerScore(scoreParams, scoreThresholds),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithGossipSubParams(params),
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerExchange(true),
		pubsub.WithMaxMessageSize(pubsub.DefaultMaxMessageSize),
	)
	if err != nil {
		return fmt.Errorf("start gossipsub: %w", err)
	}
	n.ps = ps
	n.topics = make(map[string]*pubsub.Topic)
	if err := ps.RegisterTopicValidator(protocol.BatchTopic(n.cfg.Swarm), n.validateAnnouncement); err != nil {
		return err
	}
	for _, name := range protocol.Topics(n.cfg.Swarm) {
		t, err := ps.Join(name)
		if err != nil {
			return fmt.Errorf("join topic %s: %w", name, err)
		}
		n.topics[name] = t
		sub, err := t.Subscribe()
		if err != nil {
			return fmt.Errorf("subscribe to topic %s: %w", name, err)
		}
		n.goLoop("topic "+name, func(ctx context.Context) {
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					return // ctx cancelled: the node is closing
				}
				n.handleMessage(name, m)
			}
		})
	}
	return nil
}

// handleMessage receives every message that passed the topic validators.
func (n *Node) handleMessage(topic string, m *pubsub.Message) {
	if topic == protocol.BatchTopic(n.cfg.Swarm) {
		n.onAnnouncement(m)
	}
}

// TopicPeers lists the peers this node knows to be subscribed to the swarm's batch topic.
func (n *Node) TopicPeers() int {
	t := n.topics[protocol.BatchTopic(n.cfg.Swarm)]
	if t == nil {
		return 0
	}
	return len(t.ListPeers())
}
