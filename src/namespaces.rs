//! Which namespaces a container gets, the clone that creates them, and the user
//! namespace's id maps that the parent writes while the child waits.

use crate::error::{Context, Error, Result};
use crate::spec::{IdMap, NamespaceKind, Spec};
use husk_init::sys::{self, Forked};
use linux_raw_sys::general as g;
use rustix::fd::BorrowedFd;
use rustix::io::Errno;
use rustix::process::Pid;

/// Setting this variable (to anything) makes husk use clone(2) even where clone3 works,
/// so that tests cover the path taken on old kernels and under Docker's seccomp profile.
pub const FORCE_CLONE_ENV: &str = "HUSK_FORCE_CLONE";

/// The namespaces created at clone time. The cgroup namespace is not among them: the
/// child unshares it after the parent has placed it in its cgroups, so that its cgroup
/// root is the container's own cgroup and not the launcher's.
pub fn clone_flags(spec: &Spec) -> u64 {
    let mut flags = 0u64;
    for ns in spec.namespaces.iter().filter(|n| n.path.is_none()) {
        flags |= match ns.kind {
            NamespaceKind::Mount => g::CLONE_NEWNS,
            NamespaceKind::Pid => g::CLONE_NEWPID,
            NamespaceKind::Uts => g::CLONE_NEWUTS,
            NamespaceKind::Ipc => g::CLONE_NEWIPC,
            NamespaceKind::Network => g::CLONE_NEWNET,
            NamespaceKind::User => g::CLONE_NEWUSER,
            NamespaceKind::Cgroup => 0,
            NamespaceKind::Time => g::CLONE_NEWTIME,
        } as u64;
    }
    flags
}

/// clone3 with the namespace flags, falling back to clone(2) when clone3 is missing
/// (ENOSYS before 5.3, or in Docker's profile), filtered (EPERM, older profiles), or
/// cannot place the child in its cgroup: 5.3 to 5.6 know no `cgroup` field (E2BIG) or
/// no CLONE_INTO_CGROUP flag (EINVAL). `cgroup` is only honoured by clone3; the caller
/// places the child itself when the fallback was taken (see `Clone::placed_in_cgroup`).
/// If clone fails too, the error is clone3's, with clone's after it.
pub fn clone(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Clone> {
    let forced = std::env::var_os(FORCE_CLONE_ENV).is_some();
    let first = if forced { Err(Errno::NOSYS) } else { sys::clone3(flags, cgroup) };
    // clone(2) reads the low byte of its flags as the exit signal: CLONE_NEWTIME (0x80)
    // exists for clone3 and unshare only, so a time namespace has no fallback.
    let time = flags & u64::from(g::CLONE_NEWTIME) != 0;
    if let (true, Err(e @ (Errno::NOSYS | Errno::PERM | Errno::TOOBIG | Errno::INVAL))) = (time, &first) {
        let why = format!("clone3: {}; clone(2) cannot make one (Linux 5.6 or later)", crate::error::strerror(*e));
        return Err(Error::msg("time namespace", why));
    }
    let (forked, placed) = match first {
        Err(e @ (Errno::NOSYS | Errno::PERM | Errno::TOOBIG | Errno::INVAL)) => match sys::clone_legacy(flags) {
            Ok(forked) => (forked, false),
            // clone3 was never called: clone's is the first failure.
            Err(then) if forced => return Err(Error::sys("clone", "", then)),
            Err(then) => return Err(Error::sys("clone3", "", e).and_fallback("clone", then)),
        },
        other => (other.ctx("clone3", "")?, cgroup.is_some()),
    };
    Ok(match forked {
        Forked::Child => Clone::Child { placed_in_cgroup: placed },
        Forked::Parent { pid, pidfd } => Clone::Parent { pid, pidfd, placed_in_cgroup: placed },
    })
}

/// Both sides learn whether the child was born in its unified cgroup (clone3 with
/// CLONE_INTO_CGROUP) or still has to be moved there.
pub enum Clone {
    Child { placed_in_cgroup: bool },
    Parent { pid: Pid, pidfd: Option<rustix::fd::OwnedFd>, placed_in_cgroup: bool },
}

/// Writes uid_map and gid_map for the child's user namespace. Each file takes a single
/// write. Without CAP_SETGID in the parent namespace, setgroups must be denied first;
/// a subordinate range is written by the setuid helpers instead (subids.rs).
pub fn write_id_maps(pid: Pid, spec: &Spec) -> Result<()> {
    if !spec.user_namespace() {
        return Ok(());
    }
    if crate::subids::needs_helper(&spec.uid_mappings) || crate::subids::needs_helper(&spec.gid_mappings) {
        let pid = pid.as_raw_nonzero().get();
        crate::subids::write_with_helper("newuidmap", pid, &spec.uid_mappings)?;
        return crate::subids::write_with_helper("newgidmap", pid, &spec.gid_mappings);
    }
    let proc = format!("/proc/{}", pid.as_raw_nonzero());
    // Without CAP_SETGID over the parent namespace (not root, or a root that lost it)
    // the kernel takes a gid map only after setgroups is denied.
    if !crate::privilege::holds(rustix::thread::CapabilitySet::SETGID) || !rustix::process::geteuid().is_root() {
        write_once(&format!("{proc}/setgroups"), "deny")?;
    }
    write_once(&format!("{proc}/uid_map"), &map_text(&spec.uid_mappings))?;
    write_once(&format!("{proc}/gid_map"), &map_text(&spec.gid_mappings))
}

fn map_text(maps: &[IdMap]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.inside, m.outside, m.count)).collect()
}

