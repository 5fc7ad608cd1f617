package front_test

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/event"
)

func jetstreamFilter() jetstream.OrderedConsumerConfig {
	return jetstream.OrderedConsumerConfig{FilterSubjects: []string{event.SubjectSessionEnded}}
}

func jetstreamWait() jetstream.FetchOpt { return jetstream.FetchMaxWait(5 * time.Second) }

func sbReadFrom(sb *strings.Builder, resp *http.Response) (int64, error) {
	return io.Copy(sb, resp.Body)
}
