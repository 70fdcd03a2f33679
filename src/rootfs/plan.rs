//! The container's root filesystem as a list of typed operations, generated from the spec
//! without touching anything (the plan half of bubblewrap's plan/execute split): the
//! staging tmpfs, the root's layers or overlay, the spec's mounts in order (the /dev
//! recipe after a /dev tmpfs), the /etc files, masked and read-only paths, then the
//! pivot. `execute.rs` carries the list out in the child's mount namespace.

use crate::etc_files::EtcFiles;
use crate::image::Layer;
use crate::spec::{MountKind, Propagation, RootWrite, Spec};
use rustix::mount::MountFlags;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Cut the new mount namespace off from the host's propagation.
    MakePrivate,
    /// Keep receiving the host's mounts (rootfsPropagation slave or shared): the
    /// root then binds as a slave of the host's peer group, where it has one.
    MakeSlave,
    /// After pivot_root: the container tree's propagation (rootfsPropagation).
    RootPropagation(Propagation),
    /// Mount a filesystem on a host path (the staging tmpfs, layers, the root).
    MountAt {
        fstype: &'static str,
        source: String,
        target: PathBuf,
        flags: MountFlags,
        data: String,
    },
    Mkdir(PathBuf),
    /// Bind a host directory onto a host path (a root written directly).
    BindAt {
        source: PathBuf,
        target: PathBuf,
    },
    /// Attach a detached mount the launcher made (an idmapped layer) on a host path.
    Attach {
        fd: i32,
        target: PathBuf,
    },
    /// Open the new root: every later target is resolved inside it.
    OpenRoot(PathBuf),
    /// Mount a filesystem at a path inside the root (created if missing). proc and
    /// sysfs need a real directory there, not a symlink.
    Mount {
        kind: MountKind,
        source: String,
        destination: String,
        flags: MountFlags,
        data: String,
        propagation: Option<Propagation>,
    },
    /// Bind a host path at a path inside the root (a file or directory, as the source),
    /// then remount it with `flags` (ro, nosuid, ...) when there are any.
    Bind {
        source: PathBuf,
        destination: String,
        recursive: bool,
        flags: MountFlags,
        propagation: Option<Propagation>,
    },
    /// The standard device nodes and links in the /dev at `destination` (mknod as real
    /// root, binds of the host's nodes in a user namespace).
    DeviceNodes {
        destination: String,
        bind: bool,
    },
    /// A device node the spec asks for (mknod; a bind of the host's in a user namespace).
    Node {
        node: crate::spec::DeviceNode,
        bind: bool,
    },
    /// Write a file in the staging area (unless `text` is None: husk keeps that file),
    /// then bind it over a file inside the root; a root where it cannot go (read-only,
    /// foreign owner) simply goes without.
    EtcFile {
        staged: PathBuf,
        text: Option<String>,
        destination: String,
    },
    /// The container's cgroups at `destination` (/sys/fs/cgroup): cgroup2 there, or on a
    /// v1 or hybrid host a tmpfs holding a mount per v1 hierarchy it joined (named by
    /// its controllers) and cgroup2 at `unified`. Each shows the container's cgroup as
    /// its root (the cgroup namespace); read-only unless `writable`.
    Cgroups {
        destination: String,
        view: crate::cgroups::View,
        readonly: bool,
    },
    /// Write a namespaced kernel parameter (net.ipv4.ip_forward) under the root's /proc/sys.
    Sysctl {
        key: String,
        value: String,
    },
    /// Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory.
    Mask(String),
    /// Make a path read-only (a read-only bind of itself).
    ReadOnly(String),
    /// Remount the root itself read-only.
    ReadOnlyRoot,
    /// pivot_root into the root (MS_MOVE + chroot where / is an initramfs).
    Pivot(PathBuf),
}

