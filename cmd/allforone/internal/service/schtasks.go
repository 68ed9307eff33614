package service

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf16"
)

// schtasks manages a scheduled task that starts at the user's logon and runs
// `allforone service run`: a supervisor that runs the daemon without a console window,
// writes its output to daemon.log in the data dir, and starts it again when it fails
// (Task Scheduler's own restart covers only a task that fails to start). The task
// definition is kept next to the data as <data>\<name>-task.xml.
type schtasks struct{}

func (schtasks) Name() string { return "schtasks" }

func (schtasks) File(s Spec) string { return joinPath(s.DataDir, s.Name+"-task.xml") }

// superviseArgs are the task's arguments: the supervisor on the data dir.
func superviseArgs(s Spec) []string {
	return []string{"--data", s.DataDir, "service", "run", "--name", s.Name}
}

// TaskXML is the task definition, as Task Scheduler exports it (before UTF-16 encoding).
func (schtasks) TaskXML(s Spec) string {
	var args []string
	for _, a := range superviseArgs(s) {
		args = append(args, windowsArg(a))
	}
	xmlDoc := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>allforone volunteer computing node (%s). Written by allforone service install; remove it with allforone service uninstall.</Description>
    <URI>\%s</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>%s</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>%s</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>7</Priority>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>%s</Command>
      <Arguments>%s</Arguments>
      <WorkingDirectory>%s</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
`, xmlText(s.DataDir), xmlText(s.Name), xmlText(s.User), xmlText(s.User),
		xmlText(s.Executable), xmlText(strings.Join(args, " ")), xmlText(s.DataDir))
	return strings.ReplaceAll(xmlDoc, "\n", "\r\n")
}

func (d schtasks) Install(s Spec) Plan {
	p := Plan{Platform: d.Name(), File: d.File(s)}
	text := d.TaskXML(s)
	p.write(p.File, utf16LE(text), text)
	p.run("schtasks", "/Create", "/TN", s.Name, "/XML", p.File, "/F")
	p.tryRun("schtasks", "/End", "/TN", s.Name) // an older one, if it runs
	p.run("schtasks", "/Run", "/TN", s.Name)
	p.note("it starts at every logon of %s; its logs: %s", s.User, s.LogFile())
	return p
}

func (d schtasks) Uninstall(s Spec) Plan {
	p := Plan{Platform: d.Name(), File: d.File(s)}
	p.tryRun("schtasks", "/End", "/TN", s.Name)
	p.run("schtasks", "/Delete", "/TN", s.Name, "/F")
	p.remove(p.File)
	return p
}

func (d schtasks) Status(ctx context.Context, s Spec, run Runner) (state, detail string) {
	out, err := run(ctx, "schtasks", "/Query", "/TN", s.Name, "/FO", "LIST", "/V")
	if err != nil {
		return "not registered", strings.TrimSpace(string(out))
	}
	return parseSchtasksList(string(out))
}

// parseSchtasksList picks the status and last result out of `schtasks /Query /FO LIST
// /V`. The labels are translated on Windows in other languages; then the state is
// "registered" and the detail is empty.
func parseSchtasksList(out string) (state, detail string) {
	state = "registered"
	var details []string
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "Status":
			state = v
		case "Last Run Time", "Last Result":
			details = append(details, strings.ToLower(k)+" "+v)
		}
	}
	return state, strings.Join(details, ", ")
}

// utf16LE encodes s as UTF-16 little-endian with a byte order mark, the encoding that
// Task Scheduler writes and reads.
func utf16LE(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2, 2+2*len(u))
	b[0], b[1] = 0xFF, 0xFE
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	return b
}

// windowsArg quotes one argument of a Windows command line so that CommandLineToArgvW
// (and Go's os.Args) reads it back unchanged: the rules of syscall.EscapeArg.
func windowsArg(s string) string {
	if s == "" {
		return `""`
	}
	if !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(s[i])
	}
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}
