//! Taking TCP connections a bounded number at a time, each served on a
//! task of its own: past the bound, new connections wait in the kernel's
//! queue. The sidecars' servers (egress's proxy and resolver, the git
//! gate) all take theirs this way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// How long a failed accept waits before the next.
const RETRY: Duration = Duration::from_millis(50);

/// Accepts connections on `listener`, each served by the task `serve`
/// makes of it, while it holds one of `slots`' permits; returns once
/// `slots` is closed. A failed accept (out of file descriptors, most
/// likely) is tried again after a pause, to let some close.
pub(crate) async fn bounded<F, Fut>(listener: TcpListener, slots: Arc<Semaphore>, mut serve: F)
where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        let served = serve(stream, peer);
        tokio::spawn(async move {
            let _permit = permit;
            served.await;
        });
    }
}
