package main

import (
	"allforone/node"

	"github.com/urfave/cli/v3"
)

// Preference flags, shared by init (written to config.json) and daemon (for this run).
const (
	flagMaxTaskMemory  = "max-task-memory"
	flagDiskQuota      = "disk-quota"
	flagRetention      = "retention"
	flagCPUBusyPercent = "cpu-busy-percent"
	flagRunOnBattery   = "run-on-battery"
	flagSchedule       = "schedule"
	flagMetricsPublic  = "metrics-public"
	flagTaskPriority   = "task-priority"
	flagCompileMemory  = "compile-memory"
)

func prefFlags() []cli.Flag {
	const cat = "preferences"
	return []cli.Flag{
		&cli.IntFlag{Name: flagSlots, Category: cat, Usage: "tasks to run at once (default: CPU cores - 1)", Sources: env(flagSlots)},
		&cli.IntFlag{Name: flagMaxTaskMemory, Category: cat, Usage: "memory one task may use, in MiB; batches that ask for more are left to others", Sources: env(flagMaxTaskMemory)},
		&cli.IntFlag{Name: flagDiskQuota, Category: cat, Usage: "disk quota for blobs and results, in MiB (0: none)", Sources: env(flagDiskQuota)},
		&cli.DurationFlag{Name: flagRetention, Category: cat, Usage: "keep a finished batch's data this long before collecting it", Sources: env(flagRetention)},
		&cli.IntFlag{Name: flagCPUBusyPercent, Category: cat, Usage: "pause while other programs use more than this % of the CPU (0: never)", Sources: env(flagCPUBusyPercent)},
		&cli.BoolFlag{Name: flagRunOnBattery, Category: cat, Usage: "compute while the machine runs on battery", Sources: env(flagRunOnBattery)},
		&cli.StringFlag{Name: flagSchedule, Category: cat, Usage: `hours to compute, local time, e.g. "18:00-08:00" or "mon-fri 18:00-23:00, sat-sun 00:00-24:00"`, Sources: env(flagSchedule)},
		&cli.BoolFlag{Name: flagMetricsPublic, Category: cat, Usage: "serve /metrics without the API token, for a Prometheus scraper", Sources: env(flagMetricsPublic)},
		&cli.StringFlag{Name: flagTaskPriority, Category: cat, Usage: "OS priority of the task runners: idle (default: only CPU time nobody else wants) or normal", Sources: env(flagTaskPriority)},
		&cli.DurationFlag{Name: flagCompile, Category: cat, Usage: "CPU time compiling one module may take; a module over it is refused for its whole batch (default 60s)", Sources: env(flagCompile)},
		&cli.IntFlag{Name: flagCompileMemory, Category: cat, Usage: "memory a task runner may use while compiling a module, in MiB (default 2048)", Sources: env(flagCompileMemory)},
	}
}

// applyPrefFlags overrides cfg with the preference flags the user set.
func applyPrefFlags(cmd *cli.Command, cfg *node.Config) {
	if cmd.IsSet(flagSlots) {
		cfg.Slots = int(cmd.Int(flagSlots))
	}
	if cmd.IsSet(flagMaxTaskMemory) {
		cfg.MaxTaskMemoryMB = int(cmd.Int(flagMaxTaskMemory))
	}
	if cmd.IsSet(flagTaskPriority) {
		cfg.TaskPriority = cmd.String(flagTaskPriority)
	}
	if cmd.IsSet(flagCompile) {
		cfg.CompileBudget = node.Duration(cmd.Duration(flagCompile))
	}
	if cmd.IsSet(flagCompileMemory) {
		cfg.CompileMemoryMB = int(cmd.Int(flagCompileMemory))
	}
	prefsOverride(cmd)(&cfg.Prefs)
}

// prefsOverride returns what the flags set in Prefs, to apply again when the daemon
// reloads config.json: flags win over the file.
func prefsOverride(cmd *cli.Command) func(*node.Prefs) {
	return func(p *node.Prefs) {
		if cmd.IsSet(flagDiskQuota) {
			p.DiskQuotaMB = int(cmd.Int(flagDiskQuota))
		}
		if cmd.IsSet(flagRetention) {
			p.Retention = node.Duration(cmd.Duration(flagRetention))
		}
		if cmd.IsSet(flagCPUBusyPercent) {
			p.CPUBusyPercent = int(cmd.Int(flagCPUBusyPercent))
		}
		if cmd.IsSet(flagRunOnBattery) {
			p.RunOnBattery = cmd.Bool(flagRunOnBattery)
		}
		if cmd.IsSet(flagSchedule) {
			p.Schedule = cmd.String(flagSchedule)
		}
		if cmd.IsSet(flagMetricsPublic) {
			p.MetricsPublic = cmd.Bool(flagMetricsPublic)
		}
	}
}
