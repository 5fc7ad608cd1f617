// Package endsession decides what an OpenID Connect RP-Initiated Logout 1.0
// request asks for and may have: which client it comes from, whether its
// post_logout_redirect_uri is honoured, which sessions end, and whether the
// person must confirm first. It knows nothing of HTTP beyond the request's
// parameters, so every rule of the spec (../shared/spec.md section A) is
// tested as a table.
//
// Choices where the spec leaves room, documented for operators:
//   - A valid id_token_hint ends its session without a question (RIL-18
//     permits skipping it), unless the browser's session cookie names
//     another session (RIL-13). A hint that expired
//     more than an hour ago, or that names only a sub (possibly several
//     devices), asks first.
//   - Without a valid hint the person always confirms (RIL-19).
//   - client_id alone may carry a post_logout_redirect_uri (RIL-23's "other
//     way to confirm the target"): the URI must be registered for that
//     client, exactly, and the person confirms. logout.client_id_redirect:
//     false turns this off.
//   - Which session ends: the hint's sid; else the session cookie (only a
//     session the index knows); a hint with only sub ends that subject's
//     live sessions that the hint's client took part in.
//   - logout_hint is a sid or a sub. One that names neither the session to
//     end nor its subject makes the request suspect: the person confirms.
package endsession
