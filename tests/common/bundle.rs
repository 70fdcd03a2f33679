//! OCI bundles of the Alpine image for the OCI tests (tests/oci.rs, tests/oci_config.rs):
//! a config.json as `runc spec` writes it, the verbs run with the state root of the
//! test, and what the test process needs to be the caller conmon or the shim would be
//! (a child subreaper, reaping the re-parented init).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A bundle: config.json beside a `rootfs` link to the Alpine tree.
pub struct Bundle {
    pub dir: PathBuf,
    pub root: PathBuf,
}

pub fn setup(test: &str) -> Option<Bundle> {
    if !super::can_run(test) {
        return None;
    }
    // The init of a created container is re-parented to us when `husk create` exits.
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap();
    let dir = super::temp_dir(test);
    std::os::unix::fs::symlink(super::alpine(), dir.join("rootfs")).unwrap();
    Some(Bundle { dir, root: super::state_root(test) })
}

pub fn json_strings(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{:?}", s)).collect();
    format!("[{}]", quoted.join(","))
}

/// A config.json as `runc spec` writes it (no terminal), running `args`, with extra
/// members spliced into the top level, `process` and `linux`.
pub fn config(args: &[&str], top: &str, process: &str, linux: &str) -> String {
    format!(
        r#"{{
  "ociVersion": "1.0.2-dev",
  "process": {{
    "terminal": false, "user": {{"uid": 0, "gid": 0}}, "args": {args},
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "cwd": "/",
    "capabilities": {{"bounding": ["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"]}},
    "noNewPrivileges": true {process}
  }},
  "root": {{"path": "rootfs", "readonly": true}},
  "hostname": "oci",
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","strictatime","mode=755","size=65536k"]}},
    {{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]}},
    {{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid","noexec","nodev","mode=1777","size=65536k"]}},
    {{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid","noexec","nodev"]}},
    {{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid","noexec","nodev","ro"]}},
    {{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","nodev"]}}
  ] {top},
  "linux": {{
    "resources": {{"devices": [{{"allow": false, "access": "rwm"}}]}},
    "namespaces": [{{"type": "pid"}}, {{"type": "network"}}, {{"type": "ipc"}}, {{"type": "uts"}}, {{"type": "mount"}}, {{"type": "cgroup"}}],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"] {linux}
  }}
}}"#,
        args = json_strings(args),
    )
}

impl Bundle {
    pub fn write(&self, config: &str) {
        std::fs::write(self.dir.join("config.json"), config).unwrap();
    }

    pub fn husk(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(super::husk());
        cmd.arg("--root").arg(&self.root).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs a verb; stdout and stderr through files, since the container's init keeps
    /// the stdio `create` had (pipes would stay open as long as it lives).
    pub fn verb(&self, args: &[&str]) -> (i32, String, String) {
        let out = super::temp_dir("out");
        let (o, e) = (out.join("o"), out.join("e"));
        let status = self
            .husk(args)
            .stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap())
            .status()
            .unwrap();
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        (status.code().unwrap_or(-1), read(&o), read(&e))
    }

    pub fn create(&self, id: &str, extra: &[&str], stdout: &Path) -> (i32, String) {
        let bundle = self.dir.to_str().unwrap();
        let mut args = vec!["create", "--bundle", bundle];
        args.extend_from_slice(extra);
        args.push(id);
        let err = self.dir.join(format!("{id}.create-err"));
        let status = self
            .husk(&args)
            .stdout(std::fs::File::create(stdout).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        (status.code().unwrap_or(-1), std::fs::read_to_string(&err).unwrap_or_default())
    }

    /// `husk run --bundle` in the foreground: its exit code and the container's stdout.
    pub fn run(&self, id: &str) -> (Option<i32>, String) {
        let out = self.dir.join(format!("{id}.out"));
        let bundle = self.dir.to_str().unwrap();
        let status = self.husk(&["run", "--bundle", bundle, id]).stdout(std::fs::File::create(&out).unwrap()).status();
        (status.unwrap().code(), std::fs::read_to_string(&out).unwrap_or_default())
    }

    pub fn status(&self, id: &str) -> String {
        let (_, out, _) = self.verb(&["state", id]);
        field(&out, "status")
    }
}

/// A string or number member of a flat JSON object, as text.
pub fn field(json: &str, key: &str) -> String {
    let Some(at) = json.find(&format!("\"{key}\":")) else { return String::new() };
    let rest = json[at + key.len() + 3..].trim_start();
    match rest.strip_prefix('"') {
        Some(s) => s[..s.find('"').unwrap_or(0)].to_string(),
        None => rest.chars().take_while(|c| c.is_ascii_digit()).collect(),
    }
}

/// Waits for our re-parented child `pid` and returns its exit code (128+N if killed).
pub fn reap(pid: i32) -> i32 {
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    let (_, status) = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()).unwrap().unwrap();
    status.exit_status().or(status.terminating_signal().map(|s| 128 + s)).unwrap()
}

pub fn wait_for(path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

pub fn bind(host: &Path, dest: &str) -> String {
    format!(
        r#", {{"destination": "{dest}", "type": "bind", "source": "{}", "options": ["rbind","rw"]}}"#,
        host.display()
    )
}

/// `config` with `extra` mount entries appended to its mounts.
pub fn with_mounts(config: String, extra: &str) -> String {
    let end = config.find("\n  ] ").unwrap();
    format!("{}{extra}{}", &config[..end], &config[end..])
}
