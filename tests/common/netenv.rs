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
    /// A failed test's detached containers would outlive its namespace (their cgroups
    /// and supervisors are the machine's): removed first.
    fn drop(&mut self) {
        if let Ok(out) = self.husk(&["ps", "-a", "-q"]).output() {
            for name in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = self.husk(&["rm", "-f", name]).output();
            }
        }
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

    /// Nothing of husk's left: no veth, no lease, no container state. A veth goes with
    /// its container's namespace, which the kernel tears down a few milliseconds after
    /// the container's last process: waited for, up to 5 s.
    pub fn assert_clean(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !husk_veths().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
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

/// A second network namespace playing "the outside world": 192.0.2.2 on a veth whose
/// other end, 192.0.2.1, is in the test's namespace (the host), and 198.51.100.1 behind
/// it (routed, not on the host's link), with a busybox httpd serving `page` on port 80.
/// Removed when dropped.
pub struct Outside {
    pub ns: PathBuf,
    httpd: Child,
}

pub const HOST_ADDR: &str = "192.0.2.1";
pub const OUTSIDE_ADDR: &str = "192.0.2.2";
pub const ROUTED_ADDR: &str = "198.51.100.1";

impl Outside {
    pub fn new(env: &Env, page: &str) -> Outside {
        let ns = env.dir.join("outside-ns");
        let www = env.dir.join("outside-www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.html"), page).unwrap();
        std::fs::write(&ns, "").unwrap();
        let ns_s = ns.display();
        sh(&format!(
            "unshare --net={ns_s} true && ip link add hkout type veth peer name hkin netns {ns_s} && \
             ip addr add {HOST_ADDR}/24 dev hkout && ip link set hkout up && \
             ip route add {ROUTED_ADDR}/32 via {OUTSIDE_ADDR} && \
             nsenter --net={ns_s} sh -c 'ip link set lo up && ip addr add {OUTSIDE_ADDR}/24 dev hkin && \
             ip addr add {ROUTED_ADDR}/32 dev lo && ip link set hkin up && ip route add default via {HOST_ADDR}'"
        ));
        let httpd = Command::new("nsenter")
            .arg(format!("--net={ns_s}"))
            .args(["busybox", "httpd", "-f", "-p", "80", "-h"])
            .arg(&www)
            .spawn()
            .unwrap();
        let out = Outside { ns, httpd };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !out.sh_ok(&format!("timeout 2 busybox wget -q -O /dev/null http://{OUTSIDE_ADDR}/")) {
            assert!(Instant::now() < deadline, "the outside httpd did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        out
    }

    /// Runs `script` in the host namespace; whether it succeeded.
    pub fn sh_ok(&self, script: &str) -> bool {
        Command::new("sh").args(["-c", script]).output().unwrap().status.success()
    }

    /// Runs `script` inside the outside namespace and returns its output and success.
    pub fn inside(&self, script: &str) -> (bool, String) {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.ns.display()))
            .args(["sh", "-c", script])
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.httpd.kill();
        let _ = self.httpd.wait();
        let _ = Command::new("umount").arg(&self.ns).status();
    }
}
