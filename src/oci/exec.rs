//! `exec` in its OCI form: the process from a runtime-spec process.json (`--process`),
//! and `--detach` with a pid file, where the caller (conmon, the shim) becomes the
//! process's parent once husk exits, as it does for the container's init.

use crate::error::{Context, Error, Result};
use crate::exec;
use crate::spec::Process;
use crate::terminal::Pty;
use linux_raw_sys::ptrace::sock_filter;
use rustix::fd::AsFd;
use std::path::Path;

/// The process a process.json describes. The container's seccomp filter applies to it,
/// as to every exec.
pub fn process_file(path: &Path) -> Result<Process> {
    let text = std::fs::read_to_string(path).ctx("read", path.display())?;
    let value = crate::json::parse(&text).map_err(|e| Error::msg(format!("{}", path.display()), e))?;
    let mut process =
        super::config::process_json(&value).map_err(|e| Error::msg(format!("{}", path.display()), e.to_string()))?;
    process.stdin = false;
    Ok(process)
}

/// Where a detached exec's pid and terminal go: both opened before husk enters the
/// container, whose root hides the host's paths.
pub struct Detach {
    pub pid_file: Option<super::PidFile>,
    pub console: Option<super::ConsoleSocket>,
}

/// Starts the process (already inside the container: see commands/exec.rs) and returns
/// without waiting for it.
pub fn detached(command: &exec::Command, process: &Process, filter: Option<&[sock_filter]>, to: Detach) -> Result<u8> {
    if process.terminal && to.console.is_none() {
        return Err(Error::msg("terminal", "a detached exec with a terminal needs --console-socket"));
    }
    // The caller learns now, not from an exit status later, that the command cannot run.
    command.check(&process.cwd).map_err(|(code, msg)| Error::plain(msg).with_code(code))?;
    // The terminal comes from the container's devpts, now our /dev.
    let pty = if process.terminal { Some(Pty::open()?) } else { None };
    let peer = pty.as_ref().map(|p| &p.peer);
    let pid = husk_init::spawn(|| {
        if let Some(peer) = peer {
            for dup in [rustix::stdio::dup2_stdin, rustix::stdio::dup2_stdout, rustix::stdio::dup2_stderr] {
                if dup(peer.as_fd()).is_err() {
                    return 125;
                }
            }
        }
        let (code, msg) = exec::prepare_and_exec(process, command, false, filter);
        husk_init::say(&[msg.as_bytes()]);
        code as i32
    })
    .ctx("fork", "")?;
    if let (Some(pty), Some(console)) = (pty, &to.console) {
        console.send(&pty.master)?;
    }
    if let Some(file) = &to.pid_file {
        file.write(pid)?;
    }
    Ok(0)
}
