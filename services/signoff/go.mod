module github.com/signoff/signoff/services/signoff

go 1.26.0

require (
	github.com/signoff/signoff/services/front v0.0.0
	github.com/signoff/signoff/shared v0.0.0
)

replace (
	github.com/signoff/signoff/services/front => ../front
	github.com/signoff/signoff/shared => ../../shared
)
