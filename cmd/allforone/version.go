package main

import (
	"context"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v3"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func versionString() string { return version }

// versionInfo is what `allforone version --json` prints.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"go_version"`
}

func buildInfo() versionInfo {
	v := versionInfo{Version: version, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	return v
}

func versionCmd() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of this binary",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			v := buildInfo()
			return printOut(cmd, v, func(p *printer) {
				p.f("allforone %s", v.Version)
				if v.Commit != "" {
					p.f("commit     %s", v.Commit)
				}
				p.f("go         %s", v.GoVersion)
			})
		},
	}
}
