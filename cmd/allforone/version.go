package main

import (
	"context"
	"runtime"
	"runtime/debug"

	"allforone/node"
	"allforone/protocol"
	"allforone/tasks"

	"github.com/urfave/cli/v3"
)

// version and commit are set at build time with
// -ldflags "-X main.version=v1.2.3 -X main.commit=abc123". Without -X main.commit the
// commit comes from the build's VCS stamp, when it has one.
var (
	version = "dev"
	commit  = ""
)

func versionString() string { return version }

// versionInfo is what `allforone version --json` prints.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"` // GOOS/GOARCH
	// Swarm is the swarm whose protocol IDs Protocols shows: the data dir's, or the default.
	Swarm string `json:"swarm"`
	// Protocols are the protocol IDs and topics this binary speaks.
	Protocols []protocol.Spoken `json:"protocols"`
	// ManifestVersion is the batch manifest format it reads and writes.
	ManifestVersion int `json:"manifest_version"`
	// DataDirVersion is the data dir format it reads and writes.
	DataDirVersion int `json:"data_dir_version"`
}

func buildInfo(swarm string) versionInfo {
	v := versionInfo{
		Version:         version,
		Commit:          commit,
		GoVersion:       runtime.Version(),
		Platform:        runtime.GOOS + "/" + runtime.GOARCH,
		Swarm:           swarm,
		Protocols:       protocol.Speaks(swarm),
		ManifestVersion: tasks.ManifestVersion,
		DataDirVersion:  node.DataDirVersion,
	}
	if bi, ok := debug.ReadBuildInfo(); ok && v.Commit == "" {
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && v.Commit != "" {
			v.Commit += "-dirty"
		}
	}
	return v
}

// versionSwarm is the swarm in the data dir's config, or the default swarm when there is
// none: version never fails for want of a data dir.
func versionSwarm(dataDir string) string {
	cfg, err := node.LoadConfig(dataDir)
	if err != nil || protocol.ValidateSwarmName(cfg.Swarm) != nil {
		return protocol.DefaultSwarm
	}
	return cfg.Swarm
}

func versionCmd() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of this binary and the protocol versions it speaks",
		Description: "Prints the version, commit, Go version, and the protocol IDs, topics and\n" +
			"formats this binary speaks. Two peers work together when they share the protocols;\n" +
			"`allforone peers` marks peers that share none.",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("version takes no arguments, got %q", cmd.Args().Slice())
			}
			v := buildInfo(versionSwarm(cmd.String(flagData)))
			return printOut(cmd, v, func(p *printer) {
				p.f("allforone %s", v.Version)
				if v.Commit != "" {
					p.f("commit     %s", v.Commit)
				}
				p.f("go         %s (%s)", v.GoVersion, v.Platform)
				p.f("protocols  (swarm %s)", v.Swarm)
				for _, s := range v.Protocols {
					p.f("  %-8s %-8s %-6s %s", s.Kind, s.Name, s.Version, s.ID)
				}
				p.f("manifest   format %d", v.ManifestVersion)
				p.f("data dir   format %d", v.DataDirVersion)
			})
		},
	}
}
