// Command allforone is the volunteer computing node: one binary that joins a swarm,
// runs other people's WebAssembly tasks in a sandbox, and submits batches of its own.
//
// main stays thin: it parses flags, environment and the config file into a node.Config,
// installs the log handler and the signal handling, and maps errors to exit codes. All the
// behaviour lives in the node, tasks and testnet packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"allforone/node"

	"github.com/urfave/cli/v3"

	"allforone/tasks/runner"
)

func main() {
	runner.MainIfRunner() // started as a task runner by a node: serve it, then exit
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := envNumberUsage(newApp().Run(ctx, os.Args)) // flagrange.go
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "allforone:", err)
	}
	os.Exit(exitCode(err))
}

// newApp builds the command tree. Each subcommand lives in its own file.
func newApp() *cli.Command {
	app := &cli.Command{
		Name:  "allforone",
		Usage: "a peer-to-peer volunteer computing node",
		Description: "Machines find each other through a Kademlia DHT with no central server, anyone\n" +
			"announces batches of WebAssembly tasks, volunteers run them in a sandbox, and\n" +
			"results are verified by quorum and replicated across peers.",
		Version:         versionString(),
		Flags:           globalFlags(),
		Commands:        commands(),
		HideHelpCommand: true,
		// Errors are printed once by main, with the exit code from exitCode.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
	}
	markUsageErrors(app)
	return app
}

// markUsageErrors makes flag parsing errors of every command exit with exitUsage, with a
// pointer to the command's help.
func markUsageErrors(c *cli.Command) {
	c.OnUsageError = func(_ context.Context, cmd *cli.Command, err error, _ bool) error {
		if msg, ok := numberUsage(err); ok { // flagrange.go
			return usagef("%s (see `%s --help`)", msg, cmd.FullName())
		}
		return usagef("%v (see `%s --help`)", err, cmd.FullName())
	}
	for _, sub := range c.Commands {
		markUsageErrors(sub)
	}
}

// commands lists the subcommands in the order help shows them.
func commands() []*cli.Command {
	return []*cli.Command{
		demoCmd(),
		initCmd(),
		daemonCmd(),
		idCmd(),
		peersCmd(),
		swarmKeyCmd(),
		submitCmd(),
		statusCmd(),
		resultsCmd(),
		batchesCmd(),
		whyCmd(),
		doctorCmd(),
		repairCmd(),
		dashboardCmd(),
		configCmd(),
		runCmd(),
		testnetCmd(),
		serviceCmd(),
		versionCmd(),
	}
}

// Exit codes. Scripts may rely on them.
const (
	exitOK          = 0 // success
	exitFailure     = 1 // the command ran and failed (a task failed, a peer was unreachable, ...)
	exitUsage       = 2 // bad flags, arguments or input files: fix the command line
	exitUnavailable = 3 // the daemon is not running or its API cannot be reached
	exitDataDir     = 4 // the datastore is corrupt or failed: run `allforone repair`
)

// usageError marks errors that the user fixes by changing the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// dataDirError marks errors meaning the node's datastore needs `allforone repair`.
type dataDirError struct{ err error }

func (e dataDirError) Error() string { return e.err.Error() }
func (e dataDirError) Unwrap() error { return e.err }

// unavailableError marks errors meaning the daemon's API could not be reached.
type unavailableError struct{ err error }

func (e unavailableError) Error() string { return e.err.Error() }
func (e unavailableError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var na unavailableError
	if errors.As(err, &na) {
		return exitUnavailable
	}
	var dd dataDirError
	if errors.As(err, &dd) || errors.Is(err, node.ErrDatastoreCorrupt) {
		return exitDataDir
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return exitFailure
}
