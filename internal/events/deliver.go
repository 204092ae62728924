package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/egress"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// Delivery outcomes, for Options.Observe (the metric tokend_webhook_deliveries_total).
const (
	OutcomeDelivered = "delivered"
	OutcomeFailed    = "failed"  // an attempt failed; it is retried
	OutcomeGaveUp    = "gave_up" // retried for MaxAge without success
	OutcomeDropped   = "dropped" // its webhook was removed
)

// DeliveryStore is what a Deliverer reads and writes: the webhooks and the outbox's events
// (*store.Store is one).
type DeliveryStore interface {
	ListWebhooks(ctx context.Context) ([]*store.Webhook, error)
	ListEvents(ctx context.Context) ([]string, error)
	GetEvent(ctx context.Context, id string) (*store.EventRecord, error)
	UpdateEvent(ctx context.Context, rec *store.EventRecord) error
	DeleteEvent(ctx context.Context, id string) error
}

// Options configure a Deliverer.
type Options struct {
	Store     DeliveryStore
	ReplicaID string
	// HTTP sends the deliveries [the egress policy's client, 10 s timeout: no redirects; an
	// internal address only at the webhook's own (operator-typed) origin].
	HTTP *http.Client
	// Interval between passes over the outbox [1 s]; ClaimTTL how long a claim lasts [30 s];
	// MaxAge how long an event is retried [24 h]; Keep how long a finished event stays
	// [1 h].
	Interval, ClaimTTL, MaxAge, Keep time.Duration
	// Observe is told each delivery outcome.
	Observe func(outcome string)
	Logger  *slog.Logger
	// StatusPageURL ({public-url}/ui), when tokend has a public URL, is sent as status_url
	// with needs_reauthorization events: where an operator reconnects.
	StatusPageURL string
	// Links mints a live connect link at send time for the webhooks that opted in
	// (include_reconnect_link); ReconnectPrefix ({public-url}/connect#) is what every such
	// link must start with, else it is not sent. Links are never stored in the outbox, only
	// their ids (to revoke a retry's previous link).
	Links           LinkMinter
	ReconnectPrefix string
}

// LinkMinter makes and revokes connect links (*connect.Service).
type LinkMinter interface {
	CreateLink(ctx context.Context, name string, scopes []string, ttl time.Duration, description string) (string, *authconn.ConnectLink, error)
	RevokeLink(ctx context.Context, id string) error
}

// ReconnectLinkTTL is how long a connect link sent in a webhook works.
const ReconnectLinkTTL = 7 * 24 * time.Hour

// Deliverer delivers the outbox's events; run one in every tokend serve replica.
type Deliverer struct {
	o   Options
	log *slog.Logger
}

