package p2p

import (
	"fmt"
	"slices"
	"strings"

	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"

	"allforone/protocol"
)

// Compatibility decides whether a peer that advertises theirs can work with a node of
// swarm. A peer that advertises no allforone protocol at all is not judged (it may not have
// been identified yet, or be some other libp2p program). A peer that speaks allforone
// protocols of this swarm, but none of the versions this node speaks, is incompatible, and
// so is one that speaks only other swarms' protocols.
func Compatibility(swarm string, theirs []libp2pproto.ID) (incompatible bool, reason string) {
	ours := protocol.Speaks(swarm)
	var same []string   // name/version of theirs in our swarm
	var others []string // other swarms they speak
	for _, id := range theirs {
		for _, o := range ours {
			if string(id) == o.ID {
				return false, ""
			}
		}
		if name, version, ok := protocol.ParseID(swarm, string(id)); ok {
			same = append(same, name+"/"+version)
		} else if s, ok := protocol.SwarmOf(string(id)); ok && s != swarm && !slices.Contains(others, s) {
			others = append(others, s)
		}
	}
	switch {
	case len(same) > 0:
		slices.Sort(same)
		var mine []string
		for _, o := range ours {
			if o.Kind != protocol.KindTopic {
				mine = append(mine, o.Name+"/"+o.Version)
			}
		}
		return true, fmt.Sprintf("runs an incompatible version: it speaks %s, this node speaks %s; %s",
			strings.Join(same, ", "), strings.Join(mine, ", "), upgradeAdvice(ours, same))
	case len(others) > 0:
		slices.Sort(others)
		return true, fmt.Sprintf("is in swarm %s, this node in swarm %q: check the --bootstrap addresses and the swarm name in config.json",
			quoteAll(others), swarm)
	}
	return false, ""
}

// upgradeAdvice says which side should upgrade, from the protocols both speak by name.
func upgradeAdvice(ours []protocol.Spoken, theirs []string) string {
	newer, older := false, false
	for _, t := range theirs {
		name, version, _ := strings.Cut(t, "/")
		for _, o := range ours {
			if o.Name != name {
				continue
			}
			switch protocol.CompareVersions(version, o.Version) {
			case 1:
				newer = true
			case -1:
				older = true
			}
		}
	}
	switch {
	case newer && !older:
		return "it is newer: upgrade allforone on this machine"
	case older && !newer:
		return "it is older: that peer needs to upgrade allforone"
	}
	return "run the same allforone release on both"
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
