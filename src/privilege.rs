//! What husk may do here. Root is not enough: inside a container that kept docker's 14
//! capabilities (GitHub Actions and GitLab job containers run so) uid 0 has no
//! CAP_SYS_ADMIN, so it can create no namespace but a user namespace, mount nothing
//! outside one, load no BPF program and write no cgroup. Such a root runs containers
//! as an unprivileged user does: in a user namespace of its own, said once.

use crate::error::{Error, Result};
use crate::spec::{MountKind, RootWrite, Spec};
use rustix::io::Errno;
use rustix::thread::CapabilitySet;
use std::sync::OnceLock;

/// Root with CAP_SYS_ADMIN in its user namespace: namespaces, mounts, loop devices,
/// cgroups and device programs are husk's to make.
pub fn full() -> bool {
    static FULL: OnceLock<bool> = OnceLock::new();
    *FULL.get_or_init(|| rustix::process::geteuid().is_root() && holds(CapabilitySet::SYS_ADMIN))
}

/// uid 0 without CAP_SYS_ADMIN (inside a container).
pub fn limited_root() -> bool {
    rustix::process::geteuid().is_root() && !full()
}

/// Whether the effective set holds every capability in `caps`.
pub fn holds(caps: CapabilitySet) -> bool {
    rustix::thread::capabilities(None).is_ok_and(|c| c.effective.contains(caps))
}

/// What the kernel will refuse a container with its own user namespace here, said
/// before anything is made: a new procfs while the outer runtime has masked paths of
/// /proc (it would reveal them: "mount too revealing"), and an overlay over a layer that
/// has mounts below it (locked in the user namespace: "failed to clone lowerpath").
pub fn check_user_namespace_host(spec: &Spec) -> Result<()> {
    if !spec.user_namespace() {
        return Ok(());
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let points: Vec<String> = mountinfo.lines().filter_map(|l| l.split(' ').nth(4)).map(unescape).collect();
    let new_proc = spec.mounts.iter().any(|m| m.kind == MountKind::Proc);
    let masked: Vec<&str> = points
        .iter()
        .map(String::as_str)
        // Filesystems of their own on empty procfs directories (binfmt_misc, nfsd) are
        // what the kernel allows; binds over proc's files and directories are masks.
        .filter(|p| p.starts_with("/proc/") && !["/proc/sys/fs/binfmt_misc", "/proc/fs/nfsd"].contains(p))
        .collect();
    if new_proc && !masked.is_empty() {
        return Err(Error::msg(
            format!("/proc ({} masked here, e.g. {})", masked.len(), masked[0]),
            "the kernel refuses a new procfs in a user namespace while paths of /proc are masked; \
             start the outer container with --security-opt systempaths=unconfined",
        ));
    }
    if spec.root.write == RootWrite::Direct {
        return Ok(());
    }
    let base = spec.root.source.path();
    for layer in std::iter::once(base).chain(spec.root.layers.iter().map(|p| p.as_path())) {
        let below = format!("{}/", layer.display());
        if let Some(sub) = points.iter().find(|p| p.starts_with(&below)) {
            return Err(Error::msg(
                format!("{} (mount at {sub})", layer.display()),
                "the kernel refuses an overlay in a user namespace over a directory with mounts below it; \
                 use a directory without mounts below it, or --rootfs-rw",
            ));
        }
    }
    Ok(())
}

/// Why a clone that makes namespaces was refused, when it is not husk's to fix: a
/// seccomp filter of the outer runtime (docker's default profile refuses unshare and
/// clone with namespace flags without CAP_SYS_ADMIN), or user namespaces turned off.
pub fn explain_clone_failure(e: Error) -> Error {
    // The error carries clone3's errno (ENOSYS under docker's profile), its fallback's
    // after it.
    if !matches!(e.errno, Some(Errno::PERM | Errno::NOSPC | Errno::NOSYS)) {
        return e;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let filtered = status.lines().any(|l| l.starts_with("Seccomp:") && l.trim_ascii_end().ends_with('2'));
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    let why = if max.trim_ascii() == "0" {
        "user namespaces are turned off here (sysctl user.max_user_namespaces = 0)"
    } else if filtered && !full() {
        "the seccomp filter husk runs under refuses new namespaces (docker's default profile does without \
         CAP_SYS_ADMIN); start the outer container with --security-opt seccomp=unconfined"
    } else {
        return e;
    };
    Error::msg(format!("clone ({e})"), why)
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4).and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(c as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_escapes_are_read_back() {
        assert_eq!(super::unescape(r"/srv/a\040b\011c\134d"), "/srv/a b\tc\\d");
        assert_eq!(super::unescape(r"/plain"), "/plain");
        assert_eq!(super::unescape(r"/odd\x"), r"/odd\x");
    }
}
