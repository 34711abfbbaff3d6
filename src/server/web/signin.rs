//! Who is asking: the preamble of every `/ui` handler that needs a signed-in reader, as two
//! axum extractors. A [`Reader`] argument is the request's live session, else the answer is
//! the sign-in page (`401`). A [`Signed`] form (every POST) is that and a form carrying this
//! session's CSRF token, else the CSRF page (`403`) — answered before the handler runs, so a
//! form without the token changes nothing. A form that does not parse is refused first, as
//! axum's `Form` refuses it.

use std::sync::Arc;

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::session::{self, Session};
use super::{message, sign_in_first, WebState};
use crate::server::app::messages;

/// The signed-in reader of a request: the session's id and the session.
pub(super) struct Reader {
    pub(super) id: String,
    pub(super) s: Session,
}

impl WebState {
    /// The reader whose live session the request's cookie names, if any.
    fn reader(&self, headers: &HeaderMap) -> Option<Reader> {
        let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
        let c = session::cookie(cookies, session::COOKIE)?;
        self.sessions.get(c).map(|(id, s)| Reader { id, s })
    }
}

impl FromRequestParts<Arc<WebState>> for Reader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &Arc<WebState>) -> Result<Self, Response> {
        st.reader(&parts.headers).ok_or_else(sign_in_first)
    }
}

/// A form that carries the session's CSRF token (the `csrf` field every form of the web view
/// has).
pub(super) trait CarriesCsrf {
    fn csrf(&self) -> Option<&str>;
}

/// A form with nothing but the token (sign out, requeue).
#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: Option<String>,
}

impl CarriesCsrf for CsrfForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// A form `F` posted by a signed-in reader with this session's CSRF token.
pub(super) struct Signed<F>(pub(super) Reader, pub(super) F);

impl<F> FromRequest<Arc<WebState>> for Signed<F>
where
    F: DeserializeOwned + CarriesCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, st: &Arc<WebState>) -> Result<Self, Response> {
        let r = st.reader(req.headers());
        let Form(form) = Form::<F>::from_request(req, st)
            .await
            .map_err(IntoResponse::into_response)?;
        let r = r.ok_or_else(sign_in_first)?;
        if !form.csrf().is_some_and(|t| session::same(t, &r.s.csrf)) {
            return Err(message(
                StatusCode::FORBIDDEN,
                st.frame(&r).await,
                messages::WEB_CSRF_TITLE,
                messages::WEB_CSRF,
                false,
            ));
        }
        Ok(Signed(r, form))
    }
}
