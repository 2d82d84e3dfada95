package mailer_test

import (
	"runtime"
	"testing"

	"convene/internal/smtpsink"
	"convene/mailer"
)

// BenchmarkSend sends confirmations from 8 goroutines over the default pool
// of 8 connections to an in-process SMTP server: with the envelope
// pipelined, and to a server that does not offer PIPELINING.
func BenchmarkSend(b *testing.B) {
	for _, bc := range []struct {
		name       string
		pipelining bool
	}{{"pipelining", true}, {"one-command-at-a-time", false}} {
		b.Run(bc.name, func(b *testing.B) {
			sink := smtpsink.Start(b)
			if !bc.pipelining {
				sink.WithoutPipelining()
			}
			m, err := mailer.New(sink.URL(), from)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			e := confirmation("c.1.r1.m1@convene.example")
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // about 8 senders
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := m.Send(b.Context(), e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mails/s")
			if got := sink.Count(); got != b.N {
				b.Fatalf("sink recorded %d of %d mails", got, b.N)
			}
		})
	}
}
