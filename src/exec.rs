//! The command's argv and environment as the C arrays execve wants, built once in the
//! launcher before the clone, and the one prepare-and-exec step that the container's
//! command and `husk exec` share: session and terminal, working directory, rlimits, the
//! capability bounding set, user and groups, the other capability sets, no_new_privs,
//! the seccomp filter, HOME, exec.

use crate::error::{Context, Error, Result};
use crate::spec::{Capabilities, Process};
use linux_raw_sys::ptrace::sock_filter;
use rustix::thread::CapabilitySet;
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
                CString::new(s.as_str())
                    .map_err(|_| Error::msg(what.to_string(), format!("\"{s}\" contains a NUL byte")))
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

    /// `exec`, adding HOME=`home` when the environment has no HOME.
    pub fn exec_with_home(&self, home: Option<&str>) -> (u8, String) {
        let Some(home) = home.filter(|_| self.envp.var("HOME").is_none()) else { return self.exec() };
        let mut env: Vec<String> = self.envp.strings.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        env.push(format!("HOME={home}"));
        match CArgs::new("environment", &env) {
            Ok(envp) => exec(&self.argv, &envp),
            Err(e) => (e.code, e.to_string()),
        }
    }

    /// Execs the command, searching the container's PATH; returns only on failure, with
    /// the exit code (126 or 127) and the message for the user.
    pub fn exec(&self) -> (u8, String) {
        exec(&self.argv, &self.envp)
    }
}

impl Command {
    /// Whether the command can be found and run as the container sees it, checked
    /// before its exec (which an OCI container's `start` triggers later): the exit code
    /// and runc's wording, which podman turns into 126 and 127. `cwd` is where a
    /// relative path with a slash is looked up.
    pub fn check(&self, cwd: &str) -> std::result::Result<(), (u8, String)> {
        use rustix::io::Errno;
        let name = self.argv.first().to_string_lossy().into_owned();
        let runnable = |p: &str| -> std::result::Result<(), Errno> {
            let st = rustix::fs::stat(p)?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
                return Err(Errno::ACCESS);
            }
            rustix::fs::access(p, rustix::fs::Access::EXEC_OK)
        };
        let failed = |e: Errno| (husk_init::exec_failure_status(e), format!("exec: \"{name}\": {}", strerror(e)));
        if name.contains('/') {
            let full = if name.starts_with('/') { name.clone() } else { format!("{cwd}/{name}") };
            return runnable(&full).map_err(failed);
        }
        let path = self.envp.var("PATH").unwrap_or(crate::spec::DEFAULT_PATH.as_bytes());
        let mut denied = false;
        for dir in String::from_utf8_lossy(path).split(':') {
            let dir = if dir.is_empty() { "." } else { dir };
            match runnable(&format!("{dir}/{name}")) {
                Ok(()) => return Ok(()),
                Err(Errno::ACCESS | Errno::PERM) => denied = true,
                Err(_) => {}
            }
        }
        Err(if denied {
            failed(Errno::ACCESS)
        } else {
            (127, format!("exec: \"{name}\": executable file not found in $PATH"))
        })
    }
}

fn strerror(e: rustix::io::Errno) -> String {
    crate::error::strerror(e).to_ascii_lowercase()
}

fn exec(argv: &CArgs, envp: &CArgs) -> (u8, String) {
    let path = envp.var("PATH").unwrap_or(crate::spec::DEFAULT_PATH.as_bytes());
    husk_init::reset_signals_for_exec();
    let err = husk_init::exec_search(argv.first(), argv.as_ptr(), envp.as_ptr(), path);
    let name = argv.first().to_string_lossy();
    (husk_init::exec_failure_status(err), format!("exec {name}: {}", crate::error::strerror(err)))
}

/// The last steps in the command's own process, then exec: returns only on failure, with
/// the exit code and message. `own_group` puts a command without a terminal in a process
/// group of its own (the container's command; `husk exec`'s stays in the caller's, where
/// reading the caller's terminal is allowed).
pub fn prepare_and_exec(
    process: &Process,
    command: &Command,
    own_group: bool,
    filter: Option<&[sock_filter]>,
) -> (u8, String) {
    match prepare(process, own_group, filter) {
        Ok(home) => command.exec_with_home(home.as_deref()),
        Err(e) => (e.code, e.to_string()),
    }
}

