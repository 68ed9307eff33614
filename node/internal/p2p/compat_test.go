package p2p

import (
	"strings"
	"testing"

	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"
)

func TestCompatibility(t *testing.T) {
	ids := func(ss ...string) []libp2pproto.ID {
		var out []libp2pproto.ID
		for _, s := range ss {
			out = append(out, libp2pproto.ID(s))
		}
		return out
	}
	cases := []struct {
		name   string
		theirs []libp2pproto.ID
		want   bool
		reason []string
	}{
		{"not identified yet", nil, false, nil},
		{"no allforone protocol", ids("/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"), false, nil},
		{"same version", ids("/ipfs/id/1.0.0", "/allforone/lab/steward/1.0.0", "/allforone/lab/blob/1.0.0"), false, nil},
		{"one shared among newer ones", ids("/allforone/lab/steward/2.0.0", "/allforone/lab/blob/1.0.0"), false, nil},
		{"dht only in common", ids("/allforone/lab/kad/1.0.0", "/allforone/lab/steward/2.0.0"), false, nil},
		{"newer", ids("/allforone/lab/steward/2.0.0", "/allforone/lab/result/2.0.0"), true,
			[]string{"incompatible version", "it speaks result/2.0.0, steward/2.0.0", "steward/1.0.0", "upgrade allforone on this machine"}},
		{"older", ids("/allforone/lab/steward/0.9.0"), true, []string{"steward/0.9.0", "that peer needs to upgrade"}},
		{"mixed", ids("/allforone/lab/steward/0.9.0", "/allforone/lab/blob/2.0.0"), true, []string{"same allforone release"}},
		{"unknown protocol", ids("/allforone/lab/gossip-work/1.0.0"), true, []string{"gossip-work/1.0.0", "same allforone release"}},
		{"another swarm", ids("/allforone/main/steward/1.0.0", "/allforone/main/kad/1.0.0"), true, []string{`swarm "main"`, `this node in swarm "lab"`, "--bootstrap"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, reason := Compatibility("lab", c.theirs)
			if got != c.want {
				t.Fatalf("incompatible = %v (%q), want %v", got, reason, c.want)
			}
			if !got && reason != "" {
				t.Fatalf("compatible peer with a reason %q", reason)
			}
			for _, w := range c.reason {
				if !strings.Contains(reason, w) {
					t.Errorf("reason %q does not say %q", reason, w)
				}
			}
		})
	}
}
