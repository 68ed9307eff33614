//go:build !linux

package main

import "os"

// peakRSS is not measured here.
func peakRSS(int) (int64, bool) { return 0, false }

// exitedMaxRSS is not measured here.
func exitedMaxRSS(*os.ProcessState) (int64, bool) { return 0, false }
