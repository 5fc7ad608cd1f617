module github.com/signoff/signoff/services/demo

go 1.26.0

require (
	github.com/MicahParks/jwkset v0.11.3
	github.com/MicahParks/keyfunc/v3 v3.9.0
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/signoff/signoff/shared v0.0.0
	github.com/stretchr/testify v1.12.1
	golang.org/x/sync v0.22.0
	golang.org/x/time v0.16.0
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
)

require (
	github.com/chromedp/chromedp v0.23.0
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)

replace github.com/signoff/signoff/shared => ../../shared
