//! The container's /sys/fs/cgroup: its own cgroups, mounted after the child entered its
//! cgroup namespace, so every mount shows the container's cgroup as the root (as docker
//! does). Java, Go, .NET and Node size their heaps and threads from these files; a
//! runtime inside uses them to make cgroups of its own.

use super::{mount, real_dir, reopen};
use crate::cgroups::View;
use crate::error::{Error, Result};
use crate::mounts;
use rustix::fd::OwnedFd;
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::mount::MountFlags;
use std::path::{Path, PathBuf};

pub fn mount_cgroups(root: &OwnedFd, name: &Path, destination: &str, view: &View, readonly: bool) -> Result<()> {
    if view.own_namespace {
        return mount_all(root, name, destination, view, readonly);
    }
    // No cgroup namespace of its own (podman's config.json lists none on a cgroup v1
    // host): the mounts are made in a namespace entered for them alone, so they still
    // show the container's cgroups as their roots (what runc and crun bind there), and
    // the init goes back to the namespace it was given. A mount keeps the root it was
    // made with.
    let own = |e| Error::sys("open", "/proc/self/ns/cgroup", e);
    let given = rustix::fs::open(
        "/proc/self/ns/cgroup",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(own)?;
    crate::namespaces::enter_cgroup_namespace()?;
    let mounted = mount_all(root, name, destination, view, readonly);
    // In a user namespace the way back needs privilege over the host's namespace, which
    // the container's root lacks: it then keeps the one made here, rooted at its own
    // cgroups (more isolated than it asked, never less).
    let _ = rustix::thread::move_into_link_name_space(
        rustix::fd::AsFd::as_fd(&given),
        Some(rustix::thread::LinkNameSpaceType::ControlGroup),
    );
    mounted
}

fn mount_all(root: &OwnedFd, name: &Path, destination: &str, view: &View, readonly: bool) -> Result<()> {
    let shown = name.join(destination.trim_start_matches('/'));
    let target = match real_dir(root, name, destination) {
        Ok(fd) => fd,
        // A /sys without fs/cgroup (the kernel has no cgroups): nothing to show.
        Err(Error { errno: Some(Errno::NOENT), .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let at = PathBuf::from(mounts::fd_path(&target));
    let base = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    let flags = if readonly { base | MountFlags::RDONLY } else { base };
    if view.v1.is_empty() {
        return mount("cgroup2", "cgroup2", &at, flags, "", &shown);
    }
    // v1 or hybrid: a tmpfs of mount points, one per hierarchy, as docker lays it out.
    mount("tmpfs", "tmpfs", &at, base, "mode=755,size=64k", &shown)?;
    let dir = reopen(root, destination, name)?;
    let mut points: Vec<(&str, &str)> = view.v1.iter().map(|c| (c.as_str(), "cgroup")).collect();
    if view.unified {
        points.push(("unified", "cgroup2"));
    }
    for (point, fstype) in points {
        rustix::fs::mkdirat(&dir, point, Mode::from(0o755))
            .map_err(|e| Error::sys("mkdir", shown.join(point).display(), e))?;
        let data = if fstype == "cgroup" { point } else { "" };
        let target = PathBuf::from(format!("{}/{point}", mounts::fd_path(&dir)));
        mount(fstype, fstype, &target, flags, data, &shown.join(point))?;
        // "cpu,cpuacct" is also reachable as cpu and cpuacct.
        if point.contains(',') {
            for alias in point.split(',') {
                let _ = rustix::fs::symlinkat(point, &dir, alias);
            }
        }
    }
    if readonly {
        mounts::remount_readonly(Path::new(&mounts::fd_path(&reopen(root, destination, name)?)))?;
    }
    Ok(())
}
