package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/signoff/signoff/shared/keys"
	"github.com/signoff/signoff/shared/service"
)

// runHint prints an ID token signed with signoff's own keys, to try the
// end-session endpoint by hand (dev mode: signoff verifies hints against
// its own keys when id_token_hint has no jwks_uri or jwks_file).
func runHint(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var client, sub, sid string
	var ttl time.Duration
	flags, err := service.ParseTool("signoff hint", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&client, "client", "app1", "client_id the token is issued to (aud)")
		fs.StringVar(&sub, "sub", "alice", "subject")
		fs.StringVar(&sid, "sid", "", "session id (sid claim); empty for none")
		fs.DurationVar(&ttl, "ttl", time.Hour, "lifetime; negative for an expired token")
	})
	if err != nil {
		return err
	}
	cfg, err := service.LoadConfig(flags, getenv)
	if err != nil {
		return err
	}
	if cfg.IDTokenHint.JWKSURI != "" || cfg.IDTokenHint.JWKSFile != "" {
		return fmt.Errorf("this configuration verifies hints with the IdP's keys (id_token_hint.*): mint hints there")
	}
	ks, err := keys.Load(cfg.Keys, cfg.SigningAlgs(), slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	now := time.Now()
	tok, err := ks.IDToken("RS256", cfg.Issuer, client, sub, sid, now, now.Add(ttl))
	if err != nil {
		return fmt.Errorf("minting hint: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
