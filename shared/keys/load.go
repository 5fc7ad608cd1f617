package keys

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"

	"github.com/MicahParks/jwkset"

	"github.com/signoff/signoff/shared/config"
)

// Load reads the signing keys of cfg and returns them as a Set.
//
// Every file in cfg.Files is read in order. A file is either PEM, with one
// or more private keys (PKCS#1 "RSA PRIVATE KEY", PKCS#8 "PRIVATE KEY" or
// SEC1 "EC PRIVATE KEY"; "EC PARAMETERS" blocks are skipped), or JSON, with
// one private JWK or a JWK Set of them. A PEM key's algorithm follows from
// its type (RSA: RS256, P-256: ES256, Ed25519: EdDSA); a JWK's alg and kid
// are used when present. A missing kid is the RFC 7638 thumbprint.
//
// algs lists the algorithms that must be able to sign (the clients'
// id_token_signed_response_alg; "" means DefaultAlgorithm). For each one
// without a key, Load uses the key kept in cfg.GenerateDir, generating it on
// first start (see GeneratedKeyPath); without a GenerateDir that is an error
// wrapping ErrNoKey. logger may be nil.
func Load(cfg config.Keys, algs []string, logger *slog.Logger) (*Set, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	needed, err := neededAlgs(algs)
	if err != nil {
		return nil, err
	}
	var keys []*Key
	for _, path := range cfg.Files {
		ks, err := loadFile(path)
		if err != nil {
			return nil, fmt.Errorf("loading key file %s: %w", path, err)
		}
		warnIfExposed(logger, path)
		for _, k := range ks {
			logger.Info("loaded signing key", "kid", k.KID, "alg", k.Alg, "path", path)
		}
		keys = append(keys, ks...)
	}
	for _, alg := range needed {
		if slices.ContainsFunc(keys, func(k *Key) bool { return k.Alg == alg }) {
			continue
		}
		if cfg.GenerateDir == "" {
			return nil, fmt.Errorf("%w for %s (needed by a client's id_token_signed_response_alg)", ErrNoKey, alg)
		}
		k, err := loadOrGenerate(cfg.GenerateDir, alg, logger)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: set keys.files or keys.generate_dir", ErrNoKey)
	}
	return newSet(keys)
}

// neededAlgs validates algs, maps "" to DefaultAlgorithm and drops
// duplicates.
func neededAlgs(algs []string) ([]string, error) {
	out := make([]string, 0, numAlgs)
	for _, alg := range algs {
		if alg == "" {
			alg = DefaultAlgorithm
		}
		if algIndex(alg) < 0 {
			return nil, fmt.Errorf("%w %q: signoff signs with RS256, ES256 or EdDSA", ErrUnsupportedAlgorithm, alg)
		}
		if !slices.Contains(out, alg) {
			out = append(out, alg)
		}
	}
	return out, nil
}

// loadFile reads the private keys in one PEM or JSON file, in file order.
func loadFile(path string) ([]*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		return parseJWKFile(trimmed)
	}
	return parsePEM(data)
}

// parsePEM parses every private key block of a PEM file.
func parsePEM(data []byte) ([]*Key, error) {
	var keys []*Key
	for n := 1; ; n++ {
		block, rest := pem.Decode(data)
		if block == nil {
			break
		}
		data = rest
		if block.Type == "EC PARAMETERS" {
			continue
		}
		priv, err := parsePEMBlock(block)
		if err != nil {
			return nil, fmt.Errorf("parsing PEM block %d: %w", n, err)
		}
		k, err := newKey(priv, "", "")
		if err != nil {
			return nil, fmt.Errorf("using PEM block %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no PEM private key and no JWK found", ErrInvalidKey)
	}
	return keys, nil
}

// parsePEMBlock decodes one PEM private key.
func parsePEMBlock(block *pem.Block) (crypto.Signer, error) {
	if _, ok := block.Headers["Proc-Type"]; ok || block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, fmt.Errorf("%w: encrypted PEM keys are not supported", ErrInvalidKey)
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: PEM block %q is not a private key", ErrInvalidKey, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidKey, block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T cannot sign", ErrInvalidKey, key)
	}
	return signer, nil
}

// parseJWKFile parses a private JWK or a JWK Set of private JWKs.
func parseJWKFile(data []byte) ([]*Key, error) {
	var probe struct {
		Keys json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: decoding JWK JSON: %w", ErrInvalidKey, err)
	}
	var marshals []jwkset.JWKMarshal
	if probe.Keys != nil {
		var set jwkset.JWKSMarshal
		if err := json.Unmarshal(data, &set); err != nil {
			return nil, fmt.Errorf("%w: decoding JWK Set: %w", ErrInvalidKey, err)
		}
		marshals = set.Keys
	} else {
		var m jwkset.JWKMarshal
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%w: decoding JWK: %w", ErrInvalidKey, err)
		}
		marshals = []jwkset.JWKMarshal{m}
	}
	if len(marshals) == 0 {
		return nil, fmt.Errorf("%w: the JWK Set has no keys", ErrInvalidKey)
	}
	keys := make([]*Key, 0, len(marshals))
	for i, m := range marshals {
		k, err := keyFromJWK(m)
		if err != nil {
			return nil, fmt.Errorf("using JWK %d (kid %q): %w", i, m.KID, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// keyFromJWK turns a private JWK into a Key, keeping its kid and alg.
func keyFromJWK(m jwkset.JWKMarshal) (*Key, error) {
	if m.USE != "" && m.USE != jwkset.UseSig {
		return nil, fmt.Errorf("%w: use is %q, a signing key needs \"sig\" or none", ErrInvalidKey, m.USE)
	}
	if m.D == "" {
		return nil, fmt.Errorf("%w: the JWK has no private key (d)", ErrInvalidKey)
	}
	j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: true}, jwkset.JWKValidateOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	// jwkset quietly returns the public key of an RSA JWK that lacks any
	// of its CRT members, and a []byte for "oct": neither can sign.
	priv, ok := j.Key().(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: no usable private key (an RSA JWK needs d, p, q, dp, dq and qi)", ErrInvalidKey)
	}
	return newKey(priv, m.KID, string(m.ALG))
}

// warnIfExposed logs a warning when a key file can be read by other users.
func warnIfExposed(logger *slog.Logger, path string) {
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("signing key file is accessible to other users; chmod 600 it",
			"path", path, "mode", fi.Mode().Perm().String())
	}
}
