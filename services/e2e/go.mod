module github.com/signoff/signoff/services/e2e

go 1.26.0

require github.com/signoff/signoff/shared v0.0.0

replace github.com/signoff/signoff/shared => ../../shared
