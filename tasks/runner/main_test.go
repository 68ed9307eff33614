package runner

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain makes the test binary a runner when the pool starts it as one, so the tests
// run real runner processes.
func TestMain(m *testing.M) {
	MainIfRunner()
	goleak.VerifyTestMain(m)
	os.Exit(0)
}
