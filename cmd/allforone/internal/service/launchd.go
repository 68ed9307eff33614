package service

import (
	"context"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"strings"
)

// launchd manages a per-user agent: ~/Library/LaunchAgents/org.allforone.<name>.plist,
// loaded into the user's gui/<uid> domain. launchd starts it at login and starts it again
// whenever it exits unsuccessfully.
type launchd struct{}

func (launchd) Name() string { return "launchd" }

// Label is the agent's launchd label.
func (launchd) Label(s Spec) string { return "org.allforone." + s.Name }

func (d launchd) File(s Spec) string {
	return filepath.Join(s.Home, "Library", "LaunchAgents", d.Label(s)+".plist")
}

func (d launchd) target(s Spec) string { return fmt.Sprintf("gui/%d/%s", s.UID, d.Label(s)) }

// Plist is the agent's property list.
func (d launchd) Plist(s Spec) string {
	var args strings.Builder
	for _, a := range append([]string{s.Executable}, s.daemonArgs()...) {
		fmt.Fprintf(&args, "\n\t\t<string>%s</string>", xmlText(a))
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by allforone service install; remove it with allforone service uninstall. -->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>%s</string>
	<key>ProgramArguments</key>
	<array>%s
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>ThrottleInterval</key>
	<integer>10</integer>
	<key>ExitTimeOut</key>
	<integer>90</integer>
	<key>ProcessType</key>
	<string>Background</string>
	<key>LowPriorityIO</key>
	<true/>
	<key>Nice</key>
	<integer>10</integer>
	<key>StandardOutPath</key>
	<string>%s</string>
	<key>StandardErrorPath</key>
	<string>%s</string>
</dict>
</plist>
`, xmlText(d.Label(s)), args.String(), xmlText(s.LogFile()), xmlText(s.LogFile()))
}

func (d launchd) Install(s Spec) Plan {
	p := Plan{Platform: d.Name(), File: d.File(s)}
	p.write(p.File, []byte(d.Plist(s)), "")
	p.tryRun("launchctl", "bootout", d.target(s)) // an older definition, if loaded
	p.run("launchctl", "enable", d.target(s))
	p.run("launchctl", "bootstrap", fmt.Sprintf("gui/%d", s.UID), p.File)
	p.note("its logs: %s", s.LogFile())
	return p
}

func (d launchd) Uninstall(s Spec) Plan {
	p := Plan{Platform: d.Name(), File: d.File(s)}
	p.tryRun("launchctl", "bootout", d.target(s))
	p.remove(p.File)
	return p
}

func (d launchd) Status(ctx context.Context, s Spec, run Runner) (state, detail string) {
	out, err := run(ctx, "launchctl", "print", d.target(s))
	if err != nil {
		return "not loaded", strings.TrimSpace(string(out))
	}
	return parseLaunchctlPrint(string(out))
}

// parseLaunchctlPrint picks the state, pid, runs and last exit code out of `launchctl
// print`.
func parseLaunchctlPrint(out string) (state, detail string) {
	var details []string
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " = ")
		if !ok || seen[k] { // the service's own keys come first, nested sections later
			continue
		}
		seen[k] = true
		switch k {
		case "state":
			state = v
		case "pid", "last exit code", "runs":
			details = append(details, k+" "+v)
		}
	}
	if state == "" {
		state = "loaded"
	}
	return state, strings.Join(details, ", ")
}

// xmlText escapes s for XML character data.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
