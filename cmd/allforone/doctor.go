package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"allforone/node"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/urfave/cli/v3"
)

// Statuses of a doctor check.
const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "FAIL"
)

// checkResult is one line of `allforone doctor`.
type checkResult struct {
	Check  string `json:"check"`
	Status string `json:"status"` // ok, warn or FAIL
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// doctor collects the checks of one data dir, in the order they are printed.
type doctor struct {
	dir     string
	results []checkResult
}

func (d *doctor) ok(check, detail string)        { d.add(check, statusOK, detail, "") }
func (d *doctor) warn(check, detail, fix string) { d.add(check, statusWarn, detail, fix) }
func (d *doctor) fail(check, detail, fix string) { d.add(check, statusFail, detail, fix) }
func (d *doctor) add(check, status, detail, fix string) {
	d.results = append(d.results, checkResult{check, status, detail, fix})
}

func (d *doctor) failures() int {
	n := 0
	for _, r := range d.results {
		if r.Status == statusFail {
			n++
		}
	}
	return n
}

func doctorCmd() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check this node's set-up and say what to fix",
		Description: "Checks the data dir, identity, config, listen addresses, swarm key, bootstrap peers\n" +
			"(a TCP dial to each configured address, nothing else) and, when the daemon runs,\n" +
			"its peers, reachability, relays, DHT mode and clock. One line per check: ok, warn or\n" +
			"FAIL with what to fix. Exit code 1 when any check fails.",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("doctor takes no arguments")
			}
			d := &doctor{dir: cmd.String(flagData)}
			d.run(ctx)
			err := printOut(cmd, d.results, func(p *printer) {
				warns := 0
				for _, r := range d.results {
					p.f("%-4s  %-13s %s", r.Status, r.Check, r.Detail)
					if r.Fix != "" {
						p.f("      %-13s fix: %s", "", r.Fix)
					}
					if r.Status == statusWarn {
						warns++
					}
				}
				p.f("%d checks: %d failed, %d warnings", len(d.results), d.failures(), warns)
			})
			if err != nil {
				return err
			}
			if n := d.failures(); n > 0 {
				return fmt.Errorf("doctor: %d check(s) failed; fix what the FAIL lines say", n)
			}
			return nil
		},
	}
}

// run makes every check that applies: the later ones need the earlier ones to pass.
func (d *doctor) run(ctx context.Context) {
	if !d.checkDataDir() {
		return
	}
	id, idOK := d.checkIdentity()
	cfg, err := node.LoadConfig(d.dir)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		d.fail("config", err.Error(), "edit "+filepath.Join(d.dir, node.ConfigFile)+" (`allforone config show` lists the keys), or move it away and run `allforone init` again")
	} else {
		d.ok("config", filepath.Join(d.dir, node.ConfigFile)+" is valid; swarm "+cfg.Swarm)
	}
	daemon := d.probeDaemon(ctx)
	d.checkDatastore(ctx, daemon)
	if err == nil {
		d.checkSwarmKey(cfg)
		d.checkListen(cfg, daemon.running)
		d.checkBootstrap(ctx, cfg, daemon)
	}
	d.checkDaemon(cfg, err == nil, daemon, id, idOK)
	d.checkClock(daemon)
}

// checkDataDir: the data dir exists, is writable, and its format is one this binary reads.
func (d *doctor) checkDataDir() bool {
	fi, err := os.Stat(d.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		d.fail("data dir", d.dir+" does not exist", "run `allforone init --data "+d.dir+"`, or pass the right --data")
		return false
	case err != nil:
		d.fail("data dir", err.Error(), "check the permissions of "+d.dir)
		return false
	case !fi.IsDir():
		d.fail("data dir", d.dir+" is not a directory", "pass the node's data dir with --data")
		return false
	}
	f, err := os.CreateTemp(d.dir, ".doctor-*")
	if err != nil {
		d.fail("data dir", d.dir+" is not writable: "+err.Error(), "give the user who runs the daemon write access to "+d.dir)
	} else {
		f.Close()
		os.Remove(f.Name())
		d.ok("data dir", d.dir+" exists and is writable")
	}
	switch v, err := node.ReadDataDirVersion(d.dir); {
	case err != nil:
		d.fail("format", err.Error(), "")
	case v > node.DataDirVersion:
		d.fail("format", fmt.Sprintf("format version %d is newer than this binary's %d", v, node.DataDirVersion), "run the newer allforone that wrote it")
	case v < node.DataDirVersion:
		d.warn("format", fmt.Sprintf("format version %d: the daemon upgrades it to %d at its next start, after a backup in %s", v, node.DataDirVersion, node.BackupDir), "")
	default:
		d.ok("format", fmt.Sprintf("format version %d", v))
	}
	return true
}

