package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// The intake limits of the phases that post registrations (intake, form,
// e2e, fanout, fanout100k): the shape of the production defaults
// (INTAKE_RATE_PER_IP a minute per client address, INTAKE_RATE_PER_EMAIL
// an hour per email address), both on, at values the run never reaches.
// Every address registers once in its phase (each phase has a Redis of its
// own, and the warm-ups use other addresses than the measured loads), so
// the production default per email is high enough; per client address, a
// million a minute is more than any phase sends even from one address.
const (
	benchRatePerIP    = 1_000_000
	benchRatePerEmail = 10
)

// sourceAddrs is how many loopback source addresses the connections of a
// phase with the limits on are spread over.
const sourceAddrs = 254

// startWeb starts `convene web` for a phase that posts registrations. With
// limited, it runs with both intake limits on (benchRatePerIP,
// benchRatePerEmail), and the phase's clients (e.client, e.register) dial
// from up to sourceAddrs loopback addresses, as real traffic comes from
// many; without, the limits are off and the clients dial from 127.0.0.1,
// as before -limits existed.
func (e *env) startWeb(ctx context.Context, limited bool) (*proc, error) {
	if !limited {
		return e.start(ctx, "web")
	}
	e.dialer = &spreadDialer{n: sourceAddrs}
	return e.start(ctx, "web",
		fmt.Sprintf("INTAKE_RATE_PER_IP=%d", benchRatePerIP),
		fmt.Sprintf("INTAKE_RATE_PER_EMAIL=%d", benchRatePerEmail))
}

// client returns a keep-alive HTTP client for conns concurrent clients of
// the phase: dialling from many source addresses when the phase's web runs
// with the limits on.
func (e *env) client(conns int) *http.Client {
	if e.dialer != nil {
		return newHTTPClientDial(conns, e.dialer.DialContext)
	}
	return newHTTPClient(conns)
}

// limitSetting is the intake limits a phase's web ran with, and where its
// clients' connections came from.
type limitSetting struct {
	on   bool
	desc string
}

func (l limitSetting) String() string { return l.desc }

// limits describes the intake limits the phase's web runs with, and where
// its clients' connections came from so far.
func (e *env) limits() limitSetting {
	if e.dialer == nil {
		return limitSetting{false, "INTAKE_RATE_PER_IP=0, INTAKE_RATE_PER_EMAIL=0 (-limits off); connections from 127.0.0.1"}
	}
	return limitSetting{true, fmt.Sprintf("INTAKE_RATE_PER_IP=%d/min, INTAKE_RATE_PER_EMAIL=%d/h; %d connections from %d source IPs",
		benchRatePerIP, benchRatePerEmail, e.dialer.dials.Load(), e.dialer.addresses())}
}

// limitsFlag is the -limits flag's value: "on" or "off".
func (b *bench) limitsFlag() string {
	if b.limits {
		return "on"
	}
	return "off"
}

// spreadDialer dials each new connection from the next of n loopback
// source addresses, 127.0.0.2, 127.0.0.3, …, so that the server sees its
// clients come from many addresses, as real traffic does, and counts each
// against its own INTAKE_RATE_PER_IP. Linux routes all of 127.0.0.0/8 to
// the loopback interface, so this needs no configuration.
type spreadDialer struct {
	n     int // at most 254
	dials atomic.Int64
}

// DialContext dials addr from the next source address.
func (d *spreadDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	i := d.dials.Add(1) - 1
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%int64(d.n)))}
	return (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, LocalAddr: local}).DialContext(ctx, network, addr)
}

// addresses returns how many source addresses have been used.
func (d *spreadDialer) addresses() int {
	return int(min(d.dials.Load(), int64(d.n)))
}
