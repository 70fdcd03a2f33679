//! husk's one error type: what failed, on which path, the errno, and the exit code the
//! user should see (125 for husk's own failures, 126/127 when the command cannot run).

use rustix::io::Errno;
use std::fmt;

#[derive(Debug)]
pub struct Error {
    /// The operation, e.g. "pivot_root into" or "--memory".
    pub what: String,
    /// The path or object it acted on, when there is one.
    pub path: Option<String>,
    pub errno: Option<Errno>,
    /// Free text instead of an errno ("is not a directory", "expected KEY=VALUE").
    pub why: Option<String>,
    pub code: u8,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub const EXIT_HUSK: u8 = 125;

impl Error {
    /// A failed system call: `what path: strerror`.
    pub fn sys(what: impl Into<String>, path: impl fmt::Display, errno: Errno) -> Error {
        Error::sys_dyn(what.into(), &path, errno)
    }

    /// `sys` without generics: its many instantiations share this one body.
    #[inline(never)]
    fn sys_dyn(what: String, path: &dyn fmt::Display, errno: Errno) -> Error {
        let path = path.to_string();
        Error { what, path: (!path.is_empty()).then_some(path), errno: Some(errno), why: None, code: EXIT_HUSK }
    }

    /// Bad input or a failed check: `what: why`.
    pub fn msg(what: impl Into<String>, why: impl Into<String>) -> Error {
        Error::msg_of(what.into(), why.into())
    }

    #[inline(never)]
    fn msg_of(what: String, why: String) -> Error {
        Error { what, path: None, errno: None, why: Some(why), code: EXIT_HUSK }
    }

    /// "container \"NAME\": why", one place for the many errors about a container.
    #[inline(never)]
    pub fn container(name: &str, why: impl Into<String>) -> Error {
        Error::msg(format!("container \"{name}\""), why)
    }

    /// A message that is complete as it is (a report from the container's init).
    pub fn plain(text: impl Into<String>) -> Error {
        Error { what: text.into(), path: None, errno: None, why: None, code: EXIT_HUSK }
    }

    /// The call that failed first stays the error; the fallback that was tried after it
    /// and how it failed too follow it.
    pub fn and_fallback(mut self, what: impl fmt::Display, errno: Errno) -> Error {
        self.why = Some(format!("and its fallback, {what}: {}", strerror(errno)));
        self
    }

    pub fn with_code(mut self, code: u8) -> Error {
        self.code = code;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
        if let Some(path) = &self.path {
            write!(f, " {path}")?;
        }
        if let Some(errno) = self.errno {
            write!(f, ": {}", strerror(errno))?;
        }
        if let Some(why) = &self.why {
            write!(f, ": {why}")?;
        }
        Ok(())
    }
}

/// The C library's text for an errno, without std's " (os error N)" suffix.
pub fn strerror(errno: Errno) -> String {
    String::from_utf8_lossy(husk_init::sys::strerror(errno)).into_owned()
}

/// Attaches a description to rustix results: `.ctx("mount proc on", path)?`.
pub trait Context<T> {
    fn ctx(self, what: &str, path: impl fmt::Display) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, Errno> {
    fn ctx(self, what: &str, path: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::sys_dyn(what.into(), &path, e))
    }
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx(self, what: &str, path: impl fmt::Display) -> Result<T> {
        self.map_err(|e| io_error(what, &path, &e))
    }
}

#[inline(never)]
fn io_error(what: &str, path: &dyn fmt::Display, e: &std::io::Error) -> Error {
    Error::sys_dyn(what.into(), path, Errno::from_raw_os_error(e.raw_os_error().unwrap_or(libc_eio())))
}

fn libc_eio() -> i32 {
    Errno::IO.raw_os_error()
}
