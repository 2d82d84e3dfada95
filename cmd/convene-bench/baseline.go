package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	gomail "github.com/wneessen/go-mail"
)

// The baselines are the least a registration service on asynq must do:
// they show what the stack itself costs on this machine, so Convene's
// figures can be read against them.

// baselineTaskType is the task type of both baselines.
const baselineTaskType = "baseline:confirm"

// baselineQueue is the one queue the baselines use.
const baselineQueue = "critical"

// baselineIntake is a minimal registration handler: decode {name, email},
// validate lightly, SET NX the address, enqueue one asynq task.
type baselineIntake struct {
	rdb   *redis.Client
	queue *asynq.Client
	seq   atomic.Uint64
}

func (h *baselineIntake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		answer(w, http.StatusBadRequest, `{"error":"malformed JSON"}`)
		return
	}
	name := strings.TrimSpace(in.Name)
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if name == "" || len(name) > 200 || len(email) > 254 {
		answer(w, http.StatusBadRequest, `{"error":"invalid input"}`)
		return
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		answer(w, http.StatusBadRequest, `{"error":"invalid email","field":"email"}`)
		return
	}
	meeting := r.PathValue("id")
	id := "r-" + strconv.FormatUint(h.seq.Add(1), 36)
	ok, err := h.rdb.SetNX(r.Context(), "bl:reg:{m:"+meeting+"}:"+email, id+"|"+name, 0).Result()
	if err != nil {
		answer(w, http.StatusServiceUnavailable, `{"error":"unavailable"}`)
		return
	}
	if !ok {
		answer(w, http.StatusOK, `{"status":"existing"}`)
		return
	}
	payload, _ := json.Marshal(mailTask{To: email, Name: name, Registration: id, Meeting: meeting})
	if _, err := h.queue.EnqueueContext(r.Context(), asynq.NewTask(baselineTaskType, payload, asynq.Queue(baselineQueue))); err != nil {
		answer(w, http.StatusServiceUnavailable, `{"error":"unavailable"}`)
		return
	}
	answer(w, http.StatusCreated, `{"id":"`+id+`","meeting_id":"`+meeting+`","status":"confirmed"}`)
}

func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body+"\n")
}

// serveBaselineIntake serves baselineIntake on 127.0.0.1 with a free port,
// says where as the JSON log line convene web writes ({"msg":"web
// listening","addr":…}), and serves until ctx ends.
func serveBaselineIntake(ctx context.Context, redisSocket string) error {
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: redisSocket, PoolSize: 64, MinIdleConns: 4})
	defer rdb.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/meetings/{id}/registrations", &baselineIntake{rdb: rdb, queue: asynq.NewClientFromRedisClient(rdb)})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	line, _ := json.Marshal(map[string]string{"msg": "web listening", "addr": ln.Addr().String()})
	fmt.Println(string(line))
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// roleEnv, when set, makes the program one of the benchmark's baseline
// processes instead of the benchmark (main and TestMain look at it first).
const roleEnv = "CONVENE_BENCH_ROLE"

// The roles of the baseline processes.
const (
	baselineWebRole    = "baseline-web"
	baselineWorkerRole = "baseline-worker"
)

// runRole runs the baseline process role names until SIGTERM and returns
// its exit code. The baselines run as processes of their own, as convene's
// do, so that they too reach Redis, the sink and the load generator across
// processes and share no Go runtime with them.
func runRole(role string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch role {
	case baselineWebRole:
		err = serveBaselineIntake(ctx, os.Getenv("BASELINE_REDIS_SOCKET"))
	case baselineWorkerRole:
		err = baselineWorker(ctx, os.Getenv("BASELINE_REDIS_SOCKET"), os.Getenv("BASELINE_SMTP_ADDR"))
	default:
		err = fmt.Errorf("unknown %s %q", roleEnv, role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "convene-bench %s: %v\n", role, err)
		return 1
	}
	return 0
}

