package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/signoff/signoff/shared/keys"
)

// macKeys sign the values a front hands out and takes back from any front
// (the CSRF token, the front-channel report token): one secret per signing
// key, derived from it (keys.Set.DeriveSecrets), the first one signing. A
// MAC names its secret's kid, so a front verifies it with whichever of its
// keys made it: during a key rotation, fronts with different key sets
// still take each other's tokens.
type macKeys []keys.Secret

// sign returns "<kid>.<mac>" for msg in domain.
func (m macKeys) sign(domain, msg string) string {
	if len(m) == 0 {
		return ""
	}
	return m[0].KID + "." + mac(m[0].Key, domain, msg)
}

// verify reports whether tok is sign(domain, msg) under one of the keys.
func (m macKeys) verify(domain, msg, tok string) bool {
	i := strings.LastIndexByte(tok, '.') // a kid may have dots; a base64url MAC has none
	if i < 0 {
		return false
	}
	kid, got := tok[:i], tok[i+1:]
	for _, s := range m {
		if s.KID == kid {
			return hmac.Equal([]byte(got), []byte(mac(s.Key, domain, msg)))
		}
	}
	return false
}

func mac(key []byte, domain, msg string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(domain + "\x00" + msg))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
