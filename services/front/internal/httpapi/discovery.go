package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// discoveryDoc is the part of the OpenID Provider metadata that signoff
// serves (OpenID Connect Discovery 1.0 §3; RP-Initiated Logout 1.0 §2.1;
// Front-Channel Logout 1.0 §3; Back-Channel Logout 1.0 §2.1).
type discoveryDoc struct {
	Issuer                             string   `json:"issuer"`
	EndSessionEndpoint                 string   `json:"end_session_endpoint"`
	JWKSURI                            string   `json:"jwks_uri"`
	FrontchannelLogoutSupported        bool     `json:"frontchannel_logout_supported"`
	FrontchannelLogoutSessionSupported bool     `json:"frontchannel_logout_session_supported"`
	BackchannelLogoutSupported         bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported  bool     `json:"backchannel_logout_session_supported"`
	UILocalesSupported                 []string `json:"ui_locales_supported"`
}

func (h *handler) discovery(c *gin.Context) {
	base := h.Config.PublicBaseURL()
	c.Header("Cache-Control", "public, max-age=300")
	c.JSON(http.StatusOK, discoveryDoc{
		Issuer:                             h.Config.Issuer,
		EndSessionEndpoint:                 base + EndSessionPath,
		JWKSURI:                            base + JWKSPath,
		FrontchannelLogoutSupported:        h.Frontchannel,
		FrontchannelLogoutSessionSupported: h.Frontchannel,
		BackchannelLogoutSupported:         h.Backchannel,
		BackchannelLogoutSessionSupported:  h.Backchannel,
		UILocalesSupported:                 []string{"en", "de", "fr"},
	})
}

func (h *handler) jwks(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/jwk-set+json", h.JWKS)
}