// baselineWorker is the minimal asynq worker: concurrency 8, polling every
// 20 ms like convene's worker, sending through 8 persistent go-mail
// connections to smtpAddr. It runs until ctx ends.
func baselineWorker(ctx context.Context, redisSocket, smtpAddr string) error {
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: redisSocket, PoolSize: 64, MinIdleConns: 4})
	defer rdb.Close()
	pool, err := newMailPool(ctx, smtpAddr, 8)
	if err != nil {
		return err
	}
	defer pool.close()
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:       8,
		Queues:            map[string]int{baselineQueue: 1},
		TaskCheckInterval: 20 * time.Millisecond,
		Logger:            benchLogger{os.Stderr},
		LogLevel:          asynq.WarnLevel,
	})
	if err := srv.Start(asynq.HandlerFunc(pool.handle)); err != nil {
		return err
	}
	<-ctx.Done()
	srv.Shutdown()
	return nil
}

// mailTask is the payload of a baseline task.
type mailTask struct {
	To           string `json:"to"`
	Name         string `json:"name"`
	Registration string `json:"registration"`
	Meeting      string `json:"meeting"`
}

// mailPool is the baseline sender: persistent go-mail clients (dialled
// once, no NOOP before each message), each used by one send at a time.
type mailPool struct {
	clients chan *gomail.Client
}

// newMailPool dials n connections to the SMTP server at addr.
func newMailPool(ctx context.Context, addr string, n int) (*mailPool, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, err
	}
	p := &mailPool{clients: make(chan *gomail.Client, n)}
	for range n {
		c, err := gomail.NewClient(host,
			gomail.WithPort(port),
			gomail.WithTLSPolicy(gomail.NoTLS),
			gomail.WithoutNoop(),
			gomail.WithTimeout(30*time.Second),
			gomail.WithHELO("localhost"),
		)
		if err != nil {
			p.close()
			return nil, err
		}
		if err := c.DialWithContext(ctx); err != nil {
			p.close()
			return nil, fmt.Errorf("dial the sink: %w", err)
		}
		p.clients <- c
	}
	return p, nil
}

func (p *mailPool) close() {
	for {
		select {
		case c := <-p.clients:
			_ = c.Close()
		default:
			return
		}
	}
}