fn write_once(path: &str, text: &str) -> Result<()> {
    let fd =
        rustix::fs::open(path, rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())
            .ctx("open", path)?;
    rustix::io::write(&fd, text.as_bytes()).ctx("write", path)?;
    Ok(())
}

/// In the child: the namespaces config.json names by path (ipc, uts, cgroup: what a
/// pod's containers share), joined before the root is built while the host's paths
/// still resolve.
pub fn join_paths(spec: &Spec) -> Result<()> {
    use rustix::thread::LinkNameSpaceType as Link;
    for ns in &spec.namespaces {
        let (Some(path), Some(link)) = (
            &ns.path,
            match ns.kind {
                NamespaceKind::Ipc => Some(Link::InterProcessCommunication),
                NamespaceKind::Uts => Some(Link::HostNameAndNISDomainName),
                NamespaceKind::Cgroup => Some(Link::ControlGroup),
                _ => None,
            },
        ) else {
            continue;
        };
        let fd =
            rustix::fs::open(path, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())
                .ctx("open namespace", path.display())?;
        rustix::thread::move_into_link_name_space(rustix::fd::AsFd::as_fd(&fd), Some(link))
            .ctx(&format!("setns ({})", ns.kind.name()), path.display())?;
    }
    Ok(())
}

/// In the launcher, right before the clone: the pid namespace config.json names by path
/// becomes the one the child is born in. Returns the launcher's own, to go back to.
pub fn enter_pid_namespace(spec: &Spec) -> Result<Option<rustix::fd::OwnedFd>> {
    let Some(path) = spec.namespace(NamespaceKind::Pid).and_then(|n| n.path.as_ref()) else { return Ok(None) };
    let open = |p: &std::path::Path| {
        rustix::fs::open(p, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())
            .ctx("open namespace", p.display())
    };
    let own = open(std::path::Path::new("/proc/self/ns/pid_for_children"))?;
    let target = open(path)?;
    rustix::thread::move_into_link_name_space(
        rustix::fd::AsFd::as_fd(&target),
        Some(rustix::thread::LinkNameSpaceType::ProcessID),
    )
    .ctx("setns (pid)", path.display())?;
    Ok(Some(own))
}

/// Back in the launcher's own pid namespace for its later children (hooks).
pub fn leave_pid_namespace(own: Option<rustix::fd::OwnedFd>) {
    if let Some(fd) = own {
        let _ = rustix::thread::move_into_link_name_space(
            rustix::fd::AsFd::as_fd(&fd),
            Some(rustix::thread::LinkNameSpaceType::ProcessID),
        );
    }
}

/// In the child: its own cgroup namespace, rooted at the cgroups it now sits in.
pub fn enter_cgroup_namespace() -> Result<()> {
    sys::unshare(rustix::thread::UnshareFlags::NEWCGROUP).ctx("unshare", "the cgroup namespace")
}

pub fn set_hostname(name: &str) -> Result<()> {
    rustix::system::sethostname(name.as_bytes()).ctx("sethostname", name)
}

/// The NIS domain name beside the hostname (config.json's domainname), in the
/// container's own UTS namespace.
pub fn set_domainname(name: &str) -> Result<()> {
    rustix::system::setdomainname(name.as_bytes()).ctx("setdomainname", name)
}