/// The operations that build `spec`'s root under `staging` from its resolved `layers`.
pub fn plan(
    spec: &Spec,
    layers: &[Layer],
    staging: &Path,
    files: &EtcFiles,
    cgroups: &crate::cgroups::View,
) -> Vec<Op> {
    let root = staging.join("root");
    let receives = matches!(spec.root.propagation, Some(Propagation::Slave | Propagation::Shared));
    let mut ops = vec![
        if receives { Op::MakeSlave } else { Op::MakePrivate },
        Op::MountAt {
            fstype: "tmpfs",
            source: "tmpfs".into(),
            target: staging.to_path_buf(),
            flags: MountFlags::NOSUID | MountFlags::NODEV,
            data: "mode=755".into(),
        },
        Op::Mkdir(root.clone()),
    ];
    root_ops(spec, layers, staging, &root, &mut ops);
    ops.push(Op::OpenRoot(root.clone()));
    for m in &spec.mounts {
        if m.kind == MountKind::Bind {
            ops.push(Op::Bind {
                source: PathBuf::from(&m.source),
                destination: m.destination.clone(),
                recursive: m.options.recursive,
                flags: m.options.flags(),
                propagation: m.options.propagation,
            });
            continue;
        }
        if m.kind == MountKind::Cgroup {
            let mut view = cgroups.clone();
            view.own_namespace = spec.new_namespace(crate::spec::NamespaceKind::Cgroup);
            // v1 hierarchies cannot be mounted from a user namespace; cgroup2 can.
            if spec.user_namespace() {
                view.v1.clear();
            }
            if view.unified || !view.v1.is_empty() {
                ops.push(Op::Cgroups { destination: m.destination.clone(), view, readonly: m.options.readonly });
            }
            continue;
        }
        ops.push(Op::Mount {
            kind: m.kind.clone(),
            source: m.source.clone(),
            destination: m.destination.clone(),
            flags: m.options.flags(),
            data: m.options.data.join(","),
            propagation: m.options.propagation,
        });
        if m.kind == MountKind::Tmpfs && m.destination.trim_end_matches('/') == "/dev" {
            ops.push(Op::DeviceNodes { destination: m.destination.clone(), bind: spec.user_namespace() });
            let bind = spec.user_namespace();
            ops.extend(spec.devices.iter().map(|node| Op::Node { node: node.clone(), bind }));
        }
    }
    // An OCI engine binds its own /etc files (among the mounts above): husk's would cover them.
    // A user's volume there wins too. On a network husk keeps /etc/hosts current in the
    // state directory (network/names.rs): that file is bound, not written.
    if !spec.network.image_etc {
        for (name, text) in
            [("hostname", &files.hostname), ("hosts", &files.hosts), ("resolv.conf", &files.resolv_conf)]
        {
            let destination = format!("/etc/{name}");
            if spec.mounts.iter().any(|m| m.destination == destination) {
                continue;
            }
            let (staged, text) = match &files.hosts_file {
                Some(file) if name == "hosts" => (file.clone(), None),
                _ => (staging.join(name), Some(text.clone())),
            };
            ops.push(Op::EtcFile { staged, text, destination });
        }
    }
    // Before the read-only paths, which usually include /proc/sys.
    ops.extend(spec.sysctl.iter().map(|(key, value)| Op::Sysctl { key: key.clone(), value: value.clone() }));
    ops.extend(spec.masked_paths.iter().map(|p| Op::Mask(p.clone())));
    ops.extend(spec.readonly_paths.iter().map(|p| Op::ReadOnly(p.clone())));
    if spec.root.readonly {
        ops.push(Op::ReadOnlyRoot);
    }
    ops.push(Op::Pivot(root));
    if let Some(p) = spec.root.propagation {
        ops.push(Op::RootPropagation(p));
    }
    ops
}

