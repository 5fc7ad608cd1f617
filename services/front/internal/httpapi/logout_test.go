package httpapi

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/signoff/signoff/services/front/internal/index"
	"github.com/signoff/signoff/shared/event"
)

func TestSettledFor(t *testing.T) {
	bc := index.Target{ClientID: "app1", Channel: "backchannel"}
	d := func(client, channel string, st event.Status) index.Delivery {
		return index.Delivery{ClientID: client, Channel: channel, Status: st}
	}
	tests := []struct {
		name    string
		ds      []index.Delivery
		targets []index.Target
		want    bool
	}{
		{"settled", []index.Delivery{d("app1", "backchannel", event.StatusDelivered)}, []index.Target{bc}, true},
		{"deferred counts as settled", []index.Delivery{d("app1", "backchannel", event.StatusDeferred)}, []index.Target{bc}, true},
		{"retrying", []index.Delivery{d("app1", "backchannel", event.StatusRetrying)}, []index.Target{bc}, false},
		{"no delivery yet", nil, []index.Target{bc}, false},
		{"another client's", []index.Delivery{d("app2", "backchannel", event.StatusDelivered)}, []index.Target{bc}, false},
		{"channels not waited for do not count", []index.Delivery{
			d("app1", "backchannel", event.StatusDelivered),
			d("app1", "frontchannel", event.StatusPending),
			d("app1", "webhook", event.StatusRetrying),
		}, []index.Target{bc}, true},
		{"every target", []index.Delivery{d("app1", "backchannel", event.StatusDelivered)},
			[]index.Target{bc, {ClientID: "app1", Channel: "webhook"}}, false},
		{"no target", []index.Delivery{d("app1", "backchannel", event.StatusDelivered)}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, settledFor(tc.ds, tc.targets))
		})
	}
}
