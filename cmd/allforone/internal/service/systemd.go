package service

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// systemd manages a user unit: ~/.config/systemd/user/<name>.service, enabled for the
// user's default target. It runs while the user is logged in, or always after
// `loginctl enable-linger`.
type systemd struct{}

func (systemd) Name() string { return "systemd" }

func (systemd) unitName(s Spec) string { return s.Name + ".service" }

func (d systemd) File(s Spec) string {
	base := s.ConfigHome
	if base == "" {
		base = filepath.Join(s.Home, ".config")
	}
	return filepath.Join(base, "systemd", "user", d.unitName(s))
}

// Unit is the systemd unit file for s.
func (systemd) Unit(s Spec) string {
	exec := []string{systemdArg(s.Executable)}
	for _, a := range s.daemonArgs() {
		exec = append(exec, systemdArg(a))
	}
	return fmt.Sprintf(`# Written by allforone service install; remove it with allforone service uninstall.
[Unit]
Description=allforone volunteer computing node (%s)
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=%s
Restart=on-failure
RestartSec=10
# Exit code 4: the datastore is corrupt; restarting cannot help, allforone repair can.
RestartPreventExitStatus=4
TimeoutStopSec=90
Nice=10
IOSchedulingClass=idle

[Install]
WantedBy=default.target
`, systemdEscape(s.DataDir), strings.Join(exec, " "))
}

func (d systemd) Install(s Spec) Plan {
	p := Plan{Platform: d.Name(), File: d.File(s)}
	p.write(p.File, []byte(d.Unit(s)), "")
	p.run("systemctl", "--user", "daemon-reload")
	p.run("systemctl", "--user", "enable", d.unitName(s))
	p.run("systemctl", "--user", "restart", d.unitName(s)) // starts it, or restarts an older one
	p.note("the node runs while you are logged in; to keep it running after you log out, run `loginctl enable-linger %s`", userOrSelf(s))
	p.note("its logs: journalctl --user -u %s", d.unitName(s))
	return p
}

func (d systemd) Uninstall(s Spec) Plan {
	p := Plan{Platform: d.Name(), File: d.File(s)}
	p.tryRun("systemctl", "--user", "disable", "--now", d.unitName(s))
	p.remove(p.File)
	p.run("systemctl", "--user", "daemon-reload")
	return p
}

func (d systemd) Status(ctx context.Context, s Spec, run Runner) (state, detail string) {
	out, _ := run(ctx, "systemctl", "--user", "is-active", d.unitName(s))
	state = strings.TrimSpace(string(out)) // active, inactive, failed, activating; exit code is not 0 unless active
	if state == "" {
		state = "unknown"
	}
	out, _ = run(ctx, "systemctl", "--user", "show", d.unitName(s), "--property=MainPID,NRestarts,UnitFileState,ExecMainStatus", "--no-pager")
	return state, strings.Join(strings.Fields(string(out)), " ")
}

func userOrSelf(s Spec) string {
	if s.User != "" {
		return s.User
	}
	return "$USER"
}

// systemdEscape escapes specifiers (%) in a unit file value.
func systemdEscape(v string) string { return strings.ReplaceAll(v, "%", "%%") }

// systemdArg quotes one ExecStart argument: specifiers and variables are escaped, and an
// argument with spaces, quotes or backslashes goes in double quotes.
func systemdArg(a string) string {
	a = strings.ReplaceAll(systemdEscape(a), "$", "$$")
	if a != "" && !strings.ContainsAny(a, " \t\n\"'\\;") {
		return a
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(a) + `"`
}
