//! Which requests the gate serves: git's smart HTTP protocol for
//! `/repo.git`, nothing else (no dumb protocol, no other files). Pure.

use http::Method;

use crate::gitgate::REPO;

/// The two git services served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    UploadPack,
    ReceivePack,
}

/// A request the gate serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /repo.git/info/refs?service=…`: the advertisement.
    InfoRefs(Service),
    /// `POST /repo.git/git-…`: the exchange.
    Rpc(Service),
}

/// Why a request is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotFound,
    /// A served path with another method; carries the one allowed.
    Method(&'static str),
}

/// Which route a request takes. Pure.
pub(crate) fn route(method: &Method, path: &str, query: Option<&str>) -> Result<Route, Refusal> {
    let (want, route) = match path.strip_prefix('/').and_then(|p| p.strip_prefix(REPO)) {
        Some("/info/refs") => {
            let service = match query {
                Some("service=git-upload-pack") => Service::UploadPack,
                Some("service=git-receive-pack") => Service::ReceivePack,
                _ => return Err(Refusal::NotFound),
            };
            (Method::GET, Route::InfoRefs(service))
        }
        Some("/git-upload-pack") => (Method::POST, Route::Rpc(Service::UploadPack)),
        Some("/git-receive-pack") => (Method::POST, Route::Rpc(Service::ReceivePack)),
        _ => return Err(Refusal::NotFound),
    };
    if *method != want {
        return Err(Refusal::Method(if want == Method::GET {
            "GET"
        } else {
            "POST"
        }));
    }
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_smart_http_routes_are_served() {
        use Service::*;
        let get = Method::GET;
        let post = Method::POST;
        type Case<'a> = (&'a Method, &'a str, Option<&'a str>, Result<Route, Refusal>);
        let cases: &[Case] = &[
            (
                &get,
                "/repo.git/info/refs",
                Some("service=git-upload-pack"),
                Ok(Route::InfoRefs(UploadPack)),
            ),
            (
                &get,
                "/repo.git/info/refs",
                Some("service=git-receive-pack"),
                Ok(Route::InfoRefs(ReceivePack)),
            ),
            (
                &post,
                "/repo.git/git-upload-pack",
                None,
                Ok(Route::Rpc(UploadPack)),
            ),
            (
                &post,
                "/repo.git/git-receive-pack",
                None,
                Ok(Route::Rpc(ReceivePack)),
            ),
            (
                &get,
                "/repo.git/git-receive-pack",
                None,
                Err(Refusal::Method("POST")),
            ),
            (
                &post,
                "/repo.git/info/refs",
                Some("service=git-upload-pack"),
                Err(Refusal::Method("GET")),
            ),
            (&get, "/repo.git/info/refs", None, Err(Refusal::NotFound)),
            (
                &get,
                "/repo.git/info/refs",
                Some("service=git-upload-archive"),
                Err(Refusal::NotFound),
            ),
            (&get, "/repo.git/HEAD", None, Err(Refusal::NotFound)),
            (
                &get,
                "/repo.git/objects/info/packs",
                None,
                Err(Refusal::NotFound),
            ),
            (
                &get,
                "/other.git/info/refs",
                Some("service=git-upload-pack"),
                Err(Refusal::NotFound),
            ),
            (
                &get,
                "/repo.git/../repo.git/info/refs",
                Some("service=git-upload-pack"),
                Err(Refusal::NotFound),
            ),
            (
                &post,
                "/repo.git/git-upload-pack/",
                None,
                Err(Refusal::NotFound),
            ),
            (&get, "/", None, Err(Refusal::NotFound)),
            (&get, "", None, Err(Refusal::NotFound)),
        ];
        for (method, path, query, want) in cases {
            assert_eq!(
                route(method, path, *query),
                *want,
                "{method} {path} {query:?}"
            );
        }
    }
}
