package protocol

import (
	"slices"
	"testing"
)

func TestSpeaksListsEveryProtocolAndTopic(t *testing.T) {
	got := Speaks("lab")
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
		if s.Name == "" || s.Version == "" || s.Kind == "" {
			t.Errorf("incomplete entry %+v", s)
		}
	}
	want := []string{
		string(StewardProtocol("lab")),
		string(BlobProtocol("lab")),
		string(ResultProtocol("lab")),
		"/allforone/lab/kad/1.0.0",
		BatchTopic("lab"),
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("Speaks = %v, want %v", ids, want)
	}
	if got[0] != (Spoken{Kind: KindStream, Name: "steward", Version: "1.0.0", ID: "/allforone/lab/steward/1.0.0"}) {
		t.Errorf("steward entry = %+v", got[0])
	}
	if last := got[len(got)-1]; last.Kind != KindTopic || last.Name != "batches" || last.Version != "1" {
		t.Errorf("topic entry = %+v", last)
	}
}

func TestParseID(t *testing.T) {
	cases := []struct {
		id, name, version string
		ok                bool
	}{
		{"/allforone/lab/steward/1.0.0", "steward", "1.0.0", true},
		{"/allforone/lab/batches/1", "batches", "1", true},
		{"/allforone/main/steward/1.0.0", "", "", false}, // another swarm
		{"/allforone/lab/steward", "", "", false},
		{"/allforone/lab/a/b/c", "", "", false},
		{"/ipfs/id/1.0.0", "", "", false},
		{"/allforone/lab//1.0.0", "", "", false},
	}
	for _, c := range cases {
		name, version, ok := ParseID("lab", c.id)
		if name != c.name || version != c.version || ok != c.ok {
			t.Errorf("ParseID(lab, %q) = %q, %q, %v; want %q, %q, %v", c.id, name, version, ok, c.name, c.version, c.ok)
		}
	}
}

func TestSwarmOf(t *testing.T) {
	for id, want := range map[string]string{
		"/allforone/lab/steward/1.0.0": "lab",
		"/allforone/main/kad/1.0.0":    "main",
		"/allforone/":                  "",
		"/ipfs/kad/1.0.0":              "",
	} {
		got, ok := SwarmOf(id)
		if got != want || ok != (want != "") {
			t.Errorf("SwarmOf(%q) = %q, %v; want %q", id, got, ok, want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0},
		{"1", "1.0.0", 0},
		{"2.0.0", "1.9.9", 1},
		{"1.10.0", "1.9.0", 1},
		{"0.9", "1.0.0", -1},
		{"x", "0", -1},
	}
	for _, c := range cases {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareVersions(c.b, c.a); got != -c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}
