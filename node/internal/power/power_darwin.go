package power

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

func onBattery() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "pmset", "-g", "batt").Output()
	if err != nil {
		return false, fmt.Errorf("run pmset -g batt: %w", err)
	}
	return parsePmset(string(out))
}
