package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// GeneratedKeyPath returns the file in dir that holds the generated key of
// alg, such as dir/signing-es256.pem.
func GeneratedKeyPath(dir, alg string) string {
	return filepath.Join(dir, "signing-"+strings.ToLower(alg)+".pem")
}

// loadOrGenerate returns the key of alg kept in dir, generating and writing
// it first when there is none yet. dir is created with mode 0700 and the key
// is written as PKCS#8 PEM with mode 0600. Two processes that start together
// on the same dir end up with the same key: the file is published with a
// hard link, which fails if the other process published first.
func loadOrGenerate(dir, alg string, logger *slog.Logger) (*Key, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating key directory: %w", err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("key directory is accessible to other users; chmod 700 it",
			"path", dir, "mode", fi.Mode().Perm().String())
	}
	path := GeneratedKeyPath(dir, alg)
	k, err := loadGenerated(path, alg)
	switch {
	case err == nil:
		warnIfExposed(logger, path)
		logger.Info("loaded generated signing key", "kid", k.KID, "alg", alg, "path", path)
		return k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("loading generated key %s: %w", path, err)
	}
	priv, err := generate(alg)
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encoding generated %s key: %w", alg, err)
	}
	err = writeNew(dir, path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if errors.Is(err, fs.ErrExist) {
		// Another process generated it first: use that key.
		if k, err = loadGenerated(path, alg); err != nil {
			return nil, fmt.Errorf("loading generated key %s: %w", path, err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("writing generated key %s: %w", path, err)
	}
	if k, err = newKey(priv, "", ""); err != nil {
		return nil, fmt.Errorf("using generated %s key: %w", alg, err)
	}
	logger.Info("generated signing key", "kid", k.KID, "alg", alg, "path", path)
	return k, nil
}

// loadGenerated reads a generated key file, which must hold exactly one key
// of alg. A missing file gives an error wrapping fs.ErrNotExist.
func loadGenerated(path, alg string) (*Key, error) {
	keys, err := loadFile(path)
	if err != nil {
		return nil, err
	}
	if len(keys) != 1 || keys[0].Alg != alg {
		return nil, fmt.Errorf("%w: expected exactly one %s key in the file", ErrInvalidKey, alg)
	}
	return keys[0], nil
}

// generate returns a new private key for alg.
func generate(alg string) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand.Reader, minRSABits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("%w %q", ErrUnsupportedAlgorithm, alg)
}

// writeNew writes data to path with mode 0600, atomically and only if path
// does not exist yet; otherwise the error wraps fs.ErrExist. It writes a
// temporary file in dir and hard-links it to path.
func writeNew(dir, path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, ".signing-*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("creating temporary file: %w", err)
	}
	defer func() {
		// The key stays reachable through path once linked.
		err = errors.Join(err, os.Remove(tmp.Name()))
	}()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("restricting temporary file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing temporary file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("syncing temporary file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing temporary file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("publishing key file: %w", err)
	}
	return nil
}