/// The root: the base layer alone when written directly, otherwise an overlay of every
/// layer (top first in lowerdir) under an upper directory in the staging tmpfs (or the
/// spec's persistent directory). Image layers are mounted read-only in the staging area.
fn root_ops(spec: &Spec, layers: &[Layer], staging: &Path, root: &Path, ops: &mut Vec<Op>) {
    if spec.root.write == RootWrite::Direct {
        ops.push(match layers.first() {
            Some(Layer::Device { path, .. }) => ext4(path, root, false, false),
            Some(Layer::Dir(dir)) => Op::BindAt { source: dir.clone(), target: root.to_path_buf() },
            Some(Layer::Detached(fd)) => Op::Attach { fd: *fd, target: root.to_path_buf() },
            None => return,
        });
        return;
    }
    let mut lower = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        match layer {
            Layer::Dir(dir) => lower.push(dir.clone()),
            Layer::Device { path, clean } => {
                let at = staging.join(format!("layer{i}"));
                ops.push(Op::Mkdir(at.clone()));
                ops.push(ext4(path, &at, true, *clean));
                lower.push(at);
            }
            Layer::Detached(fd) => {
                let at = staging.join(format!("layer{i}"));
                ops.push(Op::Mkdir(at.clone()));
                ops.push(Op::Attach { fd: *fd, target: at.clone() });
                lower.push(at);
            }
        }
    }
    let (upper, work) = match &spec.root.write {
        RootWrite::Persist(dir) => (dir.join("upper"), dir.join("work")),
        _ => (staging.join("upper"), staging.join("work")),
    };
    ops.push(Op::Mkdir(upper.clone()));
    ops.push(Op::Mkdir(work.clone()));
    let lower: Vec<String> = lower.iter().rev().map(|p| escape(p)).collect();
    let mut data = format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), escape(&upper), escape(&work));
    if spec.user_namespace() {
        // Inside a user namespace overlay keeps its whiteouts in user.* xattrs.
        data.push_str(",userxattr");
    }
    ops.push(Op::MountAt {
        fstype: "overlay",
        source: "overlay".into(),
        target: root.to_path_buf(),
        flags: MountFlags::empty(),
        data,
    });
}

/// A read-only layer whose journal is clean is mounted without loading the journal
/// (`noload`): nothing would be replayed, and loading it is a tenth of the mount's time.
fn ext4(device: &str, target: &Path, readonly: bool, clean: bool) -> Op {
    Op::MountAt {
        fstype: "ext4",
        source: device.to_string(),
        target: target.to_path_buf(),
        flags: if readonly { MountFlags::RDONLY } else { MountFlags::empty() },
        data: if readonly && clean { "noload".into() } else { String::new() },
    }
}

