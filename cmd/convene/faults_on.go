//go:build faults

package main

import (
	"os"

	"convene"
)

// faultAfterStore, in fault-injection builds only (-tags faults), makes the
// web process die right after storing a registration and before
// enqueueing its email when CONVENE_FAULT=exit-after-store, as a crash at
// the worst moment would.
func faultAfterStore() func(convene.Registration) {
	if os.Getenv("CONVENE_FAULT") != "exit-after-store" {
		return nil
	}
	return func(convene.Registration) { os.Exit(3) }
}
