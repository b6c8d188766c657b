//! Proposals the app's and the renderer's tests both show.

use crate::proposal::Request;
use crate::supervise::preview::Preview;

/// A request that widens a route carrying a credential to every path, and
/// the preview that warns of it.
pub(crate) fn widening() -> (Request, Preview) {
    let request = Request::EgressBlock {
        host: "api.github.com".into(),
        path_allowlist: vec!["/".into()],
        auth: None,
    };
    let preview = Preview {
        lines: vec![
            "widens the route to api.github.com:".into(),
            "WARNING: the route to api.github.com carries a credential that the proxy adds; approving also sends it to /".into(),
        ],
        widens_credential: true,
        ..Default::default()
    };
    (request, preview)
}
