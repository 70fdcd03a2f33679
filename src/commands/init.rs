//! `husk init`: husk's PID-1 init for someone else's container image, the job tini does.

use crate::cli::{self, Command, flag, on};
use crate::error::{Context, Error, Result};
use crate::exec;
use husk_init::Options;
use std::ffi::OsString;

pub static INIT: Command<Options> = Command {
    name: "init",
    usage: "[OPTIONS] [--] COMMAND [ARG...]",
    about: "Run COMMAND under husk's init: reap zombies, forward signals, exit with its status.\n\
            As PID 1 the container ends with the command; otherwise husk registers as a\n\
            subreaper so orphaned descendants are still reaped.",
    flags: &[
        flag("pgroup", Some('g'), None, "Forward signals to the command's whole process group", |o, _| {
            on(&mut o.process_group)
        }),
        flag("remap-exit", Some('e'), Some("CODE"), "Report exit code CODE as 0 (repeatable)", |o, code| {
            match code.parse::<u8>() {
                Ok(code) => Ok(o.map_to_success(code)),
                Err(_) => Err(Error::msg(format!("--remap-exit {code}"), "expected an exit code 0-255")),
            }
        }),
        flag("subreaper", Some('s'), None, "Register as a subreaper (automatic when not PID 1)", |_, _| Ok(())),
    ],
    command_follows: true,
};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let Some((opts, command)) = cli::parse(&INIT, args)? else { return Ok(0) };
    if command.is_empty() {
        return Err(cli::usage_error(&INIT, "no command given"));
    }
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let command = exec::Command::new(&command, &env)?;

    if rustix::process::getpid() != rustix::process::Pid::INIT {
        rustix::process::set_child_subreaper(Some(rustix::process::Pid::INIT))
            .ctx("prctl PR_SET_CHILD_SUBREAPER", "")?;
    }
    let signals = husk_init::take_signals().ctx("signalfd", "")?;
    let pid = husk_init::spawn(|| {
        // Its own process group, in the foreground of the terminal if there is one, as
        // tini does: Ctrl-C then reaches the command's group directly.
        let _ = rustix::process::setpgid(None, None);
        let stdin = husk_init::sys::stdin();
        if rustix::termios::isatty(stdin) {
            let _ = husk_init::sys::set_signal_disposition(linux_raw_sys::general::SIGTTOU, true);
            let _ = rustix::termios::tcsetpgrp(stdin, rustix::process::getpid());
        }
        let (code, msg) = command.exec();
        husk_init::say(&[msg.as_bytes()]);
        code as i32
    })
    .ctx("fork", "")?;
    // Pin no mount: the init's cwd would keep a filesystem busy.
    let _ = rustix::process::chdir("/");
    husk_init::supervise(pid, signals, &opts)
}