/// Overlay options are split on ',' and lowerdir on ':'; both may be escaped.
fn escape(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::*;

    fn spec() -> Spec {
        crate::spec::example()
    }

    fn view() -> crate::cgroups::View {
        crate::cgroups::View { unified: true, v1: vec!["memory".into()], own_namespace: true }
    }

    fn files() -> EtcFiles {
        EtcFiles { hostname: "c\n".into(), hosts: String::new(), resolv_conf: String::new(), hosts_file: None }
    }

    /// One short line per operation, to compare whole plans at a glance.
    fn render(ops: &[Op]) -> Vec<String> {
        ops.iter()
            .map(|op| match op {
                Op::MakePrivate => "private".into(),
                Op::MakeSlave => "slave".into(),
                Op::RootPropagation(p) => format!("root propagation {p:?}"),
                Op::MountAt { fstype, source, target, data, .. } => {
                    format!("mount {fstype} {source} {} {data}", target.display()).trim_ascii_end().to_string()
                }
                Op::Mkdir(p) => format!("mkdir {}", p.display()),
                Op::BindAt { source, target } => format!("bind {} {}", source.display(), target.display()),
                Op::Attach { fd, target } => format!("attach fd{fd} {}", target.display()),
                Op::OpenRoot(p) => format!("root {}", p.display()),
                Op::Mount { kind, destination, data, .. } => {
                    format!("mount {} {destination} {data}", kind.fstype()).trim_ascii_end().to_string()
                }
                Op::Bind { source, destination, flags, .. } => {
                    let ro = if flags.contains(MountFlags::RDONLY) { " ro" } else { "" };
                    format!("bind {} {destination}{ro}", source.display())
                }
                Op::Sysctl { key, value } => format!("sysctl {key}={value}"),
                Op::DeviceNodes { destination, bind } => format!("devices {destination} bind={bind}"),
                Op::Node { node, .. } => format!("node {}", node.path),
                Op::EtcFile { destination, .. } => format!("etc {destination}"),
                Op::Cgroups { destination, view, readonly } => {
                    format!(
                        "cgroups {destination} unified={} v1={}{}",
                        view.unified,
                        view.v1.join(";"),
                        if *readonly { " ro" } else { "" }
                    )
                }
                Op::Mask(p) => format!("mask {p}"),
                Op::ReadOnly(p) => format!("ro {p}"),
                Op::ReadOnlyRoot => "ro-root".into(),
                Op::Pivot(p) => format!("pivot {}", p.display()),
            })
            .collect()
    }

    const TAIL: [&str; 12] = [
        "root /st/root",
        "mount proc /proc",
        "mount sysfs /sys",
        "cgroups /sys/fs/cgroup unified=true v1=memory ro",
        "mount tmpfs /dev mode=755,size=65536k",
        "devices /dev bind=false",
        "mount devpts /dev/pts newinstance,ptmxmode=0666,mode=0620,gid=5",
        "mount tmpfs /dev/shm mode=1777,size=65536k",
        "mount mqueue /dev/mqueue",
        "etc /etc/hostname",
        "etc /etc/hosts",
        "etc /etc/resolv.conf",
    ];

    #[test]
    fn a_default_spec_overlays_the_directory_then_mounts_proc_sys_and_dev() {
        let ops = plan(&spec(), &[Layer::Dir("/srv/alpine".into())], Path::new("/st"), &files(), &view());
        let mut want = vec![
            "private",
            "mount tmpfs tmpfs /st mode=755",
            "mkdir /st/root",
            "mkdir /st/upper",
            "mkdir /st/work",
            "mount overlay overlay /st/root lowerdir=/srv/alpine,upperdir=/st/upper,workdir=/st/work",
        ];
        want.extend(TAIL);
        want.push("pivot /st/root");
        assert_eq!(render(&ops), want);
        let Op::Mount { flags, .. } = &ops[8] else { panic!("{:?}", ops[8]) };
        assert_eq!(*flags, MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC);
    }

    #[test]
    fn an_image_with_layers_mounts_each_read_only_under_one_overlay_top_first() {
        let mut s = spec();
        s.root.source = RootSource::Image("/i/base.ext4".into());
        s.root.layers = vec!["/i/top.ext4".into(), "/l/dir".into()];
        let layers = [
            Layer::Device { path: "/dev/loop3".into(), clean: true },
            Layer::Device { path: "/dev/loop4".into(), clean: false },
            Layer::Dir("/l/dir".into()),
        ];
        let ops = render(&plan(&s, &layers, Path::new("/st"), &files(), &view()));
        assert_eq!(
            ops[3..10],
            [
                "mkdir /st/layer0",
                "mount ext4 /dev/loop3 /st/layer0 noload",
                "mkdir /st/layer1",
                "mount ext4 /dev/loop4 /st/layer1",
                "mkdir /st/upper",
                "mkdir /st/work",
                "mount overlay overlay /st/root lowerdir=/l/dir:/st/layer1:/st/layer0,upperdir=/st/upper,workdir=/st/work",
            ]
        );
        assert_eq!(ops[10..22], TAIL);
    }

    #[test]
    fn idmapped_layers_are_attached_from_the_launchers_descriptors_under_the_overlay() {
        let mut s = spec();
        s.namespaces.push(Namespace { kind: NamespaceKind::User, path: None });
        let ops = render(&plan(&s, &[Layer::Detached(7), Layer::Detached(8)], Path::new("/st"), &files(), &view()));
        assert_eq!(
            ops[3..10],
            [
                "mkdir /st/layer0",
                "attach fd7 /st/layer0",
                "mkdir /st/layer1",
                "attach fd8 /st/layer1",
                "mkdir /st/upper",
                "mkdir /st/work",
                "mount overlay overlay /st/root lowerdir=/st/layer1:/st/layer0,upperdir=/st/upper,workdir=/st/work,userxattr",
            ]
        );
        s.root.write = RootWrite::Direct;
        let ops = render(&plan(&s, &[Layer::Detached(7)], Path::new("/st"), &files(), &view()));
        assert_eq!(ops[3..5], ["attach fd7 /st/root", "root /st/root"]);
    }

    #[test]
    fn the_cgroup_mount_shows_what_the_container_joined_and_is_writable_only_when_delegated() {
        let cgroups = |s: &Spec, view: &crate::cgroups::View| -> Vec<String> {
            let ops = render(&plan(s, &[Layer::Dir("/r".into())], Path::new("/st"), &files(), view));
            ops.into_iter().filter(|o| o.starts_with("cgroups")).collect()
        };
        let mut s = spec();
        assert_eq!(cgroups(&s, &view()), ["cgroups /sys/fs/cgroup unified=true v1=memory ro"]);
        assert!(cgroups(&s, &crate::cgroups::View::default()).is_empty(), "no cgroups, no mount");
        // A user namespace: cgroup2 only (v1 cannot be mounted there), delegated, writable.
        s.namespaces.push(Namespace { kind: NamespaceKind::User, path: None });
        s.mounts = default_mounts(true, false);
        assert_eq!(cgroups(&s, &view()), ["cgroups /sys/fs/cgroup unified=true v1="]);
        // Privileged: writable.
        s.mounts = default_mounts(false, true);
        s.namespaces.pop();
        assert_eq!(cgroups(&s, &view()), ["cgroups /sys/fs/cgroup unified=true v1=memory"]);
    }

    #[test]
    fn volumes_follow_the_default_mounts_and_read_only_ones_say_so() {
        let mut s = spec();
        s.mounts.push(bind_mount(Path::new("/data"), "/srv", false));
        s.mounts.push(bind_mount(Path::new("/etc/motd"), "/motd", true));
        let ops = render(&plan(&s, &[Layer::Dir("/srv/alpine".into())], Path::new("/st"), &files(), &view()));
        let at = ops.iter().position(|o| o == "mount mqueue /dev/mqueue").unwrap();
        assert_eq!(ops[at + 1..at + 4], ["bind /data /srv", "bind /etc/motd /motd ro", "etc /etc/hostname"]);
    }

    #[test]
    fn a_root_written_directly_is_bound_without_an_overlay() {
        let mut s = spec();
        s.root.write = RootWrite::Direct;
        let ops = render(&plan(&s, &[Layer::Dir("/srv/alpine".into())], Path::new("/st"), &files(), &view()));
        assert_eq!(ops[3], "bind /srv/alpine /st/root");
        assert_eq!(ops[4..16], TAIL);
        assert!(!ops.iter().any(|o| o.contains("overlay")));
    }

    #[test]
    fn a_user_namespace_binds_devices_and_overlay_uses_user_xattrs() {
        let mut s = spec();
        s.namespaces = default_namespaces(&NetworkMode::None, true);
        s.mounts = default_mounts(true, false);
        let ops = render(&plan(&s, &[Layer::Dir("/r".into())], Path::new("/st"), &files(), &view()));
        assert!(ops.iter().any(|o| o.ends_with(",userxattr")));
        assert!(ops.contains(&"devices /dev bind=true".to_string()));
        assert!(ops.contains(&"mount devpts /dev/pts newinstance,ptmxmode=0666,mode=0620".to_string()));
    }

    #[test]
    fn masked_and_read_only_paths_come_last_before_the_pivot() {
        let mut s = spec();
        s.masked_paths = vec!["/proc/kcore".into()];
        s.readonly_paths = vec!["/proc/sys".into()];
        s.root.readonly = true;
        let ops = render(&plan(&s, &[Layer::Dir("/r".into())], Path::new("/st"), &files(), &view()));
        let n = ops.len();
        assert_eq!(ops[n - 4..], ["mask /proc/kcore", "ro /proc/sys", "ro-root", "pivot /st/root"]);
    }

    #[test]
    fn an_oci_spec_keeps_the_engines_etc_files_and_writes_sysctls_before_read_only_paths() {
        let mut s = spec();
        s.network.image_etc = true;
        s.sysctl = vec![("net.ipv4.ping_group_range".into(), "0 0".into())];
        s.readonly_paths = vec!["/proc/sys".into()];
        let mut shm = bind_mount(Path::new("/run/shm"), "/dev/shm", false);
        (shm.options.recursive, shm.options.nosuid, shm.options.noexec) = (false, true, true);
        shm.options.propagation = Some(Propagation::Slave);
        s.mounts.push(shm);
        let ops = plan(&s, &[Layer::Dir("/r".into())], Path::new("/st"), &files(), &view());
        let text = render(&ops);
        assert!(!text.iter().any(|o| o.starts_with("etc ")), "{text:?}");
        let n = text.len();
        assert_eq!(text[n - 3..], ["sysctl net.ipv4.ping_group_range=0 0", "ro /proc/sys", "pivot /st/root"]);
        let Some(Op::Bind { flags, propagation, recursive, .. }) =
            ops.iter().rev().find(|o| matches!(o, Op::Bind { .. }))
        else {
            panic!("no bind in {text:?}")
        };
        assert_eq!(
            (*flags, *propagation, *recursive),
            (MountFlags::NOSUID | MountFlags::NOEXEC, Some(Propagation::Slave), false)
        );
    }
}
