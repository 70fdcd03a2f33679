//! husk's PID-1 init: starts one command, reaps every zombie, forwards signals to the
//! command and exits with its status. `#![no_std]` and allocation-free so that PID 1 stays
//! tiny and cannot fail on memory; the launcher links it and also runs it standalone as
//! `husk init`.
#![no_std]
#![deny(unsafe_code)]

pub mod sys;

use core::ffi::{CStr, c_char};
use linux_raw_sys::general as g;
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Pid, WaitOptions};

/// Signals the init consumes itself instead of forwarding.
const NOT_FORWARDED: sys::SigSet = sys::sigbit(g::SIGCHLD)
    | sys::sigbit(g::SIGTTIN)
    | sys::sigbit(g::SIGTTOU)
    // Synchronous faults must keep their default action or a bug in the init would spin.
    | sys::sigbit(g::SIGFPE)
    | sys::sigbit(g::SIGILL)
    | sys::sigbit(g::SIGSEGV)
    | sys::sigbit(g::SIGBUS)
    | sys::sigbit(g::SIGABRT)
    | sys::sigbit(g::SIGTRAP)
    | sys::sigbit(g::SIGSYS);

/// The set the init blocks and reads through its signalfd: everything catchable except
/// the synchronous faults. Blocked signals are queued even for PID 1, whose default
/// actions the kernel would otherwise drop.
pub const CONSUMED: sys::SigSet = sys::ALL_SIGNALS
    & !(sys::sigbit(g::SIGFPE)
        | sys::sigbit(g::SIGILL)
        | sys::sigbit(g::SIGSEGV)
        | sys::sigbit(g::SIGBUS)
        | sys::sigbit(g::SIGABRT)
        | sys::sigbit(g::SIGTRAP)
        | sys::sigbit(g::SIGSYS));

/// How the init behaves; the defaults are what `husk run` uses.
#[derive(Clone, Copy, Default)]
pub struct Options {
    /// Forward signals to the command's whole process group (tini -g).
    pub process_group: bool,
    /// Exit codes (0..=255) reported as 0 instead (tini -e); bit N of the array.
    pub success_codes: [u64; 4],
}

impl Options {
    pub fn map_to_success(&mut self, code: u8) {
        self.success_codes[(code / 64) as usize] |= 1 << (code % 64);
    }

    fn maps_to_success(&self, code: u8) -> bool {
        self.success_codes[(code / 64) as usize] & (1 << (code % 64)) != 0
    }
}

/// Blocks every signal the init consumes and returns a signalfd for them. Call before
/// spawning so no signal sent in between is lost or acted upon by default.
pub fn take_signals() -> Result<OwnedFd, Errno> {
    sys::set_signal_mask(CONSUMED)?;
    sys::signalfd(CONSUMED, false)
}

/// In a freshly spawned child, before exec: an empty signal mask and default
/// dispositions, since both survive execve: Rust's runtime ignores SIGPIPE, the init
/// SIGTTIN and SIGTTOU, and whatever started husk may have ignored more (nohup: SIGHUP;
/// a shell's background job: SIGINT and SIGQUIT), which a container's command must not
/// inherit (a shell cannot even trap a signal ignored at its start). Every signal, the
/// real-time ones too; SIGKILL and SIGSTOP refuse, harmlessly.
pub fn reset_signals_for_exec() {
    let _ = sys::set_signal_mask(0);
    for sig in 1..65 {
        let _ = sys::set_signal_disposition(sig, false);
    }
}

/// Forks (clone3, falling back to clone) and runs `child` in the new process, which exits
/// with the code `child` returns (it normally execs instead). Returns the child's pid.
/// The fallback covers what husk's launcher falls back on (see namespaces::clone): 5.3
/// to 5.6 refuse a clone_args larger than theirs with E2BIG, and a profile may too.
pub fn spawn(child: impl FnOnce() -> i32) -> Result<Pid, Errno> {
    let forked = match sys::clone3(0, None) {
        Err(Errno::NOSYS | Errno::PERM | Errno::TOOBIG | Errno::INVAL) => sys::clone_legacy(0),
        other => other,
    }?;
    match forked {
        sys::Forked::Child => sys::exit_group(child()),
        sys::Forked::Parent { pid, .. } => Ok(pid),
    }
}

/// The exit status a shell would report: the code, or 128+N when killed by signal N.
pub fn shell_status(status: rustix::process::WaitStatus) -> u8 {
    if let Some(code) = status.exit_status() {
        code as u8
    } else if let Some(sig) = status.terminating_signal() {
        (128 + sig) as u8
    } else {
        255
    }
}

