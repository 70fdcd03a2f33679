//! Shared by the integration tests: the husk binary, the Alpine root filesystem
//! (extracted once per test binary, checksum verified), and runs with a private state
//! root so tests never see each other's containers.
#![allow(dead_code)]

pub mod bundle;
pub mod netenv;
pub mod oci_image;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const TARBALL_ENV: &str = "HUSK_ALPINE_TARBALL";

pub fn husk() -> PathBuf {
    std::env::var_os("HUSK_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_husk")))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The reference tarball: $HUSK_ALPINE_TARBALL, else ../shared/images beside the checkout.
pub fn tarball() -> Option<PathBuf> {
    let path = std::env::var_os(TARBALL_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz"));
    path.exists().then_some(path)
}

/// Whether the test can run: as root, with the tarball. Prints why not.
pub fn can_run(test: &str) -> bool {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED {test}: needs root (namespaces, mounts)");
        return false;
    }
    if tarball().is_none() {
        eprintln!("SKIPPED {test}: Alpine tarball not found (set {TARBALL_ENV})");
        return false;
    }
    true
}

/// The Alpine tree, extracted once per test binary after checking its sha512.
pub fn alpine() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tarball = tarball().expect("tarball checked by can_run");
        let sums = PathBuf::from(format!("{}.sha512", tarball.display()));
        if sums.exists() {
            let expected = std::fs::read_to_string(&sums).unwrap();
            let expected = expected.split_whitespace().next().unwrap().to_string();
            let out = Command::new("sha512sum").arg(&tarball).output().unwrap();
            let actual = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string();
            assert_eq!(actual, expected, "{} does not match its .sha512", tarball.display());
        }
        sweep_dead_runs();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("alpine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("tar").arg("-xzf").arg(&tarball).arg("-C").arg(&dir).status().unwrap().success();
        assert!(ok, "extracting {} failed", tarball.display());
        // World-traversable so the rootless test's user can reach it.
        let mut p = dir.clone();
        while p.pop() {
            let _ = Command::new("chmod").arg("o+x").arg(&p).status();
        }
        dir
    })
    .clone()
}

/// Removes what earlier test processes left in the scratch directory (each names its
/// directories with its pid: the Alpine tree is per process because some tests write
/// into it): without this every `cargo test` would leave another few hundred MB.
fn sweep_dead_runs() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let parts: Vec<&str> = name.split('-').collect();
        let pid = match parts.as_slice() {
            ["husk", "test", pid, ..] => pid,
            [first, .., last] if ["alpine", "state", "images"].contains(first) => last,
            _ => continue,
        };
        if pid.parse::<u32>().is_ok_and(|p| p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh state root for one test.
pub fn state_root(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("state-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `husk run --rootfs ALPINE EXTRA... -- ARGV...` with its own state root.
pub fn run_cmd(test: &str, extra: &[&str], argv: &[&str]) -> Command {
    let mut cmd = Command::new(husk());
    cmd.env("HUSK_ROOT", state_root(test)).arg("run").arg("--rootfs").arg(alpine()).args(extra).arg("--").args(argv);
    cmd.stdin(Stdio::null());
    cmd
}

pub fn run(test: &str, extra: &[&str], argv: &[&str]) -> Output {
    run_cmd(test, extra, argv).output().unwrap()
}

/// Runs `sh -c script` in a container and returns (stdout, exit code); stderr is shown
/// on failure to make assertions readable.
pub fn sh(test: &str, extra: &[&str], script: &str) -> (String, i32) {
    sh_with(test, extra, script, false)
}

/// As `sh`, optionally forcing the clone(2) fallback instead of clone3.
pub fn sh_with(test: &str, extra: &[&str], script: &str, clone_fallback: bool) -> (String, i32) {
    let mut cmd = run_cmd(test, extra, &["/bin/sh", "-c", script]);
    if clone_fallback {
        cmd.env("HUSK_FORCE_CLONE", "1");
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.is_empty() {
        eprintln!("[{test}] stderr: {stderr}");
    }
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

pub fn host(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// A fresh directory under the test target's temp dir, unique per call.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("husk-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Alpine tree, or None after a loud SKIPPED line when the tarball is missing.
pub fn alpine_rootfs(test: &str) -> Option<PathBuf> {
    if tarball().is_none() {
        eprintln!("SKIPPED: {test}: no Alpine tarball (set {TARBALL_ENV})");
        return None;
    }
    Some(alpine())
}

/// `husk run --rootfs ROOTFS` with its own state root.
pub fn husk_run(state_root: &Path, rootfs: &Path) -> Command {
    let mut cmd = Command::new(husk());
    cmd.env("HUSK_ROOT", state_root).arg("run").arg("--rootfs").arg(rootfs);
    cmd
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// rootfs-builder: $ROOTFS_BUILDER, else the one beside husk (built when missing).
pub fn builder() -> PathBuf {
    if let Some(path) = std::env::var_os("ROOTFS_BUILDER") {
        return PathBuf::from(path);
    }
    let sibling = husk().with_file_name("rootfs-builder");
    if !sibling.exists() {
        let ok = Command::new(env!("CARGO")).args(["build", "-q", "-p", "rootfs-builder"]).status().unwrap().success();
        assert!(ok, "building rootfs-builder failed");
    }
    sibling
}

/// An ext4 image of `tar`, made by rootfs-builder.
pub fn build_image(tar: &Path, out: &Path) {
    let res = Command::new(builder()).arg("-q").arg(tar).arg("-o").arg(out).output().unwrap();
    assert!(res.status.success(), "rootfs-builder: {}", String::from_utf8_lossy(&res.stderr));
}

/// tests/NAME.c built static with gcc into a swept scratch directory; None without a C
/// compiler (the caller says SKIPPED).
pub fn build_static_c(name: &str) -> Option<PathBuf> {
    let out = temp_dir(name).join(name);
    let built = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&out)
        .arg(repo().join(format!("tests/{name}.c")))
        .status()
        .is_ok_and(|s| s.success());
    built.then_some(out)
}

/// The machine-wide lock every suite that makes containers, mounts, cgroups or network
/// namespaces shares with bench/run (`flock /tmp/husk-priv.lock`), held until the guard
/// drops. Not taken again when an ancestor of this process already holds it (a run
/// under `flock /tmp/husk-priv.lock cargo test ...`): that would wait forever.
/// The descriptor is close-on-exec, so daemons a test starts do not inherit the lock.
pub fn machine_lock() -> Option<std::fs::File> {
    use std::os::unix::fs::MetadataExt;
    const LOCK: &str = "/tmp/husk-priv.lock";
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(LOCK).unwrap();
    let ino = file.metadata().unwrap().ino();
    if held_by_an_ancestor(ino) {
        return None;
    }
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).unwrap();
    Some(file)
}

/// Whether /proc/locks shows a granted flock on inode `ino` whose owner is an ancestor of
/// this process. Not this process itself: there the holder is another test's thread,
/// to be waited for.
fn held_by_an_ancestor(ino: u64) -> bool {
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let holders: Vec<u32> = locks
        .lines()
        .filter(|l| !l.contains("->"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // "1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END"
            (f.get(1) == Some(&"FLOCK") && f.get(5)?.rsplit(':').next()? == ino.to_string())
                .then(|| f.get(4)?.parse().ok())?
        })
        .collect();
    let mut pid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32);
    while pid > 1 {
        if holders.contains(&pid) {
            return true;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The parent pid is the second field after the parenthesised command name.
        pid = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0);
    }
    false
}
