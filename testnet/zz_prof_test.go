package testnet

import (
	"os"
	"testing"
	"time"
)

func TestZZProfSoak(t *testing.T) {
	if os.Getenv("ZZPROF") == "" {
		t.Skip()
	}
	sc, err := ShippedScenario("churn")
	if err != nil {
		t.Fatal(err)
	}
	sc.Name = "soak"
	sc.Nodes = 20
	sc.Batch.Range.End = sc.Batch.Range.Start + 1000
	sc.Duration = Duration(90 * time.Second)
	sc.Timeout = sc.Duration + Duration(10*time.Minute)
	rep, err := RunScenario(t.Context(), sc, RunConfig{Dir: t.TempDir(), Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	rep.WriteText(os.Stdout)
}
