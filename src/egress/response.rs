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
//!
//! The answer to a model API is also metered as it passes (see `usage`):
//! the token usage it reports is added to the bottle's totals when it
//! ends, without a byte of it held back or changed.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::{Extensions, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};

use super::decisions::Decision;
use super::decode::{self, StreamDecoder};
use super::dlp::Scanner;
use super::forward::{self, Active, Env, strip_hop_by_hop};
use super::scan_body::{Look, Scanned};
use super::upstream::{Body, BoxError};
use super::usage::{Meter, Tally};

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
        // Passed on as it came, encoded or not: the meter decodes a copy.
        let meter =
            meter(method, url, &parts).and_then(|meter| match decode::coding(&parts.headers) {
                Ok(None) => Some((meter, None)),
                Ok(Some(coding)) => StreamDecoder::new(coding).map(|d| (meter, Some(d))),
                Err(_) => None,
            });
        let body = body.map_err(|e| Box::new(e) as BoxError).boxed();
        return Response::from_parts(parts, metered(env, meter, body));
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
    // Metered as the agent gets it: decoded when it is scanned decoded.
    let meter = meter(method, url, &parts).map(|meter| (meter, None));
    let body = scanned(active, env, method, url, body, decoder);
    Response::from_parts(parts, metered(env, meter, body))
}

/// A meter for the answer, when it is a successful one to a model API's
/// request whose usage is counted (see `usage::Meter`).
fn meter(method: &str, url: &str, parts: &http::response::Parts) -> Option<Meter> {
    if method != "POST" || !parts.status.is_success() {
        return None;
    }
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    Meter::new(path, content_type)
}

/// `body`, read by `meter` (through the decoder, if any) as it passes.
fn metered(env: &Env, meter: Option<(Meter, Option<StreamDecoder>)>, body: Body) -> Body {
    match meter {
        None => body,
        Some((meter, decoder)) => Metered {
            inner: body,
            meter: Some(meter),
            decoder,
            tally: Arc::clone(&env.usage),
        }
        .boxed(),
    }
}

/// A body passed on unchanged while a `Meter` reads it; what it read is
/// added to the tally when it ends, fails or is dropped (cut off).
struct Metered {
    inner: Body,
    meter: Option<Meter>,
    /// Decodes a copy for the meter, when the body is passed on encoded.
    decoder: Option<StreamDecoder>,
    tally: Arc<Tally>,
}

impl Metered {
    fn read(&mut self, mut data: &[u8]) {
        let Some(meter) = &mut self.meter else {
            return;
        };
        let Some(decoder) = &mut self.decoder else {
            meter.feed(data);
            return;
        };
        while !data.is_empty() {
            match decoder.step(data) {
                Ok((taken, out)) => {
                    meter.feed(&out);
                    data = &data[taken..];
                }
                Err(_) => {
                    // Not what it said it is: nothing of it is counted.
                    self.meter = None;
                    return;
                }
            }
        }
    }

    fn end(&mut self) {
        let Some(mut meter) = self.meter.take() else {
            return;
        };
        if let Some(Ok(rest)) = self.decoder.as_mut().map(StreamDecoder::finish) {
            meter.feed(&rest);
        }
        if let Some(usage) = meter.finish() {
            self.tally.record(&usage);
        }
    }
}

impl hyper::body::Body for Metered {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read(data);
                }
            }
            Poll::Ready(Some(Err(_)) | None) => this.end(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        self.end();
    }
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

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::egress::decode::Coding;
    use crate::pieces::Pieces;

    fn metered(
        tally: &Arc<Tally>,
        body: Pieces,
        meter: Meter,
        decoder: Option<StreamDecoder>,
    ) -> Metered {
        Metered {
            inner: body.map_err(|e| match e {}).boxed(),
            meter: Some(meter),
            decoder,
            tally: Arc::clone(tally),
        }
    }

    #[tokio::test]
    async fn an_encoded_body_passes_as_it_came_and_a_decoded_copy_is_metered() {
        let dir = tempfile::tempdir().unwrap();
        let tally = Tally::open(dir.path());
        let json = r#"{"model":"m","usage":{"input_tokens":3,"output_tokens":4}}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(json.as_bytes()).unwrap();
        let encoded = gz.finish().unwrap();
        let meter = Meter::new("/v1/messages", Some("application/json")).unwrap();
        let body = metered(
            &tally,
            Pieces::new(&encoded, 7),
            meter,
            StreamDecoder::new(Coding::Gzip),
        );
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(out.as_ref(), encoded.as_slice());
        let m = tally.totals().models["m"];
        assert_eq!((m.requests, m.input, m.output), (1, 3, 4));
    }

    #[tokio::test]
    async fn a_body_cut_off_counts_what_it_reported() {
        let dir = tempfile::tempdir().unwrap();
        let tally = Tally::open(dir.path());
        let start = concat!(
            "event: message_start\n",
            r#"data: {"type":"message_start","message":{"model":"c","usage":{"input_tokens":5,"output_tokens":1}}}"#,
            "\n\n",
        );
        let meter = Meter::new("/v1/messages", Some("text/event-stream")).unwrap();
        let pieces: Pieces = [
            start.as_bytes().to_vec(),
            b"event: content_block_delta\n".to_vec(),
        ]
        .into_iter()
        .collect();
        let mut body = metered(&tally, pieces, meter, None);
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.as_ref(), start.as_bytes());
        assert!(tally.totals().models.is_empty());
        drop(body);
        let c = tally.totals().models["c"];
        assert_eq!((c.requests, c.input, c.output), (1, 5, 1));
    }
}
