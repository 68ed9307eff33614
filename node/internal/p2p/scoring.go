package p2p

import (
	"math"
	"time"

	"allforone/protocol"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// gossipsub peer scoring for the swarm's topics, in the manner of Lotus for small
// networks: invalid messages (rejected by our validators) weigh heavily, mesh-delivery
// penalties are off (a small swarm publishes rarely and unevenly), IP colocation is off
// (testnets share 127.0.0.1 and home volunteers share NATs), and blocked peers score
// minus infinity.

// PeerScore is gossipsub's scoring of the swarm's batch topic; blocked peers (isBlocked)
// score minus infinity.
func PeerScore(swarm string, isBlocked func(peer.ID) bool) (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	topic := &pubsub.TopicScoreParams{
		TopicWeight:                     1,
		TimeInMeshWeight:                0.01,
		TimeInMeshQuantum:               time.Second,
		TimeInMeshCap:                   10,
		FirstMessageDeliveriesWeight:    1,
		FirstMessageDeliveriesDecay:     pubsub.ScoreParameterDecay(time.Hour),
		FirstMessageDeliveriesCap:       10,
		MeshMessageDeliveriesDecay:      pubsub.ScoreParameterDecay(time.Hour),
		MeshMessageDeliveriesCap:        1,
		MeshMessageDeliveriesThreshold:  1,
		MeshMessageDeliveriesWindow:     10 * time.Millisecond,
		MeshMessageDeliveriesActivation: time.Minute,
		MeshFailurePenaltyDecay:         pubsub.ScoreParameterDecay(time.Hour),
		InvalidMessageDeliveriesWeight:  -1000,
		InvalidMessageDeliveriesDecay:   pubsub.ScoreParameterDecay(time.Hour),
	}
	params := &pubsub.PeerScoreParams{
		Topics:        map[string]*pubsub.TopicScoreParams{protocol.BatchTopic(swarm): topic},
		TopicScoreCap: 100,
		AppSpecificScore: func(p peer.ID) float64 {
			if isBlocked(p) {
				return math.Inf(-1)
			}
			return 0
		},
		AppSpecificWeight:         1,
		IPColocationFactorWeight:  0,
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(time.Hour),
		DecayInterval:             time.Second,
		DecayToZero:               0.01,
		RetainScore:               6 * time.Hour,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:             -500,
		PublishThreshold:            -1000,
		GraylistThreshold:           -2500,
		AcceptPXThreshold:           10,
		OpportunisticGraftThreshold: 3.5,
	}
	return params, thresholds
}
