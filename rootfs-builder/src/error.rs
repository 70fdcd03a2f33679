//! The one error type of the crate: what failed (usually naming a path) and why.

use std::fmt;

#[derive(Debug)]
pub struct Error {
    pub what: String,
    pub why: String,
    /// Usage errors exit with 2 instead of 1.
    pub usage: bool,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(what: impl Into<String>, why: impl fmt::Display) -> Self {
        Error { what: what.into(), why: why.to_string(), usage: false }
    }

    pub fn usage(what: impl Into<String>, why: impl fmt::Display) -> Self {
        Error { usage: true, ..Error::new(what, why) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.why)
    }
}

/// Attach "what" to foreign errors at the place where we still know the path.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::new(what(), e))
    }
}

/// Paths in archives are bytes; show them readably in messages.
pub fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}
