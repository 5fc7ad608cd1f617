// Package config defines signoff's configuration: one YAML file, overridden
// key by key by SIGNOFF_* environment variables, validated as a whole before
// any service starts. Key names follow signoff's public contract and the
// OIDC client registration metadata names.
//
// # Layers
//
// [Load] builds a [Config] in this order, each layer overriding the one
// before it (Nomad's DefaultConfig().Merge):
//
//  1. [Default];
//  2. the YAML file, if a path is given. Unknown keys are an error that names
//     the key and its line, so a typo never silently falls back to a default;
//  3. SIGNOFF_* environment variables, one per scalar key (see below);
//  4. command-line flags, which the caller applies to the returned Config and
//     then checks with [Config.Validate] again.
//
// The file path itself comes from the caller: the -config flag or the
// SIGNOFF_CONFIG variable ([EnvConfigFile]).
//
// # Environment variables
//
// Every key that holds a scalar has a variable named SIGNOFF_ followed by the
// key's YAML path, joined by "_" and upper-cased: issuer is SIGNOFF_ISSUER,
// nats.url is SIGNOFF_NATS_URL, id_token_hint.jwks_uri is
// SIGNOFF_ID_TOKEN_HINT_JWKS_URI. [EnvKeys] lists them all. Values are parsed
// like this:
//
//   - strings are taken as they are;
//   - booleans with strconv.ParseBool (true, false, 1, 0, ...);
//   - integers in decimal;
//   - durations with time.ParseDuration ("2s", "168h");
//   - lists as comma-separated values, blanks around each item trimmed
//     (SIGNOFF_LOGOUT_PATHS=/oauth2/logout,/logout).
//
// An empty variable counts as unset: the environment cannot clear a key that
// the file set. The clients list is only configurable in the file.
//
// # Durations
//
// Durations in the YAML file are strings in Go syntax: wait: 2s,
// retention: 24h. A bare number is rejected rather than read as nanoseconds.
//
// # URL policy
//
// Every configured URL is absolute and has no fragment (FCL-3, BCL-3). URLs
// use https, except on loopback hosts (localhost, 127.0.0.0/8, [::1]) or when
// allow_insecure_http is true (RIL-33, FCL-5, BCL-3); that key does not
// apply to the logout URIs of a public client (token_endpoint_auth_method
// none), which the specs allow http only for confidential ones. redirect_uris and
// post_logout_redirect_uris may also use a private-use scheme of a native
// app, written as a reverse domain name such as com.example.app (RIL-33,
// RFC 8252 §7.1). A client's frontchannel_logout_uri shares scheme, host and
// port with one of its redirect_uris when it registers any (FCL-4).
//
// # Post-logout redirects
//
// A post_logout_redirect_uri is honoured only when it equals one of the
// client's registered URIs character for character
// ([Client.HasPostLogoutRedirectURI], RIL-22). With logout.client_id_redirect
// (default true), a client_id without id_token_hint may carry such a URI,
// after the person confirms the logout: this is the "other way to confirm
// the target" that RIL-23 allows.
package config
