package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

const flagMoveAside = "move-aside"

// repairOutput is what `allforone repair --json` prints.
type repairOutput struct {
	Report       *node.DatastoreReport `json:"report"`
	MovedTo      string                `json:"moved_to,omitempty"`      // --move-aside: where the corrupt datastore went
	DeletedBlobs []string              `json:"deleted_blobs,omitempty"` // --move-aside: bad blobs removed
}

func repairCmd() *cli.Command {
	return &cli.Command{
		Name:  "repair",
		Usage: "check the datastore (the daemon must be stopped) and move a corrupt one aside",
		Description: "Opens the data dir's datastore, reads every key and value (pebble checks every\n" +
			"block's checksum), checks every blob against its content ID and compares the\n" +
			"datastore with the last sync point the node recorded (a log that lost its tail).\n" +
			"With --move-aside a corrupt datastore goes to <data>/backups/datastore-corrupt-<time>\n" +
			"and an empty one takes its place: the identity, config, keys and API token stay,\n" +
			"and at its next start the node fetches the running batches, steward state and\n" +
			"results again from its peers. Blobs that fail their hash alone are deleted instead\n" +
			"(they are fetched again when needed).\n" +
			"Exit codes: 0 healthy or repaired, 4 corrupt (run again with --move-aside), 1 the\n" +
			"check could not run (a daemon uses the data dir: stop it first).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagMoveAside, Usage: "move a corrupt datastore to backups/ and start an empty one", Sources: env(flagMoveAside)},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("repair takes no arguments (the data dir is --data)")
			}
			dir := cmd.String(flagData)
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return usagef("data dir %s does not exist or is not a directory: pass the node's --data", dir)
			}
			rep, err := node.CheckDatastore(ctx, dir, true)
			if err != nil {
				return fmt.Errorf("check the datastore: %w", err)
			}
			out := repairOutput{Report: rep}
			if cmd.Bool(flagMoveAside) && !rep.OK {
				if len(rep.Corrupt) == 0 && rep.Marked == nil {
					if err := node.DeleteBlobs(ctx, dir, rep.BadBlobs); err != nil {
						return err
					}
					out.DeletedBlobs = rep.BadBlobs
				} else if out.MovedTo, err = node.MoveDatastoreAside(dir, time.Now()); err != nil {
					return err
				}
			}
			if err := printOut(cmd, out, func(p *printer) { printRepair(p, dir, out) }); err != nil {
				return err
			}
			if !rep.OK && out.MovedTo == "" && out.DeletedBlobs == nil {
				return dataDirError{fmt.Errorf("the datastore is corrupt: run `allforone repair --data %s --move-aside`", dir)}
			}
			return nil
		},
	}
}

func printRepair(p *printer, dir string, out repairOutput) {
	r := out.Report
	switch {
	case r.Missing:
		p.f("datastore %s: none yet (the daemon makes one at its first start)", r.Dir)
		return
	case r.OK:
		p.f("datastore %s: ok", r.Dir)
	default:
		p.f("datastore %s: CORRUPT", r.Dir)
	}
	if r.Marked != nil {
		if r.Cleared {
			p.f("  a running daemon had found corruption (%s), but every block reads back fine now: mark cleared", r.Marked.Detail)
		} else {
			p.f("  found by the running daemon: %s: %s", orUnknown(r.Marked.File), r.Marked.Detail)
		}
	}
	for _, c := range r.Corrupt {
		p.f("  %s: %s", orUnknown(c.File), c.Detail)
	}
	for _, b := range r.BadBlobs {
		p.f("  blob %s: its bytes do not hash to its ID", b)
	}
	if r.Lost != nil {
		p.f("  lost writes: %s (not corruption: the daemon fetches them again from its peers)", r.Lost.Summary())
	}
	if r.Full && r.Keys > 0 {
		p.f("  read %d keys (%.1f MB) in %.1fs: %d batches, %d steward roles, %d results",
			r.Keys, float64(r.Bytes)/1e6, r.Seconds, r.Counts.Batches, r.Counts.StewardOf, r.Counts.Results)
	}
	switch {
	case out.MovedTo != "":
		p.f("moved the corrupt datastore to %s (delete it once you no longer need it); the daemon starts with an empty one and fetches running batches, steward state and results from its peers", out.MovedTo)
	case out.DeletedBlobs != nil:
		p.f("deleted %d bad blobs; the node fetches them again when it needs them", len(out.DeletedBlobs))
	case !r.OK:
		p.f("fix: allforone repair --data %s --%s (keeps the old datastore in %s/%s)", dir, flagMoveAside, dir, node.BackupDir)
	}
}

func orUnknown(file string) string {
	if file == "" {
		return "(file unknown)"
	}
	return file
}
