//! An upstream's answer on its way back to the agent.
//!
//! An upstream that reflects requests (an echo endpoint, an error page that
//! quotes headers, a redirect that carries them) would hand the agent the
//! credential the proxy added. So when the bottle has secrets of its own,
//! every answer is scanned for them: headers first (a hit answers 502
//! instead), then the body as it streams (a hit cuts it off before the
//! bytes that carry it). A compressed body is decoded to be scanned, and
//! passed on decoded; one in an encoding the proxy cannot decode is cut
//! off. The upstream's reason phrase and trailers are dropped, unscanned.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName};
use http::{Extensions, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};

use super::decisions::Decision;
use super::decode::{self, StreamDecoder};
use super::dlp::Scanner;
use super::forward::{self, Active, Env, strip_hop_by_hop};
use super::scan_body::{Look, Scanned};
use super::upstream::{Body, BoxError};

/// The upstream's answer on its way to the agent: logged, and scanned for
/// the bottle's own secrets when it has any (see the module's doc).
pub(crate) fn pass(
    active: &Arc<Active>,
    env: &Arc<Env>,
    method: &str,
    url: &str,
    resp: Response<Incoming>,
) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    // The reason phrase hyper keeps here would be sent on unscanned.
    parts.extensions = Extensions::new();
    let status = parts.status.as_u16();
    if !active.dlp.has_own() {
        env.log.record(&Decision {
            status: Some(status),
            ..Decision::new("allow", method, url)
        });
        return Response::from_parts(parts, body.map_err(|e| Box::new(e) as BoxError).boxed());
    }
    let reflected = parts.headers.iter().any(|(name, value)| {
        active.dlp.scan_own(name.as_str().as_bytes()).is_some()
            || active.dlp.scan_own(value.as_bytes()).is_some()
    });
    if reflected {
        return cut(
            env,
            method,
            url,
            "the answer's headers carry the credential the proxy adds (an upstream that reflects requests)",
        );
    }
    let bodiless = method == "HEAD"
        || parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED
        || body.is_end_stream();
    let decoder = if bodiless {
        None
    } else {
        match decoder(&mut parts.headers) {
            Ok(decoder) => decoder,
            Err(why) => return cut(env, method, url, &why),
        }
    };
    env.log.record(&Decision {
        status: Some(status),
        ..Decision::new("allow", method, url)
    });
    Response::from_parts(parts, scanned(active, env, method, url, body, decoder))
}

/// The decoder a body in the coding `headers` name needs to be scanned,
/// if any: the headers that described the encoded bytes are removed, as
/// it is passed on decoded. Err is why the proxy cannot scan it.
fn decoder(headers: &mut HeaderMap) -> Result<Option<StreamDecoder>, String> {
    let Some(coding) = decode::coding(headers)
        .map_err(|what| format!("the answer is in {what}, which the proxy cannot scan"))?
    else {
        return Ok(None);
    };
    let Some(decoder) = StreamDecoder::new(coding) else {
        return Err(format!(
            "the answer is {}-encoded, which the proxy cannot scan as it streams",
            coding.name()
        ));
    };
    for name in [header::CONTENT_ENCODING, header::CONTENT_LENGTH] {
        headers.remove(name);
    }
    headers.remove(HeaderName::from_static("content-md5"));
    Ok(Some(decoder))
}

/// The body scanned for the bottle's own secrets as it streams (decoded
/// first by `decoder`); a hit cuts it off and is logged.
fn scanned(
    active: &Arc<Active>,
    env: &Arc<Env>,
    method: &str,
    url: &str,
    body: Incoming,
    decoder: Option<StreamDecoder>,
) -> Body {
    let env = Arc::clone(env);
    let (method, url) = (method.to_owned(), url.to_owned());
    let scanner: Arc<dyn AsRef<Scanner> + Send + Sync> = Arc::clone(active) as _;
    let mut scanned = Scanned::new(
        body,
        scanner,
        Look::Own,
        active.own_holdback,
        Box::new(move |kind| {
            env.log.record(&Decision {
                status: Some(502),
                ..Decision::new("deny", &method, &url).because(&format!(
                    "the answer's body carried the credential the proxy adds ({kind}); cut off before it"
                ))
            });
        }),
    );
    if let Some(d) = decoder {
        scanned = scanned.decoded(d);
    }
    scanned.boxed()
}

/// Answers 502 instead of the upstream's answer, and logs why.
fn cut(env: &Env, method: &str, url: &str, why: &str) -> Response<Body> {
    env.log.record(&Decision {
        status: Some(502),
        ..Decision::new("deny", method, url).because(why)
    });
    forward::text(
        StatusCode::BAD_GATEWAY,
        &format!(
            "bot-bottle egress cut off the answer to {}: {why}. Nothing of it was passed on.\n",
            url.split('?').next().unwrap_or(url)
        ),
    )
}
