package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signoff/signoff/services/front/internal/pages"
	"github.com/signoff/signoff/services/front/internal/sessions"
	"github.com/signoff/signoff/shared/config"
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
// for, the page's time limit and an expiry, with an HMAC under a key every
// front derives from the same signing keys (macKeys), so any front takes
// the report and nobody can report for a logout whose page they were not
// given. It holds logout ids, not sids (a sid may be a live session's
// credential elsewhere). The first record of a delivery wins: a token sent
// again, or a second page for the same logout, changes nothing.

// FrontchannelReportPath receives the page's reports.
const FrontchannelReportPath = "/connect/endsession/frontchannel"

// ChannelFrontchannel is the channel of front-channel deliveries in the
// ledger.
const ChannelFrontchannel = config.ChannelFrontchannel

// Report statuses, the form value s.
const (
	reportLoaded  = "loaded"
	reportTimeout = "timeout"
)

// reportGrace is how long after its time limit a page may still report.
const reportGrace = 5 * time.Minute

// recordPendingFor bounds the wait for the pending records before the page
// is served: the end-session endpoint never waits on front-channel
// deliveries for long.
const recordPendingFor = time.Second

// fcTarget is one front-channel delivery: a client in one logout.
type fcTarget struct {
	LogoutID string
	SID      string
	ClientID string
}

// reportClaims is what a report token says.
type reportClaims struct {
	Expiry  int64       `json:"x"` // Unix seconds
	Timeout int64       `json:"t"` // the page's time limit per iframe, in ms
	Targets [][2]string `json:"d"` // logout id, client id
}

// reportToken returns the report token of an iframe that stands for
// targets on a page whose time limit is timeout, valid until exp.
func (h *handler) reportToken(targets []fcTarget, timeout time.Duration, exp time.Time) string {
	c := reportClaims{Expiry: exp.Unix(), Timeout: timeout.Milliseconds()}
	for _, t := range targets {
		c.Targets = append(c.Targets, [2]string{t.LogoutID, t.ClientID})
	}
	payload, _ := json.Marshal(c) // strings and ints always marshal
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + macKeys(h.FrontchannelKeys).sign(reportDomain, p)
}

// reportDomain separates the report token's MACs from every other MAC.
const reportDomain = "signoff frontchannel report"

// Errors of a report token.
var (
	// errReportToken reports a token that no front issued, or one altered.
	errReportToken = errors.New("httpapi: invalid front-channel report token")
	// errReportExpired reports a token past its expiry.
	errReportExpired = errors.New("httpapi: front-channel report token expired")
)

// parseReportToken checks a report token and returns its targets (without
// sids) and the page's time limit.
func (h *handler) parseReportToken(tok string, now time.Time) ([]fcTarget, time.Duration, error) {
	p, mac, ok := strings.Cut(tok, ".") // a base64url payload has no dot
	if !ok || !macKeys(h.FrontchannelKeys).verify(reportDomain, p, mac) {
		return nil, 0, errReportToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, 0, errReportToken
	}
	var c reportClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, 0, errReportToken
	}
	if now.Unix() > c.Expiry {
		return nil, 0, errReportExpired
	}
	targets := make([]fcTarget, len(c.Targets))
	for i, t := range c.Targets {
		targets[i] = fcTarget{LogoutID: t[0], ClientID: t[1]}
	}
	return targets, time.Duration(c.Timeout) * time.Millisecond, nil
}

// recordPending records every front-channel delivery of the page as
// pending, one batch per logout, before the page is served: a report can
// only come after it, so it is the later record. The ledger is what the
// person's browser will tell: a failure to record (or NATS slower than
// recordPendingFor) is logged, and the page served all the same. A logout
// whose page was served before keeps its first batch.
func (h *handler) recordPending(c *gin.Context, frames []fcFrame) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), recordPendingFor)
	defer cancel()
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
		err := h.Sessions.RecordBatch(ctx, batches[id], 1)
		if errors.Is(err, sessions.ErrAlreadyRecorded) {
			continue
		}
		if err != nil {
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
// progress is stored (or was already: the first report wins), and a
// problem for anything else. A browser sends the page's origin, which must
// be the public URL's.
func (h *handler) frontchannelReport(c *gin.Context) {
	if o := c.GetHeader("Origin"); o != "" && o != pages.Origin(h.Config.PublicBaseURL()) {
		problem(c, http.StatusForbidden, "invalid_request", "reports come from signoff's own pages")
		return
	}
	status := c.PostForm("s")
	if status != reportLoaded && status != reportTimeout {
		problem(c, http.StatusBadRequest, "invalid_request", `s must be "loaded" or "timeout"`)
		return
	}
	targets, timeout, err := h.parseReportToken(c.PostForm("r"), h.Now())
	switch {
	case errors.Is(err, errReportExpired):
		problem(c, http.StatusBadRequest, "invalid_request", "the report token has expired")
		return
	case err != nil:
		problem(c, http.StatusBadRequest, "invalid_request", "the report token is not one signoff issued")
		return
	}
	for _, t := range targets {
		d := &event.Delivery{LogoutID: t.LogoutID, ClientID: t.ClientID, Channel: ChannelFrontchannel,
			Status: event.StatusDelivered, Attempts: 1, Time: h.Now().UTC()}
		if status == reportTimeout {
			d.Status = event.StatusFailed
			d.LastError = fmt.Sprintf("the browser had not loaded the front-channel logout URI after %s", timeout)
		}
		err := h.Sessions.Record(c.Request.Context(), d)
		if errors.Is(err, sessions.ErrAlreadyRecorded) {
			continue
		}
		if err != nil {
			h.Logger.Error("recording a front-channel delivery", "request_id", reqID(c), "logout_id", t.LogoutID,
				"client_id", t.ClientID, "err", err)
			problem(c, http.StatusServiceUnavailable, "temporarily_unavailable", "the report could not be stored")
			return
		}
		h.countDelivery(t.ClientID, d.Status)
		h.Logger.Info("front-channel delivery reported", "request_id", reqID(c), "logout_id", t.LogoutID,
			"client_id", t.ClientID, "status", d.Status)
	}
	c.Status(http.StatusNoContent)
}