/// Returns the home of a named user, for a HOME the environment does not set.
fn prepare(process: &Process, own_group: bool, filter: Option<&[sock_filter]>) -> Result<Option<String>> {
    if process.terminal {
        // Its own session with the pty (already its stdin) as controlling terminal: job
        // control works and Ctrl-C reaches the foreground job, not the container's init.
        rustix::process::setsid().ctx("setsid", "")?;
        rustix::process::ioctl_tiocsctty(rustix::stdio::stdin()).ctx("make the pty the controlling terminal", "")?;
    } else if own_group {
        rustix::process::setpgid(None, None).ctx("setpgid", "")?;
    }
    if let (true, Some((rows, cols))) = (process.terminal, process.console_size) {
        let size = rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        rustix::termios::tcsetwinsize(rustix::stdio::stdin(), size).ctx("set the terminal size", "")?;
    }
    rustix::process::chdir(&process.cwd).ctx("chdir", &process.cwd).map_err(|e| e.with_code(126))?;
    if let Some(mask) = process.umask {
        rustix::process::umask(rustix::fs::Mode::from(mask & 0o777));
    }
    // While the capabilities are whole: lowering the score needs CAP_SYS_RESOURCE.
    if let Some(adj) = process.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
            let errno = rustix::io::Errno::from_raw_os_error(e.raw_os_error().unwrap_or(5));
            Error::sys("write", format!("/proc/self/oom_score_adj ({adj})"), errno)
        })?;
    }
    if let Some(persona) = process.personality {
        husk_init::sys::personality(persona).ctx("personality", persona)?;
    }
    // Whatever else is open (a caller's leaked descriptors, husk's own) closes at exec:
    // the command gets stdio only.
    crate::compat::cloexec_from(3)?;
    for limit in &process.rlimits {
        set_rlimit(&limit.kind, limit.soft, limit.hard)?;
    }
    // Without no_new_privs the filter needs CAP_SYS_ADMIN, which the capability sets
    // below may drop: then it goes first (the calls that follow are all allowed by it).
    let early_filter = filter.filter(|_| !process.no_new_privileges);
    if let Some(program) = early_filter {
        install_filter(program)?;
    }
    if let Some(caps) = &process.capabilities {
        // Before the user changes: dropping from the bounding set needs CAP_SETPCAP.
        drop_bounding(&caps.bounding)?;
    }
    let user = &process.user;
    let mut extra = user.additional_gids.clone();
    for group in &user.extra_groups {
        extra.push(crate::users::group_id(group)?);
    }
    let home = match &user.name {
        Some(name) => {
            let mut id = crate::users::resolve(name)?;
            for g in extra {
                if !id.groups.contains(&g) {
                    id.groups.push(g);
                }
            }
            become_user(id.uid, id.gid, &id.groups)?;
            Some(id.home)
        }
        None => {
            // Always: the launcher's supplementary groups must not reach the container,
            // and a `husk exec` entering a user namespace with a subordinate range is
            // nobody there until it takes the container's root.
            become_user(user.uid, user.gid, &extra)?;
            None
        }
    };
    if let Some(caps) = &process.capabilities {
        set_capabilities(caps)?;
    }
    if process.no_new_privileges {
        rustix::thread::set_no_new_privs(true).ctx("prctl PR_SET_NO_NEW_PRIVS", "")?;
    }
    if let (Some(program), None) = (filter, early_filter) {
        install_filter(program)?;
    }
    Ok(home)
}

fn install_filter(program: &[sock_filter]) -> Result<()> {
    husk_init::sys::seccomp_filter(program).ctx("install the seccomp filter", "").map_err(|e| e.with_code(126))
}