// NewDeliverer returns a Deliverer for o.
func NewDeliverer(o Options) *Deliverer {
	if o.HTTP == nil {
		o.HTTP = egress.Client(10 * time.Second)
	}
	o.Interval = orDur(o.Interval, time.Second)
	o.ClaimTTL = orDur(o.ClaimTTL, 30*time.Second)
	o.MaxAge = orDur(o.MaxAge, 24*time.Hour)
	o.Keep = orDur(o.Keep, time.Hour)
	if o.Observe == nil {
		o.Observe = func(string) {}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Deliverer{o: o, log: o.Logger}
}

func orDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	t := time.NewTicker(d.o.Interval)
	defer t.Stop()
	for {
		d.Pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass goes once over the outbox: every delivery that is due and not claimed is attempted.
func (d *Deliverer) Pass(ctx context.Context) {
	ids, err := d.o.Store.ListEvents(ctx)
	if err != nil || len(ids) == 0 {
		return
	}
	hooks, err := d.o.Store.ListWebhooks(ctx)
	if err != nil {
		d.log.Debug("webhooks: cannot list the webhooks", "error", err)
		return
	}
	byID := map[string]*store.Webhook{}
	for _, h := range hooks {
		byID[h.ID] = h
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		d.event(ctx, id, byID)
	}
}

// event handles the deliveries of event id.
func (d *Deliverer) event(ctx context.Context, id string, hooks map[string]*store.Webhook) {
	rec, err := d.o.Store.GetEvent(ctx, id)
	if err != nil {
		return
	}
	now := time.Now()
	if rec.Deliveries == nil && !d.plan(ctx, rec, hooks) {
		return
	}
	if d.finished(rec) {
		if now.Sub(rec.Event.At) > d.o.Keep && now.After(rec.Event.KeepUntil) && d.o.Store.DeleteEvent(ctx, id) == nil {
			d.log.Debug("webhooks: removed a delivered event", "event", id)
		}
		return
	}
	for hookID, dl := range rec.Deliveries {
		h := hooks[hookID]
		if dl.Done() || now.Before(dl.NextAt) || (dl.Holder != "" && now.Before(dl.HeldUntil)) {
			continue
		}
		if h == nil { // the webhook was removed
			dl.GaveUpAt, dl.LastError = now, "the webhook was removed"
			if d.o.Store.UpdateEvent(ctx, rec) == nil {
				d.o.Observe(OutcomeDropped)
			}
			continue
		}
		if !d.claim(ctx, rec, dl) {
			return // someone else changed the record: the next pass reads it again
		}
		d.deliver(ctx, rec, h, dl)
	}
}

// plan records a delivery for every webhook that wants rec's event (check-and-set: the
// first deliverer plans, the others see its plan).
func (d *Deliverer) plan(ctx context.Context, rec *store.EventRecord, hooks map[string]*store.Webhook) bool {
	rec.Deliveries = map[string]*store.Delivery{}
	for id, h := range hooks {
		if h.Wants(rec.Event.Type) && !h.CreatedAt.After(rec.Event.At) {
			rec.Deliveries[id] = &store.Delivery{NextAt: rec.Event.At}
		}
	}
	return d.o.Store.UpdateEvent(ctx, rec) == nil
}

func (d *Deliverer) finished(rec *store.EventRecord) bool {
	for _, dl := range rec.Deliveries {
		if !dl.Done() {
			return false
		}
	}
	return true
}

// claim marks dl as being delivered by this replica, with check-and-set.
func (d *Deliverer) claim(ctx context.Context, rec *store.EventRecord, dl *store.Delivery) bool {
	dl.Holder, dl.HeldUntil = d.o.ReplicaID, time.Now().Add(d.o.ClaimTTL)
	return d.o.Store.UpdateEvent(ctx, rec) == nil
}

// deliver sends rec's event to h and records the result (with check-and-set: a claim that
// ran out meanwhile leaves the record to the replica that took it over).
func (d *Deliverer) deliver(ctx context.Context, rec *store.EventRecord, h *store.Webhook, dl *store.Delivery) {
	status, err := d.send(ctx, &rec.Event, h, d.links(ctx, &rec.Event, h, dl))
	now := time.Now()
	dl.Attempts++
	dl.Holder, dl.HeldUntil, dl.LastStatus = "", time.Time{}, status
	outcome := OutcomeDelivered
	switch {
	case err == nil:
		dl.DeliveredAt, dl.LastError = now, ""
	case now.Sub(rec.Event.At) > d.o.MaxAge:
		dl.GaveUpAt, dl.LastError, outcome = now, err.Error(), OutcomeGaveUp
		d.revokeLink(ctx, rec.Event.ID, dl) // nobody is known to have received it
	default:
		dl.NextAt, dl.LastError, outcome = now.Add(backoff(dl.Attempts)), err.Error(), OutcomeFailed
	}
	if uerr := d.o.Store.UpdateEvent(context.WithoutCancel(ctx), rec); uerr != nil {
		d.log.Warn("webhooks: could not record a delivery", "event", rec.Event.ID, "webhook", h.ID, "error", uerr)
	}
	d.o.Observe(outcome)
	d.log.Info("webhook delivery", "event", rec.Event.ID, "type", rec.Event.Type, "connection", rec.Event.Connection,
		"webhook", h.ID, "outcome", outcome, "status", status, "attempt", dl.Attempts)
}

// links are the URLs a delivery carries beside the event: the status page, and a live
// connect link minted now when h opted in.
type links struct{ StatusURL, ReconnectURL string }

// links returns the URLs for delivering ev to h. Only needs_reauthorization events carry
// them. A reconnect link is minted for a webhook that opted in; the link a previous attempt
// of dl minted is revoked first (its plaintext was never kept), and the new one's id is
// recorded in dl. A link that does not start with ReconnectPrefix is revoked, not sent.
func (d *Deliverer) links(ctx context.Context, ev *authconn.Event, h *store.Webhook, dl *store.Delivery) links {
	var out links
	if ev.Type != authconn.EventNeedsReauthorization {
		return out
	}
	out.StatusURL = d.o.StatusPageURL
	if !h.IncludeReconnectLink || d.o.Links == nil || d.o.ReconnectPrefix == "" {
		return out
	}
	d.revokeLink(ctx, ev.ID, dl)
	u, l, err := d.o.Links.CreateLink(ctx, ev.Connection, nil, ReconnectLinkTTL, "sent with "+string(ev.Type)+" to webhook "+h.ID)
	if err != nil {
		d.log.Warn("webhooks: could not make a connect link for the event", "event", ev.ID, "connection", ev.Connection, "error", err)
		return out
	}
	dl.LinkID = l.ID
	if !strings.HasPrefix(u, d.o.ReconnectPrefix) {
		d.log.Error("webhooks: a minted connect link is not on this tokend's public URL; not sent", "link", l.ID)
		return out
	}
	out.ReconnectURL = u
	return out
}

// revokeLink revokes the connect link that an earlier attempt of dl sent, if any.
func (d *Deliverer) revokeLink(ctx context.Context, eventID string, dl *store.Delivery) {
	if dl.LinkID == "" || d.o.Links == nil {
		return
	}
	if err := d.o.Links.RevokeLink(ctx, dl.LinkID); err != nil {
		d.log.Warn("webhooks: could not revoke the connect link of an earlier attempt", "event", eventID, "link", dl.LinkID, "error", err)
	}
	dl.LinkID = ""
}

// backoff is the wait after attempt n: 2 s doubling to 10 minutes, with jitter.
func backoff(n int) time.Duration {
	d := min(2*time.Second<<min(n-1, 20), 10*time.Minute)
	return d/2 + rand.N(d/2+1)
}

// payload is the body of a delivery (Standard Webhooks' type, timestamp, data).
type payload struct {
	Type      authconn.EventType `json:"type"`
	Timestamp time.Time          `json:"timestamp"`
	Data      payloadData        `json:"data"`
}

type payloadData struct {
	Connection string          `json:"connection"`
	Status     authconn.Status `json:"status,omitempty"`
	ErrorCode  string          `json:"error_code,omitempty"`
	Message    string          `json:"message,omitempty"`
	// StatusURL is the status page, where an operator reconnects (needs_reauthorization).
	StatusURL string `json:"status_url,omitempty"`
	// ReconnectURL is a live connect link, only for webhooks that opted in.
	ReconnectURL string `json:"reconnect_url,omitempty"`
	// AccountChanged and NewAccountRequested (connection.authorized only): whether the
	// authorization replaced the connection's account, and whether an operator asked for it.
	AccountChanged      *bool `json:"account_changed,omitempty"`
	NewAccountRequested *bool `json:"new_account_requested,omitempty"`
	// Metadata and APIBaseURL (connection.authorized only): the connection's non-secret
	// values kept from the authorization and its API base URL, as the token answer has them.
	Metadata   map[string]string `json:"metadata,omitempty"`
	APIBaseURL string            `json:"api_base_url,omitempty"`
	// ClientSecretExpiresAt and DaysLeft (client_secret_expiring and client_secret_expired):
	// when the client secret expires, and the notice's threshold (30, 7, 1; 0 once expired).
	ClientSecretExpiresAt *time.Time `json:"client_secret_expires_at,omitempty"`
	DaysLeft              *int       `json:"days_left,omitempty"`
}

// send POSTs ev to h, signed, with the URLs l; a 2xx answer is success. The message and
// error code are sanitized again here, for records written by earlier versions.
func (d *Deliverer) send(ctx context.Context, ev *authconn.Event, h *store.Webhook, l links) (int, error) {
	data := payloadData{Connection: ev.Connection, Status: ev.Status, ErrorCode: authconn.Sanitize(ev.ErrorCode, 128), Message: authconn.Sanitize(ev.Message, MaxMessageLen),
		StatusURL: l.StatusURL, ReconnectURL: l.ReconnectURL}
	if ev.Type == authconn.EventAuthorized {
		changed, asked := ev.AccountChanged, ev.NewAccountRequested
		data.AccountChanged, data.NewAccountRequested = &changed, &asked
		data.Metadata, data.APIBaseURL = sanitizedMetadata(ev.Metadata), authconn.Sanitize(ev.APIBaseURL, 512)
	}
	if ev.Type == authconn.EventClientSecretExpiring || ev.Type == authconn.EventClientSecretExpired {
		exp, days := ev.ClientSecretExpiresAt.UTC(), ev.DaysLeft
		data.ClientSecretExpiresAt, data.DaysLeft = &exp, &days
	}
	body, err := json.Marshal(payload{Type: ev.Type, Timestamp: ev.At, Data: data})
	if err != nil {
		return 0, err
	}
	wh, err := standardwebhooks.NewWebhook(h.Secret)
	if err != nil {
		return 0, fmt.Errorf("the webhook's secret is not usable: %w", err)
	}
	now := time.Now()
	sig, err := wh.Sign(ev.ID, now, body)
	if err != nil {
		return 0, err
	}
	// The webhook's URL was typed by an operator: its origin may be an internal address.
	req, err := http.NewRequestWithContext(egress.AllowOrigins(ctx, h.URL), http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tokend ("+d.o.ReplicaID+")")
	req.Header.Set("webhook-id", ev.ID)
	req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("webhook-signature", sig)
	resp, err := d.o.HTTP.Do(req)
	var re *egress.RedirectError
	if errors.As(err, &re) {
		// Not the URL's path (it may carry the receiver's token): only the statuses and hosts.
		return re.Status, fmt.Errorf("the receiver answered %d redirecting to host %s: webhook deliveries are never redirected; set the webhook's URL to the final one", re.Status, orNone(re.LocationHost))
	}
	if err != nil {
		return 0, errors.New("the receiver did not answer: " + redactURL(err, h.URL))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 3 { // an injected client that stops at redirects
		return resp.StatusCode, fmt.Errorf("the receiver answered %d redirecting to host %s: webhook deliveries are never redirected; set the webhook's URL to the final one", resp.StatusCode, orNone(locationHost(resp)))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the receiver answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// locationHost is the host a redirect names ("" when none).
func locationHost(resp *http.Response) string {
	if u, err := resp.Location(); err == nil {
		return authconn.Sanitize(u.Host, 100)
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// redactURL is err's text with the webhook URL (which may carry a token in its query)
// shortened to its host.
func redactURL(err error, u string) string {
	msg := err.Error()
	if i := bytes.Index([]byte(msg), []byte(u)); i >= 0 {
		msg = msg[:i] + "<webhook URL>" + msg[i+len(u):]
	}
	return msg
}

// sanitizedMetadata is md with its keys and values sanitized again (an outbox record is
// read back from Vault); nil when empty.
func sanitizedMetadata(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[authconn.Sanitize(k, 64)] = authconn.Sanitize(v, 512)
	}
	return out
}