// handle is the baseline task handler: it formats a confirmation with
// fmt.Sprintf, the same mail as Convene's confirmation of the benchmark's
// meeting (the same text, HTML and invite.ics, with the participant's name
// and a link of the same length filled in), and sends it on a pooled
// connection.
func (p *mailPool) handle(ctx context.Context, t *asynq.Task) error {
	var task mailTask
	if err := json.Unmarshal(t.Payload(), &task); err != nil {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	m := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP), gomail.WithNoDefaultUserAgent())
	if err := m.From(mailFrom); err != nil {
		return err
	}
	if err := m.AddToFormat(task.Name, task.To); err != nil {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	m.Subject("Registration confirmed: Benchmark meeting")
	m.SetMessageIDWithValue("confirmation.1." + task.Registration + "." + task.Meeting + "@convene.test")
	m.SetDate()
	m.SetGenHeader("X-Convene-Kind", "confirmation")
	m.SetGenHeader("X-Convene-Meeting", task.Meeting)
	m.SetGenHeader("X-Convene-Registration", task.Registration)
	link := "https://convene.test/r/" + task.Meeting + "." + task.Registration + "." + baselineSignature
	m.SetBodyString(gomail.TypeTextPlain, fmt.Sprintf(baselineText, task.Name, link))
	m.AddAlternativeString(gomail.TypeTextHTML, fmt.Sprintf(baselineHTML, html.EscapeString(task.Name), link))
	ics := fmt.Sprintf(baselineICS, task.Meeting, time.Now().UTC().Format("20060102T150405Z"), link[:60], link[60:], task.Name, task.To)
	_ = m.AttachReader("invite.ics", strings.NewReader(ics), gomail.WithFileContentType(`text/calendar; charset=utf-8; method=REQUEST`))

	var c *gomail.Client
	select {
	case c = <-p.clients:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := c.Send(m)
	if err != nil && !m.IsDelivered() {
		// The connection may be broken: dial it again for the next send.
		_ = c.Close()
		err = errors.Join(err, c.DialWithContext(ctx))
	} else {
		err = nil
	}
	p.clients <- c
	return err
}

// baselineSignature stands in for the signature in a personal link: it
// has the length of Convene's (43 characters), but the baseline computes
// none.
const baselineSignature = "qcNber5mAUrikAoY2LryJpsBTbUbpmmrX9AOGVnpGas"

// baselineText is Convene's confirmation text for the benchmark's meeting:
// name, link.
const baselineText = `Hello %[1]s,

Your registration for the meeting below is confirmed.

Benchmark meeting
When:   Monday 30 November 2026, 11:11 (Europe/Zurich)
Where:  Room 3

The attached calendar file adds the meeting to your calendar.

Your personal link, to view or cancel your registration:
%[2]s
Please keep it to yourself: it works without a password.

You receive this email because %[1]s registered for "Benchmark meeting" with this address.
`

// baselineHTML is Convene's confirmation HTML for the benchmark's meeting:
// name (escaped), link.
const baselineHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Benchmark meeting</title>
</head>
<body style="margin:0;padding:0;background-color:#f3f4f6;">
<table role="presentation" width="100%%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f3f4f6;">
<tr>
<td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="width:100%%;max-width:600px;background-color:#ffffff;border:1px solid #e5e7eb;border-radius:6px;">
<tr>
<td style="padding:28px 32px 8px;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#111827;">
<p style="margin:0 0 16px;">Hello %[1]s,</p>
<p style="margin:0 0 16px;">Your registration for the meeting below is confirmed.</p>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:16px 0;border-collapse:collapse;">
<tr><td colspan="2" style="padding:0 0 8px;font-size:18px;font-weight:bold;color:#111827;">Benchmark meeting</td></tr>
<tr><td style="padding:2px 16px 2px 0;vertical-align:top;color:#6b7280;">When</td><td style="padding:2px 0;vertical-align:top;">Monday 30 November 2026, 11:11 (Europe/Zurich)</td></tr>
<tr><td style="padding:2px 16px 2px 0;vertical-align:top;color:#6b7280;">Where</td><td style="padding:2px 0;vertical-align:top;">Room 3</td></tr>
</table>
<p style="margin:0 0 16px;">The attached calendar file adds the meeting to your calendar.</p>
<p style="margin:24px 0 8px;"><a href="%[2]s" style="display:inline-block;padding:10px 18px;background-color:#1d4ed8;border-radius:4px;color:#ffffff;font-weight:bold;text-decoration:none;">View or cancel your registration</a></p>
<p style="margin:0 0 20px;font-size:14px;color:#4b5563;">This is your personal link; please keep it to yourself, as it works without a password. If the button does not work, copy this address into your browser:<br><a href="%[2]s" style="color:#1d4ed8;word-break:break-all;">%[2]s</a></p>
</td>
</tr>
<tr>
<td style="padding:16px 32px 24px;border-top:1px solid #e5e7eb;font-family:Arial,Helvetica,sans-serif;font-size:13px;line-height:1.5;color:#6b7280;">
You receive this email because %[1]s registered for “Benchmark meeting” with this address.
</td>
</tr>
</table>
</td>
</tr>
</table>
</body>
</html>
`

// baselineICS is Convene's calendar attachment for the benchmark's
// meeting: meeting, stamp, the link in two pieces (folded where Convene's
// is folded), attendee name and address.
const baselineICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Convene//Convene//EN\r\nMETHOD:REQUEST\r\n" +
	"BEGIN:VEVENT\r\nUID:%s@convene.test\r\nDTSTAMP:%s\r\nSEQUENCE:1\r\n" +
	"DTSTART:20261130T101103Z\r\nDTEND:20261130T111103Z\r\nSUMMARY:Benchmark meeting\r\n" +
	"LOCATION:Room 3\r\nDESCRIPTION:View or cancel your registration:\r\n  %s\r\n %s\r\n" +
	"STATUS:CONFIRMED\r\nORGANIZER;CN=Convene:mailto:no-reply@convene.test\r\n" +
	"ATTENDEE;CN=%s;PARTSTAT=ACCEPTED;RSVP=FALSE:mailto:%s\r\n" +
	"END:VEVENT\r\nEND:VCALENDAR\r\n"

// benchLogger hands asynq's warnings and errors to the benchmark's log.
type benchLogger struct{ w io.Writer }

func (l benchLogger) Debug(...any) {}
func (l benchLogger) Info(...any)  {}
func (l benchLogger) Warn(args ...any) {
	fmt.Fprintln(l.w, append([]any{"   baseline asynq warning:"}, args...)...)
}
func (l benchLogger) Error(args ...any) {
	fmt.Fprintln(l.w, append([]any{"   baseline asynq error:"}, args...)...)
}
func (l benchLogger) Fatal(args ...any) {
	fmt.Fprintln(l.w, append([]any{"   baseline asynq fatal:"}, args...)...)
}
