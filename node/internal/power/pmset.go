package power

import (
	"fmt"
	"strings"
)

// parsePmset reads the output of macOS's `pmset -g batt`, whose first line names the
// source: "Now drawing from 'AC Power'", "'Battery Power'" or "'UPS Power'".
func parsePmset(out string) (bool, error) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	_, source, ok := strings.Cut(line, "Now drawing from '")
	source, _, closed := strings.Cut(source, "'")
	if !ok || !closed {
		return false, fmt.Errorf("%w: pmset -g batt printed %q, not \"Now drawing from '<source>'\"", ErrUnknown, line)
	}
	switch source {
	case "AC Power":
		return false, nil
	case "Battery Power", "UPS Power":
		return true, nil
	}
	return false, fmt.Errorf("%w: pmset -g batt names the source %q", ErrUnknown, source)
}
