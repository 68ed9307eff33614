package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"

	"allforone/cmd/allforone/internal/service"
	"allforone/node"

	"github.com/urfave/cli/v3"
)

// Flags of `allforone service`.
const (
	flagServiceName = "name"
	flagDryRun      = "dry-run"
	flagBinary      = "binary"
	flagPlatform    = "platform"
)

func serviceCmd() *cli.Command {
	return &cli.Command{
		Name:  "service",
		Usage: "run the daemon as a background service of this user: install, uninstall, status",
		Description: "Installs `allforone daemon` on --data as a service that starts at login and is\n" +
			"started again when it fails: a systemd user unit on Linux, a launchd agent on macOS,\n" +
			"a scheduled task at logon on Windows. --dry-run prints what install or uninstall\n" +
			"would write and run, and changes nothing.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagServiceName, Usage: "the service's name (one per data dir)", Value: service.DefaultName,
				Sources: cli.EnvVars("ALLFORONE_SERVICE_NAME")},
		},
		Commands: []*cli.Command{
			serviceChangeCmd("install", "install and start the service", service.Platform.Install),
			serviceChangeCmd("uninstall", "stop the service and remove it", service.Platform.Uninstall),
			serviceStatusCmd(),
			serviceRunCmd(),
		},
	}
}

// serviceChangeCmd is install or uninstall: make the plan, then print or carry it out.
func serviceChangeCmd(name, usage string, plan func(service.Platform, service.Spec) service.Plan) *cli.Command {
	return &cli.Command{
		Name:  name,
		Usage: usage,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagDryRun, Usage: "print the files and commands, change nothing", Sources: env(flagDryRun)},
			&cli.StringFlag{Name: flagBinary, Usage: "the allforone binary the service runs (default: this one)", Sources: cli.EnvVars("ALLFORONE_SERVICE_BINARY")},
			&cli.StringFlag{Name: flagPlatform, Usage: "with --dry-run: show the plan for linux, darwin or windows", Value: runtime.GOOS, Sources: cli.EnvVars("ALLFORONE_SERVICE_PLATFORM")},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("service %s takes no arguments, got %q", name, cmd.Args().Slice())
			}
			dryRun := cmd.Bool(flagDryRun)
			goos := cmd.String(flagPlatform)
			if goos != runtime.GOOS && !dryRun {
				return usagef("--platform %s differs from this machine's (%s): add --dry-run to only see the plan", goos, runtime.GOOS)
			}
			p, err := service.For(goos)
			if err != nil {
				return err
			}
			spec, err := serviceSpec(cmd, name == "install")
			if err != nil {
				return err
			}
			pl := plan(p, spec)
			if dryRun {
				return printOut(cmd, pl, func(pr *printer) {
					pr.f("%s with %s would:", name, pl.Platform)
					service.Describe(pr.w, pl)
				})
			}
			if err := checkTools(pl); err != nil {
				return err
			}
			if err := service.Apply(ctx, pl, service.ExecRunner); err != nil {
				return fmt.Errorf("service %s: %w", name, err)
			}
			return printOut(cmd, pl, func(pr *printer) {
				pr.f("service %s: done (%s, %s)", name, pl.Platform, pl.File)
				for _, n := range pl.Notes {
					pr.f("note: %s", n)
				}
			})
		},
	}
}

func serviceStatusCmd() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "say whether the service is installed and running",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("service status takes no arguments, got %q", cmd.Args().Slice())
			}
			p, err := service.For(runtime.GOOS)
			if err != nil {
				return err
			}
			spec, err := serviceSpec(cmd, false)
			if err != nil {
				return err
			}
			st := service.Inspect(ctx, p, spec, service.ExecRunner)
			return printOut(cmd, st, func(pr *printer) {
				pr.f("service %s (%s): %s", st.Name, st.Platform, st.State)
				pr.f("file    %s", st.File)
				if st.Detail != "" {
					pr.f("detail  %s", st.Detail)
				}
				if !st.Installed {
					pr.f("install it with: allforone --data %s service install", spec.DataDir)
				}
			})
		},
	}
}

// serviceRunCmd is what the Windows scheduled task runs: the daemon under a supervisor
// that restarts it when it fails. It works on every platform, for testing.
func serviceRunCmd() *cli.Command {
	return &cli.Command{
		Name:   "run",
		Usage:  "run the daemon and start it again when it fails (what the Windows task runs)",
		Hidden: true,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			spec, err := serviceSpec(cmd, false)
			if err != nil {
				return err
			}
			service.DetachConsole()
			return service.Supervise(ctx, service.SuperviseOptions{
				Command: func(ctx context.Context) *exec.Cmd {
					return exec.CommandContext(ctx, spec.Executable, "--data", spec.DataDir, "daemon")
				},
				LogFile: spec.LogFile(),
			})
		},
	}
}

// serviceSpec gathers the service's paths from the flags and the environment. install
// also checks that the data dir is initialized and that the binary will stay where it is.
func serviceSpec(cmd *cli.Command, install bool) (service.Spec, error) {
	s := service.Spec{Name: cmd.String(flagServiceName), UID: os.Getuid()}
	var err error
	if s.DataDir, err = filepath.Abs(cmd.String(flagData)); err != nil {
		return s, fmt.Errorf("data dir: %w", err)
	}
	if s.Home, err = os.UserHomeDir(); err != nil {
		return s, fmt.Errorf("find your home dir: %w (set HOME)", err)
	}
	s.ConfigHome = os.Getenv("XDG_CONFIG_HOME")
	if u, err := user.Current(); err == nil {
		s.User = u.Username
	}
	s.Executable = cmd.String(flagBinary)
	if s.Executable == "" {
		if s.Executable, err = os.Executable(); err != nil {
			return s, fmt.Errorf("find this binary: %w (pass --binary PATH)", err)
		}
		if resolved, err := filepath.EvalSymlinks(s.Executable); err == nil {
			s.Executable = resolved
		}
		if install && inTempDir(s.Executable) {
			return s, usagef("this binary is in a temporary directory (%s) that may be emptied (`go run` puts binaries there): build it with `go build -o allforone ./cmd/allforone`, put it where it stays, and install from there (or pass --binary PATH)", s.Executable)
		}
	} else if !service.IsAbs(s.Executable) { // a Windows path in a dry run on Linux stays as it is
		if s.Executable, err = filepath.Abs(s.Executable); err != nil {
			return s, fmt.Errorf("binary: %w", err)
		}
	}
	if err := s.Validate(); err != nil {
		return s, usageError{err}
	}
	if install {
		if _, err := os.Stat(filepath.Join(s.DataDir, node.IdentityFile)); err != nil {
			return s, usagef("data dir %s is not initialized (%v): run `allforone --data %s init` first, then install the service", s.DataDir, err, s.DataDir)
		}
	}
	return s, nil
}

func inTempDir(path string) bool {
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		tmp = os.TempDir()
	}
	return strings.HasPrefix(path, tmp+string(filepath.Separator)) || strings.Contains(path, "go-build")
}

// checkTools says clearly when the platform's service manager is missing, before the plan
// writes anything.
func checkTools(p service.Plan) error {
	seen := map[string]bool{}
	for _, s := range p.Steps {
		if len(s.Command) == 0 || seen[s.Command[0]] {
			continue
		}
		seen[s.Command[0]] = true
		if _, err := exec.LookPath(s.Command[0]); err != nil {
			return errors.New(s.Command[0] + " not found: this system does not run " + p.Platform +
				"; start `allforone daemon` from your own init system, or see --dry-run for what the service would be")
		}
	}
	return nil
}
