package protocol

import (
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// Kinds of Spoken entries.
const (
	KindStream = "stream" // a direct-stream protocol: one request, one response
	KindDHT    = "dht"    // the swarm's Kademlia DHT
	KindTopic  = "topic"  // a gossipsub topic
)

// KadVersion is the version of the Kademlia protocol under the swarm's DHT prefix, as
// go-libp2p-kad-dht names it (<prefix>/kad/1.0.0).
const KadVersion = "1.0.0"

// KadProtocol is the swarm's Kademlia protocol ID, /allforone/<swarm>/kad/1.0.0.
func KadProtocol(swarm string) protocol.ID { return ID(swarm, "kad", KadVersion) }

// Spoken is one protocol (or topic) a node speaks, with its version.
type Spoken struct {
	Kind    string `json:"kind"`    // KindStream, KindDHT or KindTopic
	Name    string `json:"name"`    // steward, blob, result, kad, batches
	Version string `json:"version"` // 1.0.0 for protocols, a major version for topics
	ID      string `json:"id"`      // the full protocol ID or topic name in swarm
}

// Speaks lists every protocol ID and topic that this code speaks in swarm: the stream
// protocols a node serves, the DHT protocol, and the topics it joins. Formats that live
// outside this package (the manifest's version, in package tasks) are not in it.
func Speaks(swarm string) []Spoken {
	var out []Spoken
	for _, p := range StreamProtocols(swarm) {
		out = append(out, spoken(KindStream, swarm, string(p)))
	}
	out = append(out, spoken(KindDHT, swarm, string(KadProtocol(swarm))))
	for _, t := range Topics(swarm) {
		out = append(out, spoken(KindTopic, swarm, t))
	}
	return out
}

// StreamProtocols lists the direct-stream protocols a node of swarm serves (and that
// identify advertises): the ones a compatible peer must share with us.
func StreamProtocols(swarm string) []protocol.ID {
	return []protocol.ID{StewardProtocol(swarm), BlobProtocol(swarm), ResultProtocol(swarm)}
}

func spoken(kind, swarm, id string) Spoken {
	name, version, _ := ParseID(swarm, id)
	return Spoken{Kind: kind, Name: name, Version: version, ID: id}
}

// ParseID splits a protocol ID or topic of swarm, /allforone/<swarm>/<name>/<version>, into
// its name and version. ok is false for anything else (another swarm, another namespace).
func ParseID(swarm, id string) (name, version string, ok bool) {
	rest, found := strings.CutPrefix(id, Prefix(swarm)+"/")
	if !found {
		return "", "", false
	}
	name, version, found = strings.Cut(rest, "/")
	if !found || name == "" || version == "" || strings.Contains(version, "/") {
		return "", "", false
	}
	return name, version, true
}

// SwarmOf returns the swarm of an /allforone/<swarm>/... protocol ID, or ok false when id
// is not under /allforone/.
func SwarmOf(id string) (swarm string, ok bool) {
	rest, found := strings.CutPrefix(id, "/allforone/")
	if !found {
		return "", false
	}
	swarm, _, found = strings.Cut(rest, "/")
	return swarm, found && swarm != ""
}

// CompareVersions orders two dotted versions ("1.0.0", "2", "1.10") numerically, part by
// part; a missing part counts as 0 and a part that is not a number sorts before any number.
// It returns -1, 0 or +1.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		x, y := versionPart(as, i), versionPart(bs, i)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

func versionPart(parts []string, i int) int {
	if i >= len(parts) {
		return 0
	}
	n, err := strconv.Atoi(parts[i])
	if err != nil || n < 0 {
		return -1
	}
	return n
}
