package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signoff/signoff/shared/event"
)

// The ledger of a logout shows its front-channel deliveries too (channel
// "frontchannel"). Only the browser sees them: the front records each one
// as pending when it serves the page, and the page's script reports, with
// navigator.sendBeacon, when each iframe has loaded (delivered) or its time
// limit passed first (failed). A load event says the browser loaded the
// client's front-channel logout URI, not that the client signed the person
// out: browsers fire it for error pages too (spec FCL-15). Without
// JavaScript nothing is reported and the deliveries stay pending.
//
// Each iframe carries a report token: the logouts and clients it stands
// for and an expiry, with an HMAC under a key every front derives from the
// same signing keys, so any front takes the report and nobody can report
// for a logout whose page they were not given.

// FrontchannelReportPath receives the page's reports.
const FrontchannelReportPath = "/connect/endsession/frontchannel"

// ChannelFrontchannel is the channel of front-channel deliveries in the
// ledger.
const ChannelFrontchannel = "frontchannel"

// Report statuses, the form value s.
const (
	reportLoaded  = "loaded"
	reportTimeout = "timeout"
)

// reportGrace is how long after its time limit a page may still report.
const reportGrace = 5 * time.Minute

// fcTarget is one front-channel delivery: a client in one logout.
type fcTarget struct {
	LogoutID string
	SID      string
	ClientID string
}

// reportClaims is what a report token says.
type reportClaims struct {
	Expiry  int64       `json:"x"`
	Targets [][3]string `json:"d"` // logout id, sid, client id
}

// reportToken returns the report token of an iframe that stands for
// targets, valid until exp.
func (h *handler) reportToken(targets []fcTarget, exp time.Time) string {
	c := reportClaims{Expiry: exp.Unix()}
	for _, t := range targets {
		c.Targets = append(c.Targets, [3]string{t.LogoutID, t.SID, t.ClientID})
	}
	payload, _ := json.Marshal(c) // strings and an int always marshal
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + h.reportMAC(p)
}

func (h *handler) reportMAC(payload string) string {
	m := hmac.New(sha256.New, h.FrontchannelKey)
	m.Write([]byte("signoff frontchannel report\x00" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Errors of a report token.
var (
	errReportToken   = errors.New("the report token is not one this server issued")
	errReportExpired = errors.New("the report token has expired")
)

// parseReportToken checks a report token and returns its targets.
func (h *handler) parseReportToken(tok string, now time.Time) ([]fcTarget, error) {
	p, mac, ok := strings.Cut(tok, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(h.reportMAC(p))) {
		return nil, errReportToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, errReportToken
	}
	var c reportClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errReportToken
	}
	if now.Unix() > c.Expiry {
		return nil, errReportExpired
	}
	targets := make([]fcTarget, len(c.Targets))
	for i, t := range c.Targets {
		targets[i] = fcTarget{LogoutID: t[0], SID: t[1], ClientID: t[2]}
	}
	return targets, nil
}

// recordPending records every front-channel delivery of the page as
// pending, one batch per logout, before the page is served: a report can
// only come after it, so it is the later record. The ledger is what the
// person's browser will tell: a failure to record is logged, and the page
// served all the same.
func (h *handler) recordPending(c *gin.Context, frames []fcFrame) {
	var order []string
	batches := map[string]*event.DeliveryBatch{}
	now := h.Now().UTC()
	for _, f := range frames {
		for _, t := range f.Targets {
			b := batches[t.LogoutID]
			if b == nil {
				b = &event.DeliveryBatch{LogoutID: t.LogoutID, SID: t.SID, Channel: ChannelFrontchannel, Time: now}
				batches[t.LogoutID] = b
				order = append(order, t.LogoutID)
			}
			b.Deliveries = append(b.Deliveries, event.BatchDelivery{ClientID: t.ClientID, Status: event.StatusPending})
		}
	}
	for _, id := range order {
		if err := h.Sessions.RecordBatch(c.Request.Context(), batches[id], 1); err != nil {
			h.Logger.Warn("recording front-channel deliveries", "request_id", reqID(c), "logout_id", id, "err", err)
			continue
		}
		for _, d := range batches[id].Deliveries {
			h.countDelivery(d.ClientID, d.Status)
		}
	}
}

// countDelivery adds a front-channel delivery's status to the metrics.
func (h *handler) countDelivery(clientID string, st event.Status) {
	if h.Deliveries != nil {
		h.Deliveries.WithLabelValues(ChannelFrontchannel, clientID, string(st)).Inc()
	}
}

// frontchannelReport takes a page's report of one iframe: s=loaded or
// s=timeout, r=its report token. It answers 204 once the deliveries'
// progress is stored, and a problem for anything else.
func (h *handler) frontchannelReport(c *gin.Context) {
	status := c.PostForm("s")
	if status != reportLoaded && status != reportTimeout {
		problem(c, http.StatusBadRequest, "invalid_request", `s must be "loaded" or "timeout"`)
		return
	}
	targets, err := h.parseReportToken(c.PostForm("r"), h.Now())
	if err != nil {
		problem(c, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	for _, t := range targets {
		d := &event.Delivery{LogoutID: t.LogoutID, SID: t.SID, ClientID: t.ClientID, Channel: ChannelFrontchannel,
			Status: event.StatusDelivered, Attempts: 1, Time: h.Now().UTC()}
		if status == reportTimeout {
			d.Status = event.StatusFailed
			d.LastError = fmt.Sprintf("the browser had not loaded the front-channel logout URI after %s", h.Config.Logout.FrontchannelTimeout)
		}
		if err := h.Sessions.Record(c.Request.Context(), d); err != nil {
			h.Logger.Error("recording a front-channel delivery", "request_id", reqID(c), "logout_id", t.LogoutID,
				"client_id", t.ClientID, "err", err)
			problem(c, http.StatusServiceUnavailable, "temporarily_unavailable", "the report could not be stored")
			return
		}
		h.countDelivery(t.ClientID, d.Status)
		h.Logger.Info("front-channel delivery reported", "request_id", reqID(c), "logout_id", t.LogoutID,
			"sid", t.SID, "client_id", t.ClientID, "status", d.Status)
	}
	c.Status(http.StatusNoContent)
}
