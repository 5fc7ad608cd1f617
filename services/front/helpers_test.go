package front_test

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/shared/event"
)

func jetstreamFilter() jetstream.OrderedConsumerConfig {
	return jetstream.OrderedConsumerConfig{FilterSubjects: []string{event.SubjectSessionEnded}}
}

func jetstreamWait() jetstream.FetchOpt { return jetstream.FetchMaxWait(5 * time.Second) }
