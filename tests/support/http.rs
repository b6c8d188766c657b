//! Reading a raw HTTP/1.1 response, for the tests that speak HTTP over a
//! plain socket.

/// The status code of `response` (0 when it has none).
pub fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The status code and the body of `response`.
pub fn status_and_body(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response).into_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status(&text), body)
}
