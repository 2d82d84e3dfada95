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

// faultAfterSent, in fault-injection builds only, makes the worker die
// right after an email was accepted and its ledger entry written, before
// asynq marks the task done, when CONVENE_FAULT=exit-after-sent.
func faultAfterSent() func(convene.Message) {
	if os.Getenv("CONVENE_FAULT") != "exit-after-sent" {
		return nil
	}
	return func(convene.Message) { os.Exit(3) }
}
