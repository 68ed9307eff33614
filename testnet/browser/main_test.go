package browser

import (
	"os"
	"testing"

	"allforone/tasks/runner"
)

// TestMain serves as a task runner when a node of the test's cluster starts this binary as
// one.
func TestMain(m *testing.M) {
	runner.MainIfRunner()
	os.Exit(m.Run())
}
