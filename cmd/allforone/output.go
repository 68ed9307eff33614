package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"
)

// printer writes human-readable lines to the command's stdout.
type printer struct{ w io.Writer }

// f prints one formatted line.
func (p *printer) f(format string, args ...any) { fmt.Fprintf(p.w, format+"\n", args...) }

// printOut prints v as indented JSON when --json is set, and otherwise calls text.
func printOut(cmd *cli.Command, v any, text func(p *printer)) error {
	w := cmd.Root().Writer
	if cmd.Bool(flagJSON) {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(&printer{w: w})
	return nil
}
