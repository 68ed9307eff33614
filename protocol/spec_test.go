package protocol

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The specification (README.md) against the code: its tables of constants against the
// constants of this package, and the values section 19 quotes against the test vectors in
// testdata/vectors.txt (which tasks/spec_vectors_test.go checks against the code).

// specConstants are the constants the README's tables name, by their Go name.
var specConstants = map[string]any{
	"MaxAnnouncement":      MaxAnnouncement,
	"MaxStewardMessage":    MaxStewardMessage,
	"MaxResultMessage":     MaxResultMessage,
	"MaxBlobRequest":       MaxBlobRequest,
	"MaxOutputsPerMessage": MaxOutputsPerMessage,
	"MaxManifestSize":      MaxManifestSize,
	"MaxBlobSize":          MaxBlobSize,
	"MaxTasks":             MaxTasks,
	"MaxResultsPerMessage": MaxResultsPerMessage,
	"MaxRecordsPerTask":    MaxRecordsPerTask,
	"MaxTasksPerDelta":     MaxTasksPerDelta,
	"MaxLeasesPerGrant":    MaxLeasesPerGrant,
	"MaxListedBatches":     MaxListedBatches,
	"MaxListedFailures":    MaxListedFailures,
	"MaxErrorKind":         MaxErrorKind,
	"MaxFailureDetail":     MaxFailureDetail,
	"MaxFailureStderr":     MaxFailureStderr,
	"SignatureSize":        SignatureSize,
	"MaxRedirects":         MaxRedirects,
	"MaxHintAddrs":         MaxHintAddrs,
	"MaxAddrSize":          MaxAddrSize,
	"MaxStewardSet":        MaxStewardSet,
	"MaxPrimaryLease":      MaxPrimaryLease,
	"LeaseSlack":           LeaseSlack,
	"MaxClockSkew":         MaxClockSkew,
	"ManifestDomain":       ManifestDomain,
	"ResultDomain":         ResultDomain,
	"StateDomain":          StateDomain,
	"SingleDomain":         SingleDomain,
	"TaskSeedDomain":       TaskSeedDomain,
	"DigestDomain":         DigestDomain,
}

func readSpec(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	goNameCell = regexp.MustCompile("^`([A-Z][A-Za-z]+)`$")
	number     = regexp.MustCompile(`\d[\d,]*`)
	duration   = regexp.MustCompile(`(\d+) ?(ms|s|minutes?)\b`)
	quoted     = regexp.MustCompile("`\"([^\"`]*)\"`")
)

// cellValue reads what a table cell says a constant is, as the kind of want.
func cellValue(cell string, want any) (any, bool) {
	switch want.(type) {
	case string:
		m := quoted.FindStringSubmatch(cell)
		if m == nil {
			return nil, false
		}
		return strings.ReplaceAll(m[1], `\n`, "\n"), true
	case time.Duration:
		m := duration.FindStringSubmatch(cell)
		if m == nil {
			return nil, false
		}
		n, _ := strconv.Atoi(m[1])
		unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "minute": time.Minute, "minutes": time.Minute}[m[2]]
		return time.Duration(n) * unit, true
	default:
		m := number.FindString(cell)
		n, err := strconv.Atoi(strings.ReplaceAll(m, ",", ""))
		return n, err == nil
	}
}

// TestSpecConstants reads every table row of the README that names a constant of this
// package in a cell of its own (`MaxTasks`) and checks the value in the row's second
// column against the constant; every constant must be in some table.
func TestSpecConstants(t *testing.T) {
	found := make(map[string]bool)
	for i, line := range strings.Split(readSpec(t), "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for k := range cells {
			cells[k] = strings.TrimSpace(cells[k])
		}
		for k, c := range cells {
			m := goNameCell.FindStringSubmatch(c)
			if m == nil || k == 1 {
				continue
			}
			want, ok := specConstants[m[1]]
			if !ok {
				if strings.HasPrefix(m[1], "Max") || strings.HasSuffix(m[1], "Domain") {
					t.Errorf("README.md:%d names %s, which protocol does not define", i+1, m[1])
				}
				continue
			}
			found[m[1]] = true
			got, ok := cellValue(cells[1], want)
			if !ok || got != want {
				t.Errorf("README.md:%d says %s is %q; the code has %v", i+1, m[1], cells[1], want)
			}
		}
	}
	for name := range specConstants {
		if !found[name] {
			t.Errorf("%s is in no table of README.md", name)
		}
	}
}

var (
	hexToken  = regexp.MustCompile(`^(?:[0-9a-f]{2})+$|^[0-9a-f]+…[0-9a-f]*$`)
	longHex   = regexp.MustCompile(`[0-9a-f]{8,}(?:…[0-9a-f]*)?|[0-9a-f]{4,}…[0-9a-f]*`)
	textIDs   = regexp.MustCompile(`12D3KooW[1-9A-HJ-NP-Za-km-z]+|bafk[a-z2-7]{50,}`)
	vectorRow = regexp.MustCompile(`^([a-z0-9_.]+): (.*)$`)
)

// quotedIn reports whether quote, hex with an optional "…" for an elided middle, is part of
// one of the values: the parts around "…" in order.
func quotedIn(quote string, values []string) bool {
	parts := strings.Split(quote, "…")
	for _, v := range values {
		rest, ok := v, true
		for _, p := range parts {
			k := strings.Index(rest, p)
			if k < 0 {
				ok = false
				break
			}
			rest = rest[k+len(p):]
		}
		if ok {
			return true
		}
	}
	return false
}

// TestSpecQuotesTheVectors checks that every hex sequence and ID that section 19 of the
// README quotes is one of the test vectors: in code blocks, the hex tokens that start each
// line (joined: a line is a contiguous piece of a message); in the text, hex of 8 digits or
// more, abbreviations with "…", peer IDs and CIDs.
func TestSpecQuotesTheVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, line := range strings.Split(string(raw), "\n") {
		if m := vectorRow.FindStringSubmatch(line); m != nil {
			values = append(values, m[2])
		}
	}
	if len(values) < 30 {
		t.Fatalf("only %d vectors in testdata/vectors.txt", len(values))
	}
	spec := readSpec(t)
	start := strings.Index(spec, "\n## 19. ")
	if start < 0 {
		t.Fatal("README.md has no section 19")
	}
	lines := strings.Split(spec[start:], "\n")
	base := strings.Count(spec[:start], "\n") + 2
	inCode, checked := false, 0
	for i, line := range lines {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		var quotes []string
		if inCode {
			run := ""
			for _, tok := range strings.Fields(line) {
				if hexToken.MatchString(tok) {
					run += tok
				} else if run != "" {
					break
				}
			}
			if run != "" {
				quotes = append(quotes, run)
			}
		} else {
			for _, q := range longHex.FindAllString(line, -1) {
				if strings.ContainsAny(q, "abcdef…") { // not a decimal number
					quotes = append(quotes, q)
				}
			}
		}
		for _, q := range quotes {
			checked++
			if !quotedIn(q, values) {
				t.Errorf("README.md:%d quotes %s, which is in no test vector", base+i, q)
			}
		}
		for _, id := range textIDs.FindAllString(line, -1) {
			checked++
			if !quotedIn(id, values) {
				t.Errorf("README.md:%d quotes %s, which is in no test vector", base+i, id)
			}
		}
	}
	if checked < 60 {
		t.Fatalf("only %d quotes found in section 19: the parser no longer reads it", checked)
	}
}
