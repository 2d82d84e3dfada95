// Package smtpsink runs an in-process SMTP server for tests.
//
// A Sink listens on 127.0.0.1 (plain, STARTTLS or implicit TLS), accepts any
// sender, any recipient and any AUTH PLAIN credentials, and records every
// message it accepts. It can be told to fail: reply an error code at MAIL,
// RCPT or DATA, delay its reply to DATA, or drop the connection around the
// end of DATA, so that callers can test how they classify each outcome. It
// can be stopped and restarted on the same address to test reconnection.
//
//	sink := smtpsink.Start(t)
//	// ... point the code under test at sink.URL() ...
//	msgs := sink.WaitCount(t, 1, 5*time.Second)
//	if got := msgs[0].Header("Subject"); got != "Hello" { ... }
//
// Every Sink stops itself when its test ends.
package smtpsink
