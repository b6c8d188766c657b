//! The auth schemes of a route or a git remote, as the manifest spells
//! them and egress's config carries them: `bearer`, `basic` or
//! `header:NAME`. Matched without regard to case.

/// `Authorization: Bearer TOKEN`.
pub const BEARER: &str = "bearer";
/// `Authorization: Basic base64(TOKEN)`.
pub const BASIC: &str = "basic";
/// `header:NAME`: the token as the value of header NAME.
pub const HEADER: &str = "header";