/// The set of capability names (validated with the spec; unknown ones are skipped).
fn cap_set(names: &[String]) -> CapabilitySet {
    names
        .iter()
        .filter_map(|n| crate::spec::capability_number(n))
        .fold(CapabilitySet::empty(), |set, n| set | CapabilitySet::from_bits_retain(1 << n))
}

/// Drops every capability not named from the bounding set, up to the last one this
/// kernel knows (the first refusal with EINVAL).
fn drop_bounding(names: &[String]) -> Result<()> {
    let keep = cap_set(names);
    for n in 0..64 {
        let cap = CapabilitySet::from_bits_retain(1 << n);
        if keep.contains(cap) {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(cap) {
            Ok(()) => {}
            Err(rustix::io::Errno::INVAL) => break,
            Err(e) => return Err(Error::sys("drop from the capability bounding set", format!("capability {n}"), e)),
        }
    }
    Ok(())
}

/// Effective, permitted and inheritable sets as named, within what the process still
/// permits (a user other than root has none left after setresuid, as the kernel's
/// rules give); ambient capabilities cleared.
fn set_capabilities(caps: &Capabilities) -> Result<()> {
    let held = rustix::thread::capabilities(None).ctx("capget", "")?;
    let sets = rustix::thread::CapabilitySets {
        effective: cap_set(&caps.effective) & held.permitted,
        permitted: cap_set(&caps.permitted) & held.permitted,
        inheritable: cap_set(&caps.inheritable) & (held.permitted | held.inheritable),
    };
    rustix::thread::set_capabilities(None, sets).ctx("capset", "").map_err(|e| e.with_code(126))?;
    rustix::thread::clear_ambient_capability_set().ctx("clear the ambient capabilities", "")
}

fn set_rlimit(kind: &str, soft: u64, hard: u64) -> Result<()> {
    use rustix::process::Resource as R;
    let resource = match kind {
        "RLIMIT_CPU" => R::Cpu,
        "RLIMIT_FSIZE" => R::Fsize,
        "RLIMIT_DATA" => R::Data,
        "RLIMIT_STACK" => R::Stack,
        "RLIMIT_CORE" => R::Core,
        "RLIMIT_RSS" => R::Rss,
        "RLIMIT_NPROC" => R::Nproc,
        "RLIMIT_NOFILE" => R::Nofile,
        "RLIMIT_MEMLOCK" => R::Memlock,
        "RLIMIT_AS" => R::As,
        "RLIMIT_LOCKS" => R::Locks,
        "RLIMIT_SIGPENDING" => R::Sigpending,
        "RLIMIT_MSGQUEUE" => R::Msgqueue,
        "RLIMIT_NICE" => R::Nice,
        "RLIMIT_RTPRIO" => R::Rtprio,
        _ => R::Rttime,
    };
    let limit = |v: u64| (v != u64::MAX).then_some(v);
    let rlimit = rustix::process::Rlimit { current: limit(soft), maximum: limit(hard) };
    rustix::process::setrlimit(resource, rlimit).ctx("setrlimit", kind).map_err(|e| e.with_code(126))
}

/// Takes the command's user, group and supplementary groups, in its own process right
/// before exec. A failure means the command cannot run: 126.
pub fn become_user(uid: u32, gid: u32, groups: &[u32]) -> Result<()> {
    let groups: Vec<rustix::process::Gid> = groups.iter().map(|&g| rustix::process::Gid::from_raw(g)).collect();
    // In a user namespace without setgroups the list cannot change; it is empty there.
    if rustix::thread::set_thread_groups(&groups).is_err() && !groups.is_empty() {
        return Err(Error::msg("setgroups", "the supplementary groups cannot be set here").with_code(126));
    }
    let (uid, gid) = (rustix::process::Uid::from_raw(uid), rustix::process::Gid::from_raw(gid));
    rustix::thread::set_thread_res_gid(gid, gid, gid).ctx("setresgid", gid.as_raw()).map_err(|e| e.with_code(126))?;
    rustix::thread::set_thread_res_uid(uid, uid, uid).ctx("setresuid", uid.as_raw()).map_err(|e| e.with_code(126))
}