/// The exit code for a failed exec, as shells and docker use them.
pub fn exec_failure_status(err: Errno) -> u8 {
    if err == Errno::NOENT || err == Errno::NOTDIR { 127 } else { 126 }
}

/// execve with the shell's PATH search when `file` has no slash, without allocating: each
/// candidate is assembled in a stack buffer. Returns the most telling error (EACCES from
/// a candidate beats a later ENOENT, as in execvp).
pub fn exec_search(file: &CStr, argv: *const *const c_char, envp: *const *const c_char, path: &[u8]) -> Errno {
    let name = file.to_bytes();
    if name.is_empty() {
        return Errno::NOENT;
    }
    if name.contains(&b'/') {
        return sys::execve(file, argv, envp);
    }
    let mut buf = [0u8; 4096];
    let mut result = Errno::NOENT;
    for dir in path.split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let len = dir.len() + 1 + name.len();
        if len + 1 > buf.len() {
            result = Errno::NAMETOOLONG;
            continue;
        }
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()] = b'/';
        buf[dir.len() + 1..len].copy_from_slice(name);
        buf[len] = 0;
        let Ok(candidate) = CStr::from_bytes_with_nul(&buf[..=len]) else {
            continue;
        };
        match sys::execve(candidate, argv, envp) {
            Errno::NOENT | Errno::NOTDIR => {}
            Errno::ACCESS => result = Errno::ACCESS,
            other => return other,
        }
    }
    result
}

/// Writes a one-line message to stderr without allocating: `husk: <parts...>\n`.
pub fn say(parts: &[&[u8]]) {
    let mut buf = [0u8; 512];
    let mut len = 0;
    for part in core::iter::once(&b"husk: "[..]).chain(parts.iter().copied()) {
        let n = part.len().min(buf.len() - 1 - len);
        buf[len..len + n].copy_from_slice(&part[..n]);
        len += n;
    }
    buf[len] = b'\n';
    let _ = rustix::io::write(sys::stderr(), &buf[..=len]);
}

/// Runs the init loop for `main`, the spawned command: reaps every child (orphans
/// included), forwards signals, and exits with the command's status once it is gone.
/// As PID 1 of a namespace that exit takes every remaining process down with it.
pub fn supervise(main: Pid, signals: OwnedFd, opts: &Options) -> ! {
    let mut buf = [0u8; sys::SIGINFO_SIZE];
    // The init lives as long as the container: once it has been idle a moment it keeps
    // only the pages its loop uses. Not at once: most commands that end within that
    // moment (a container's whole start-up, for `true`) would pay for it for nothing.
    let mut release = true;
    loop {
        if release {
            let mut fds = [rustix::event::PollFd::new(&signals, rustix::event::PollFlags::IN)];
            let moment = rustix::event::Timespec { tv_sec: 0, tv_nsec: 50_000_000 };
            if let Ok(0) = rustix::event::poll(&mut fds, Some(&moment)) {
                sys::release_code_pages();
                release = false;
                continue;
            }
        }
        match rustix::io::read(signals.as_fd(), &mut buf) {
            Ok(n) if n == sys::SIGINFO_SIZE => {}
            Ok(_) | Err(Errno::INTR) | Err(Errno::AGAIN) => continue,
            Err(_) => sys::exit_group(125),
        }
        let info = sys::SigInfo::parse(&buf);
        if info.signo == g::SIGCHLD {
            if let Some(status) = reap(main) {
                let code = shell_status(status);
                let code = if opts.maps_to_success(code) { 0 } else { code };
                sys::exit_group(code as i32);
            }
        } else if NOT_FORWARDED & sys::sigbit(info.signo) == 0 {
            let target = if opts.process_group { -main.as_raw_nonzero().get() } else { main.as_raw_nonzero().get() };
            // ESRCH: the command is already gone and its SIGCHLD is on its way.
            let _ = sys::kill(target, info.signo);
        }
    }
}

/// Reaps every exited child; returns the main command's status once it has exited.
/// Several children may exit for one SIGCHLD, so it loops until none is left waiting.
fn reap(main: Pid) -> Option<rustix::process::WaitStatus> {
    let mut main_status = None;
    loop {
        // wait(), i.e. wait4(-1): rustix's waitpid(None) is wait4(0), only our own process group.
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                if pid == main {
                    main_status = Some(status);
                }
            }
            Ok(None) | Err(_) => return main_status,
        }
    }
}
