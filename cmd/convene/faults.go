//go:build !faults

package main

import "convene"

// faultAfterStore is the hook of fault-injection builds (-tags faults);
// ordinary builds have none.
func faultAfterStore() func(convene.Registration) { return nil }

// faultAfterSent is the hook of fault-injection builds; ordinary builds
// have none.
func faultAfterSent() func(convene.Message) { return nil }
