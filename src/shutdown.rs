//! The signal a sidecar stops on.

/// Resolves on SIGTERM or SIGINT (never, when they cannot be watched).
pub(crate) async fn requested() {
    use tokio::signal::unix::{SignalKind, signal};
    if let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    } else {
        std::future::pending::<()>().await;
    }
}