// checkDatastore: the running daemon's word on what its datastore lost, or, with no daemon,
// a quick check (open it read-only, read every table's footer and index, compare it with
// the last recorded sync point). `allforone repair` reads everything.
func (d *doctor) checkDatastore(ctx context.Context, daemon daemonState) {
	fix := "stop the daemon and run `allforone repair --data " + d.dir + "` (it reads every block)"
	if daemon.running {
		if l := daemon.health.DataLoss; daemon.healthOK && l != nil {
			d.warn("datastore", "lost data before the daemon started: "+l.Summary(), "nothing to do while it has peers (it fetches it again); if it happens again, check the disk, then "+fix)
			return
		}
		d.ok("datastore", "in use by the running daemon, which found no loss at its start")
		return
	}
	r, err := node.CheckDatastore(ctx, d.dir, false)
	switch {
	case err != nil:
		d.warn("datastore", "not checked: "+err.Error(), "")
	case r.Missing:
		d.ok("datastore", "none yet: the daemon makes one at its first start")
	case r.Marked != nil:
		d.fail("datastore", "the daemon found it corrupt: "+corruptLine(r.Dir, *r.Marked), fix+", then with --move-aside")
	case len(r.Corrupt) > 0:
		d.fail("datastore", "corrupt: "+corruptLine(r.Dir, r.Corrupt[0]), fix+", then with --move-aside")
	case r.Lost != nil:
		d.warn("datastore", "lost synced writes: "+r.Lost.Summary(), "start the daemon: it fetches them again from its peers; then check the disk")
	default:
		d.ok("datastore", fmt.Sprintf("%s opens, its tables check out (%d batches, %d results); `allforone repair` reads every block", r.Dir, r.Counts.Batches, r.Counts.Results))
	}
}

// corruptLine is a corrupt file and what is wrong with it.
func corruptLine(dir string, c node.CorruptionError) string {
	if c.File == "" {
		return dir + ": " + c.Detail
	}
	return filepath.Join(dir, c.File) + ": " + c.Detail
}

func (d *doctor) checkIdentity() (peer.ID, bool) {
	id, err := node.PeerIDOf(d.dir)
	if err != nil {
		fix := ""
		if errors.Is(err, node.ErrNotInitialized) {
			fix = "run `allforone init --data " + d.dir + "`"
		}
		d.fail("identity", err.Error(), fix)
		return "", false
	}
	d.ok("identity", "peer ID "+id.String())
	return id, true
}

func (d *doctor) checkSwarmKey(cfg node.Config) {
	path := cfg.SwarmKeyPath()
	if path == "" {
		d.ok("swarm key", "none: a public swarm (anyone with the swarm's name may join)")
		return
	}
	b, err := os.ReadFile(path)
	if err == nil {
		_, err = node.DecodeSwarmKey(b)
	}
	if err != nil {
		d.fail("swarm key", err.Error(), "copy the swarm's key to "+path+" (the same file on every member), or clear swarm_key_file for a public swarm")
		return
	}
	d.ok("swarm key", "private swarm, key in "+path+" (TCP only: QUIC cannot carry the key)")
}

// checkClock: a clock far off makes leases and records expire at the wrong time.
func (d *doctor) checkClock(daemon daemonState) {
	now := time.Now()
	if now.Year() < 2024 {
		d.warn("clock", "the system clock says "+now.Format(time.RFC3339), "set the system clock (turn on time synchronisation, NTP)")
		return
	}
	if daemon.running && !daemon.time.IsZero() {
		skew := daemon.time.Sub(daemon.asked).Round(time.Second)
		if skew.Abs() > 30*time.Second {
			d.warn("clock", fmt.Sprintf("the daemon's clock differs from this machine's by %s", skew), "set both machines' clocks (NTP)")
			return
		}
	}
	d.ok("clock", now.Format(time.RFC3339))
}

// short shortens a peer ID for a line of text.
func short(id string) string {
	if len(id) > 12 {
		return "…" + id[len(id)-8:]
	}
	return id
}

// plural is "1 peer", "2 peers".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
