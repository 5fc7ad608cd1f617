package pages

import (
	"strings"

	"golang.org/x/text/language"
)

// Languages the pages are written in, English first (the fallback).
var supported = []language.Tag{language.English, language.German, language.French}

var matcher = language.NewMatcher(supported)

// Lang picks the page language from ui_locales (a space-separated list of
// BCP47 tags in order of preference, RP-Initiated Logout 1.0 §2), then from
// the Accept-Language header. Unsupported or malformed values are ignored,
// never an error (spec RIL-6).
func Lang(uiLocales, acceptLanguage string) string {
	var prefs []language.Tag
	for _, f := range strings.Fields(uiLocales) {
		if t, err := language.Parse(f); err == nil {
			prefs = append(prefs, t)
		}
	}
	if tags, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil {
		prefs = append(prefs, tags...)
	}
	if len(prefs) == 0 {
		return "en"
	}
	_, i, conf := matcher.Match(prefs...)
	if conf == language.No {
		return "en"
	}
	base, _ := supported[i].Base()
	return base.String()
}

// messages holds every text of the pages, by language then key.
var messages = map[string]map[string]string{
	"en": {
		"confirm.title":     "Sign out?",
		"confirm.lead":      "Do you want to sign out?",
		"confirm.from":      "%s asked to sign you out.",
		"confirm.suspect":   "This request may not come from you, or it names another session than the one in this browser.",
		"confirm.yes":       "Yes, sign me out",
		"confirm.no":        "No, stay signed in",
		"signedout.title":   "You are signed out",
		"signedout.lead":    "You have been signed out.",
		"signedout.apps":    "You were signed out of these applications:",
		"signedout.pending": "Still signing you out of these applications:",
		"signedout.close":   "You can close this window.",
		"stay.title":        "You are still signed in",
		"stay.lead":         "Nothing was changed. You are still signed in.",
		"error.title":       "Sign-out request not accepted",
		"error.lead":        "The sign-out request could not be processed:",
		"error.hint":        "Go back to the application and try again. If this keeps happening, tell the application's operators.",
		"unavailable.title": "Sign-out is unavailable",
		"unavailable.lead":  "Signing out is temporarily unavailable. Nothing was changed. Please try again in a moment.",
		"fc.title":          "Signing you out",
		"fc.lead":           "Signing you out of your applications…",
		"fc.continue":       "Continue",
		"fc.late":           "These applications did not confirm the sign-out in time, so you may still be signed in to them. To be sure, close your browser:",
	},
	"de": {
		"confirm.title":     "Abmelden?",
		"confirm.lead":      "Möchten Sie sich abmelden?",
		"confirm.from":      "%s möchte Sie abmelden.",
		"confirm.suspect":   "Diese Anfrage stammt möglicherweise nicht von Ihnen oder nennt eine andere Sitzung als die in diesem Browser.",
		"confirm.yes":       "Ja, abmelden",
		"confirm.no":        "Nein, angemeldet bleiben",
		"signedout.title":   "Sie sind abgemeldet",
		"signedout.lead":    "Sie wurden abgemeldet.",
		"signedout.apps":    "Sie wurden von diesen Anwendungen abgemeldet:",
		"signedout.pending": "Die Abmeldung von diesen Anwendungen läuft noch:",
		"signedout.close":   "Sie können dieses Fenster schließen.",
		"stay.title":        "Sie sind weiterhin angemeldet",
		"stay.lead":         "Es wurde nichts geändert. Sie sind weiterhin angemeldet.",
		"error.title":       "Abmeldeanfrage nicht angenommen",
		"error.lead":        "Die Abmeldeanfrage konnte nicht verarbeitet werden:",
		"error.hint":        "Kehren Sie zur Anwendung zurück und versuchen Sie es erneut. Wenn das wieder passiert, wenden Sie sich an die Betreiber der Anwendung.",
		"unavailable.title": "Abmeldung nicht verfügbar",
		"unavailable.lead":  "Die Abmeldung ist vorübergehend nicht verfügbar. Es wurde nichts geändert. Bitte versuchen Sie es gleich noch einmal.",
		"fc.title":          "Abmeldung läuft",
		"fc.lead":           "Sie werden von Ihren Anwendungen abgemeldet…",
		"fc.continue":       "Weiter",
		"fc.late":           "Diese Anwendungen haben die Abmeldung nicht rechtzeitig bestätigt; Sie sind dort vielleicht noch angemeldet. Schließen Sie Ihren Browser, um sicherzugehen:",
	},
	"fr": {
		"confirm.title":     "Se déconnecter ?",
		"confirm.lead":      "Voulez-vous vous déconnecter ?",
		"confirm.from":      "%s demande à vous déconnecter.",
		"confirm.suspect":   "Cette demande ne vient peut-être pas de vous, ou elle désigne une autre session que celle de ce navigateur.",
		"confirm.yes":       "Oui, me déconnecter",
		"confirm.no":        "Non, rester connecté",
		"signedout.title":   "Vous êtes déconnecté",
		"signedout.lead":    "Vous avez été déconnecté.",
		"signedout.apps":    "Vous avez été déconnecté de ces applications :",
		"signedout.pending": "Déconnexion en cours de ces applications :",
		"signedout.close":   "Vous pouvez fermer cette fenêtre.",
		"stay.title":        "Vous êtes toujours connecté",
		"stay.lead":         "Rien n’a été modifié. Vous êtes toujours connecté.",
		"error.title":       "Demande de déconnexion refusée",
		"error.lead":        "La demande de déconnexion n’a pas pu être traitée :",
		"error.hint":        "Revenez à l’application et réessayez. Si le problème persiste, prévenez les responsables de l’application.",
		"unavailable.title": "Déconnexion indisponible",
		"unavailable.lead":  "La déconnexion est momentanément indisponible. Rien n’a été modifié. Réessayez dans un instant.",
		"fc.title":          "Déconnexion en cours",
		"fc.lead":           "Déconnexion de vos applications…",
		"fc.continue":       "Continuer",
		"fc.late":           "Ces applications n'ont pas confirmé la déconnexion à temps ; vous y êtes peut-être encore connecté. Pour en être sûr, fermez votre navigateur :",
	},
}

// T returns the text for key in lang, falling back to English.
func T(lang, key string) string {
	if s, ok := messages[lang][key]; ok {
		return s
	}
	return messages["en"][key]
}
