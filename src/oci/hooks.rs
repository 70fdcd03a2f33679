//! runtime-spec hooks: each one a program run with its args and env, the container's
//! state as JSON on its stdin, and an optional timeout. prestart, createRuntime and
//! poststart, poststop run in husk's namespaces; createContainer and startContainer in
//! the container's (its namespaces and root joined first, so their path is looked up in
//! the container, as the specification has it for startContainer).

use crate::error::{Context, Error, Result};
use crate::exec::CArgs;
use crate::spec::Hook;
use crate::state::ProcessId;
use rustix::fd::AsFd;
use rustix::process::{Pid, WaitOptions};
use std::time::{Duration, Instant};

/// Where a hook runs.
pub enum Place<'a> {
    Runtime,
    /// Inside container `name`, whose init this is.
    Container(&'a str, ProcessId),
}

/// Runs `hooks` of kind `kind` in order; the first failure stops them and is returned.
pub fn run(kind: &str, hooks: &[Hook], state: &str, place: &Place) -> Result<()> {
    for hook in hooks {
        run_one(hook, state, place).map_err(|e| Error::msg(format!("{kind} hook {}", hook.path), e.to_string()))?;
    }
    Ok(())
}

/// Runs hooks whose failure does not stop the container's life (poststart, poststop):
/// each failure is a warning.
pub fn run_warning(kind: &str, hooks: &[Hook], state: &str, place: &Place) {
    for hook in hooks {
        if let Err(e) = run_one(hook, state, place) {
            let e = Error::msg(format!("warning: {kind} hook {}", hook.path), e.to_string());
            crate::oci::log_error(&e);
            eprintln!("husk: {e}");
        }
    }
}

fn run_one(hook: &Hook, state: &str, place: &Place) -> Result<()> {
    let path = CArgs::new("hook path", std::slice::from_ref(&hook.path))?;
    let args = if hook.args.is_empty() { std::slice::from_ref(&hook.path) } else { &hook.args[..] };
    let argv = CArgs::new("hook args", args)?;
    let envp = CArgs::new("hook env", &hook.env)?;
    let (stdin_read, stdin_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx("pipe", "")?;
    let pid = husk_init::spawn(|| {
        if rustix::stdio::dup2_stdin(stdin_read.as_fd()).is_err() {
            return 125;
        }
        if let Place::Container(name, init) = place
            && let Err(e) = crate::commands::exec::enter(name, *init)
        {
            husk_init::say(&[e.to_string().as_bytes()]);
            return 125;
        }
        husk_init::reset_signals_for_exec();
        let err = husk_init::sys::execve(path.first(), argv.as_ptr(), envp.as_ptr());
        husk_init::say(&[b"exec ", hook.path.as_bytes(), b": ", crate::error::strerror(err).as_bytes()]);
        127
    })
    .ctx("fork", "")?;
    drop(stdin_read);
    // A hook that does not read its stdin closes it: EPIPE is no failure.
    let _ = crate::attach::write_all(stdin_write.as_fd(), state.as_bytes());
    drop(stdin_write);
    wait(pid, hook.timeout.map(|s| Duration::from_secs(u64::from(s))))
}

fn wait(pid: Pid, timeout: Option<Duration>) -> Result<()> {
    let start = Instant::now();
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
            Ok(Some((_, status))) => {
                let code = husk_init::shell_status(status);
                return if code == 0 { Ok(()) } else { Err(Error::msg("exited", format!("status {code}"))) };
            }
            Ok(None) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Error::sys("wait for the hook", "", e)),
        }
        if timeout.is_some_and(|t| start.elapsed() > t) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
            return Err(Error::msg("timed out", format!("after {} s", timeout.unwrap_or_default().as_secs())));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
