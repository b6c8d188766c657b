//! The proxy's client side: a pooled HTTP/1.1 client that speaks TLS to
//! upstreams, trusting the public roots plus the bottle's
//! `trust_upstream_ca` files.
//!
//! It connects only to public addresses, except for the hosts whose route
//! has `allow_private_addresses`: the resolver drops the other addresses
//! (so DNS rebinding between the policy check and the connection changes
//! nothing), and the connector checks the address it actually connected
//! to, on every new connection. Test overrides go through the same checks.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::combinators::BoxBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::net::TcpStream;

use super::address;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Body = BoxBody<Bytes, BoxError>;
pub(crate) type Upstream = Client<HttpsConnector<Guarded>, Body>;

/// Names that resolve to a fixed address (the port too): lets tests point a
/// route at a local server. Empty in the sidecar.
pub(crate) type Overrides = Arc<HashMap<String, SocketAddr>>;

/// The hosts whose routes may reach non-public addresses.
pub(crate) type PrivateHosts = Arc<HashSet<String>>;

/// Idle upstream connections kept per host: as many as a busy agent keeps
/// requests in flight to one API. Fewer, and under load the pool closes
/// connections only to open new ones (a DNS lookup, a TCP and a TLS
/// handshake on the request's path: seen as the proxy's p99 at 32
/// connections with 16). Each idle one costs a few tens of KiB and closes
/// after the pool's idle timeout.
const POOL_IDLE_PER_HOST: usize = 64;

/// A connection refused because its address is not public.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {addr}, a non-public address ({class})")]
pub(crate) struct Blocked {
    pub(crate) host: String,
    pub(crate) addr: IpAddr,
    pub(crate) class: &'static str,
}

/// The `Blocked` behind a client error, if that is why it failed.
pub(crate) fn blocked<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Blocked> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(b) = err.downcast_ref::<Blocked>() {
            return Some(b);
        }
        if let Some(b) = err
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<Blocked>())
        {
            return Some(b);
        }
        current = err.source();
    }
    None
}

/// An upstream CA file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The file could not be read, or not as PEM.
    #[error("{path}: {source}")]
    Pem {
        /// The file.
        path: String,
        /// Why not.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The file holds no certificate.
    #[error("{path}: no certificate in it")]
    Empty {
        /// The file.
        path: String,
    },
    /// rustls refused a certificate of the file, or (`path` "tls") its
    /// own protocol versions.
    #[error("{path}: {source}")]
    Tls {
        /// The file, or "tls".
        path: String,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
}

pub(crate) fn client(
    trust_files: &[String],
    overrides: Overrides,
    private: PrivateHosts,
) -> Result<Upstream, TrustError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for path in trust_files {
        let pem = |source| TrustError::Pem {
            path: path.clone(),
            source,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(pem)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem)?;
        if certs.is_empty() {
            return Err(TrustError::Empty { path: path.clone() });
        }
        for cert in certs {
            roots.add(cert).map_err(|source| TrustError::Tls {
                path: path.clone(),
                source,
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TrustError::Tls {
            path: "tls".into(),
            source,
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new_with_resolver(Resolver {
        overrides,
        private: Arc::clone(&private),
    });
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(30)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(Guarded { http, private });
    Ok(Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
        .build(https))
}

/// The TCP connector, refusing a connection whose peer is not public
/// (unless its host may be private).
#[derive(Debug, Clone)]
pub(crate) struct Guarded {
    http: HttpConnector<Resolver>,
    private: PrivateHosts,
}

impl tower_service::Service<Uri> for Guarded {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let may_be_private = self.private.contains(&host);
        let connecting = self.http.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            if !may_be_private {
                let addr = io.inner().peer_addr()?.ip();
                if let Some(class) = address::non_public(addr) {
                    return Err(Box::new(Blocked { host, addr, class }) as BoxError);
                }
            }
            Ok(io)
        })
    }
}

/// System DNS, after the overrides; only public addresses, unless the host
/// may be private.
#[derive(Debug, Clone)]
pub(crate) struct Resolver {
    overrides: Overrides,
    private: PrivateHosts,
}

type Addrs = std::vec::IntoIter<SocketAddr>;

impl tower_service::Service<Name> for Resolver {
    type Response = Addrs;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Addrs>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = name.as_str().to_ascii_lowercase();
        let fixed = self.overrides.get(&host).copied();
        let may_be_private = self.private.contains(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match fixed {
                Some(addr) => vec![addr],
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            if may_be_private {
                return Ok(addrs.into_iter());
            }
            let public: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| address::non_public(a.ip()).is_none())
                .collect();
            match (public.is_empty(), addrs.first()) {
                (true, Some(first)) => Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    Blocked {
                        host,
                        addr: first.ip(),
                        class: address::non_public(first.ip()).unwrap_or("not public"),
                    },
                )),
                _ => Ok(public.into_iter()),
            }
        })
    }
}
