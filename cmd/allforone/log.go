package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/urfave/cli/v3"
)

// newLogger builds the log handler from --log-level and --log-format.
func newLogger(cmd *cli.Command, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cmd.String(flagLogLevel))); err != nil {
		return nil, usagef("--log-level %q: use debug, info, warn or error", cmd.String(flagLogLevel))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f := cmd.String(flagLogFormat); f {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usageError{fmt.Errorf("--log-format %q: use text or json", f)}
	}
}
