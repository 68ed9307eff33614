package protocol

import (
	"fmt"
	"regexp"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// DefaultSwarm is the swarm a node joins when its config names none.
const DefaultSwarm = "main"

var swarmNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidateSwarmName reports whether name can name a swarm: 1 to 63 characters of lower-case
// letters, digits, '.', '_' and '-', starting with a letter or digit. The name becomes part of
// every protocol ID and topic, so two swarms never mix.
func ValidateSwarmName(name string) error {
	if !swarmNameRE.MatchString(name) {
		return fmt.Errorf("swarm name %q is not valid: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Prefix is the namespace of everything a swarm speaks: /allforone/<swarm>.
func Prefix(swarm string) string { return "/allforone/" + swarm }

// DHTPrefix is the Kademlia protocol prefix of a swarm; the DHT protocol becomes
// <prefix>/kad/1.0.0. It keeps the swarm's DHT apart from every other DHT, the public IPFS
// one included.
func DHTPrefix(swarm string) protocol.ID { return protocol.ID(Prefix(swarm)) }

// ID returns the versioned protocol ID /allforone/<swarm>/<name>/<version>.
func ID(swarm, name, version string) protocol.ID {
	return protocol.ID(Prefix(swarm) + "/" + name + "/" + version)
}

// Topic returns the versioned gossipsub topic /allforone/<swarm>/<name>/<version>.
func Topic(swarm, name, version string) string {
	return Prefix(swarm) + "/" + name + "/" + version
}

// BatchTopic is the gossipsub topic that carries batch announcements (and only those).
func BatchTopic(swarm string) string { return Topic(swarm, "batches", "1") }

// Topics lists every gossipsub topic a node of the swarm joins.
func Topics(swarm string) []string { return []string{BatchTopic(swarm)} }
