//! The world of a network test: every test re-executes itself under `unshare --net
//! --mount`, so bridges, veths, nf_tables rules and packets live only in a throwaway
//! network namespace the test made (it plays the host); the machine's interfaces are
//! never touched. Each test has its own HUSK_ROOT and Alpine rootfs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const INNER: &str = "HUSK_NETWORK_TEST_INNER";
pub const HUSK: &str = env!("CARGO_BIN_EXE_husk");

/// A test's world inside its own network namespace.
pub struct Env {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub state: PathBuf,
}

/// In the outer process: runs `name` again inside a new network and mount namespace and
/// returns None. In that inner run: returns the test's environment.
pub fn enter(name: &str) -> Option<Env> {
    if std::env::var_os(INNER).is_none() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIPPED: {name}: needs root (network namespaces, bridges)");
            return None;
        }
        if tarball().is_none() {
            eprintln!("SKIPPED: {name}: no Alpine minirootfs tarball (set HUSK_ALPINE_TARBALL)");
            return None;
        }
        let exe = std::env::current_exe().unwrap();
        let out = Command::new("unshare")
            .args(["--net", "--mount", "--"])
            .arg(exe)
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(INNER, "1")
            .output()
            .expect("run unshare");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        print!("{stdout}");
        eprint!("{stderr}");
        assert!(out.status.success(), "{name} failed inside its network namespace");
        assert!(stdout.contains("1 passed"), "{name} did not run inside its network namespace");
        return None;
    }
    sh("ip link set lo up");
    let dir = PathBuf::from(format!("/tmp/husk-nettest-{}", std::process::id()));
    let rootfs = dir.join("rootfs");
    let state = dir.join("state");
    std::fs::create_dir_all(&rootfs).unwrap();
    let tar = tarball().unwrap();
    let ok = Command::new("tar").arg("xzf").arg(&tar).arg("-C").arg(&rootfs).status().unwrap().success();
    assert!(ok, "extract {}", tar.display());
    Some(Env { dir, rootfs, state })
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn tarball() -> Option<PathBuf> {
    let path = match std::env::var_os("HUSK_ALPINE_TARBALL") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz"),
    };
    path.is_file().then_some(path)
}

impl Env {
    pub fn husk(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(HUSK);
        cmd.env("HUSK_ROOT", &self.state).args(args);
        cmd
    }

    /// `husk run --rootfs ROOTFS ARGS...`
    pub fn run(&self, args: &[&str]) -> Command {
        let mut cmd = self.husk(&["run", "--rootfs"]);
        cmd.arg(&self.rootfs).args(args);
        cmd
    }

    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args).output().unwrap();
        assert!(out.status.success(), "husk run {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A container running in the background; stopped (SIGTERM, forwarded) when dropped.
    pub fn start(&self, args: &[&str]) -> Bg {
        let child = self.run(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        Bg(Some(child))
    }

    /// Nothing of husk's left: no veth, no lease, no container state.
    pub fn assert_clean(&self) {
        assert_eq!(husk_veths(), Vec::<String>::new(), "veths left behind");
        let networks = self.state.join("networks");
        if let Ok(dir) = std::fs::read_dir(&networks) {
            for entry in dir.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".leases") {
                    let text = std::fs::read_to_string(entry.path()).unwrap();
                    assert_eq!(text, "", "leases left in {name}");
                }
            }
        }
        if let Ok(dir) = std::fs::read_dir(&self.state) {
            let left: Vec<String> = dir
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "networks")
                .collect();
            assert!(left.is_empty(), "container state left: {left:?}");
        }
    }

    pub fn network_rm(&self, bridge: &str) {
        let out = self.husk(&["network", "rm", bridge]).output().unwrap();
        assert!(out.status.success(), "husk network rm {bridge}: {}", text(&out));
        assert!(!links().contains(&bridge.to_string()), "bridge {bridge} still there after rm");
    }
}

pub struct Bg(pub Option<Child>);

impl Bg {
    /// Stops the container and returns what it printed.
    pub fn stop(&mut self) -> Output {
        let child = self.0.take().unwrap();
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        child.wait_with_output().unwrap()
    }

    pub fn wait(&mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if self.0.is_some() {
            self.stop();
        }
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn sh(script: &str) -> String {
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "{script}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Interface names in the test's namespace.
pub fn links() -> Vec<String> {
    sh("ip -o link")
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap().to_string())
        .collect()
}

/// husk's veth host ends: "husk" and 8 hex digits.
pub fn husk_veths() -> Vec<String> {
    links()
        .into_iter()
        .filter(|n| n.len() == 12 && n.starts_with("husk") && n[4..].bytes().all(|b| b.is_ascii_hexdigit()))
        .collect()
}

/// Pings from the test's namespace (the host's busybox) until `ip` answers.
pub fn wait_reachable(ip: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let ok = Command::new("/bin/busybox").args(["ping", "-c1", "-W1", ip]).output().unwrap().status.success();
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{ip} never became reachable");
}

pub fn ping_from_host(ip: &str) -> bool {
    Command::new("/bin/busybox").args(["ping", "-c1", "-W2", ip]).output().unwrap().status.success()
}
