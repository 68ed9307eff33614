package rendezvous

import (
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestName(t *testing.T) {
	k1, k2 := []byte(strings.Repeat("a", 32)), []byte(strings.Repeat("b", 32))
	names := []string{
		Name("main", nil),
		Name("lab", nil),
		Name("main", k1),
		Name("main", k2),
	}
	for i, a := range names {
		if !strings.HasPrefix(a, "allforone/") || len(a) != len("allforone/")+64 {
			t.Fatalf("name %q: want allforone/ and 64 hex digits", a)
		}
		if strings.Contains(a, "main") || strings.Contains(a, "lab") {
			t.Fatalf("name %q shows the swarm's name", a)
		}
		if slices.Index(names, a) != i {
			t.Fatalf("two swarms share the rendezvous name %s: %q", a, names)
		}
	}
	if Name("main", k1) != Name("main", k1) {
		t.Fatal("the rendezvous name is not deterministic")
	}
}

// Only an explicit list of loopback addresses turns the public DHT's filters off.
func TestRendezvousBootstrapFilters(t *testing.T) {
	const id = "/p2p/12D3KooWFuSQZTJRHUVAX6CuAhwXNaeBQddBW7Rah8fr94Eoqcvk"
	for _, tc := range []struct {
		addrs    []string
		loopback bool
	}{
		{nil, false}, // the IPFS defaults
		{[]string{"/ip4/127.0.0.1/tcp/1" + id, "/ip6/::1/tcp/2" + id}, true},
		{[]string{"/ip4/127.0.0.1/tcp/1" + id, "/ip4/192.0.2.1/tcp/2" + id}, false},
		{[]string{"/dns4/bootstrap.example/tcp/4001" + id}, false},
	} {
		var given []peer.AddrInfo
		for _, a := range tc.addrs {
			pi, err := peer.AddrInfoFromString(a)
			if err != nil {
				t.Fatal(err)
			}
			given = append(given, *pi)
		}
		boot, loopback := bootstrap(given)
		if loopback != tc.loopback || len(boot) == 0 {
			t.Errorf("bootstrap(%q) = %d peers, loopback %v; want loopback %v", tc.addrs, len(boot), loopback, tc.loopback)
		}
	}
}
