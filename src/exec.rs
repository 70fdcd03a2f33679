//! The command's argv and environment as the C arrays execve wants, built once in the
//! launcher before the clone, and the last steps of the command's process before exec.

use crate::error::{Error, Result};
use std::ffi::{CString, c_char};

/// NUL-terminated strings and the NULL-terminated pointer array that refers to them.
pub struct CArgs {
    strings: Vec<CString>,
    pointers: Vec<*const c_char>,
}

impl CArgs {
    pub fn new(what: &str, items: &[String]) -> Result<CArgs> {
        let strings = items
            .iter()
            .map(|s| {
                CString::new(s.as_str()).map_err(|_| Error::msg(what.to_string(), format!("{s:?} contains a NUL byte")))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut pointers: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        pointers.push(std::ptr::null());
        Ok(CArgs { strings, pointers })
    }

    pub fn as_ptr(&self) -> *const *const c_char {
        self.pointers.as_ptr()
    }

    pub fn first(&self) -> &std::ffi::CStr {
        &self.strings[0]
    }

    /// The value of VAR in an environment list, as bytes.
    pub fn var(&self, name: &str) -> Option<&[u8]> {
        self.strings.iter().find_map(|s| {
            let bytes = s.to_bytes();
            bytes.strip_prefix(name.as_bytes())?.strip_prefix(b"=")
        })
    }
}

/// The command's argv and envp, ready for exec.
pub struct Command {
    pub argv: CArgs,
    pub envp: CArgs,
}

impl Command {
    pub fn new(args: &[String], env: &[String]) -> Result<Command> {
        Ok(Command { argv: CArgs::new("command", args)?, envp: CArgs::new("environment", env)? })
    }

    /// Execs the command, searching the container's PATH; returns only on failure, with
    /// the exit code (126 or 127) and the message for the user.
    pub fn exec(&self) -> (u8, String) {
        let path = self.envp.var("PATH").unwrap_or(crate::spec::DEFAULT_PATH.as_bytes());
        husk_init::reset_signals_for_exec();
        let err = husk_init::exec_search(self.argv.first(), self.argv.as_ptr(), self.envp.as_ptr(), path);
        let name = self.argv.first().to_string_lossy();
        (husk_init::exec_failure_status(err), format!("exec {name}: {}", crate::error::strerror(err)))
    }
}

/// Takes the command's user and group (no supplementary groups), in its own process
/// right before exec. A failure means the command cannot run: 126.
pub fn become_user(uid: u32, gid: u32) -> Result<()> {
    use crate::error::Context;
    // In a user namespace without setgroups the list cannot change; it is empty there.
    let _ = rustix::thread::set_thread_groups(&[]);
    let (uid, gid) = (rustix::process::Uid::from_raw(uid), rustix::process::Gid::from_raw(gid));
    rustix::thread::set_thread_res_gid(gid, gid, gid).ctx("setresgid", gid.as_raw()).map_err(|e| e.with_code(126))?;
    rustix::thread::set_thread_res_uid(uid, uid, uid).ctx("setresuid", uid.as_raw()).map_err(|e| e.with_code(126))
}

/// UID or UID:GID, numeric (names would need the container's /etc/passwd).
pub fn parse_user(text: &str) -> Result<(u32, u32)> {
    let bad = || Error::msg(format!("--user {text}"), "expected a numeric UID or UID:GID");
    match text.split_once(':') {
        Some((u, g)) => Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?)),
        None => {
            let uid = text.parse().map_err(|_| bad())?;
            Ok((uid, uid))
        }
    }
}
