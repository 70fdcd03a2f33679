//! Detached containers and the verbs that manage them, crash recovery, leaks and
//! concurrency — against real containers, each test with its own state root.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Husk {
    root: PathBuf,
}

impl Husk {
    fn new(test: &str) -> Husk {
        Husk { root: state_root(test) }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(husk());
        cmd.env("HUSK_ROOT", &self.root).args(args).stdin(Stdio::null());
        cmd
    }

    fn out(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// stdout of a command that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.out(args);
        assert!(out.status.success(), "husk {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `husk run -d --name NAME --rootfs ALPINE -- sh -c SCRIPT`
    fn detach(&self, name: &str, script: &str) -> String {
        let rootfs = alpine();
        self.ok(&["run", "-d", "--name", name, "--rootfs", rootfs.to_str().unwrap(), "--", "sh", "-c", script])
    }

    /// `detach`, then waits until the script has printed "started" to its log: signal
    /// traps set before that line are in place when the caller sends a signal.
    fn detach_ready(&self, name: &str, script: &str) -> String {
        let printed = self.detach(name, script);
        wait_until("the command's \"started\" line", Duration::from_secs(5), || {
            self.ok(&["logs", name]).contains("started")
        });
        printed
    }

    fn status(&self, name: &str) -> String {
        let json = self.ok(&["inspect", "--raw", name]);
        let at = json.find("\"status\":\"").unwrap() + 10;
        json[at..at + json[at..].find('"').unwrap()].to_string()
    }

    fn entries(&self) -> usize {
        std::fs::read_dir(&self.root).map(|d| d.count()).unwrap_or(0)
    }
}

fn wait_until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn detached_containers_are_listed_entered_logged_stopped_and_removed() {
    if !can_run("verbs") {
        return;
    }
    let h = Husk::new("verbs");
    let t = Instant::now();
    let printed = h.detach_ready("web", "trap 'echo got-term; exit 7' TERM; echo started; while :; do sleep 0.1; done");
    assert_eq!(printed, "web\n");
    assert!(t.elapsed() < Duration::from_secs(2), "run -d did not return promptly");

    // ps: table, JSON, names.
    let table = h.ok(&["ps"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "STATUS", "PID", "UPTIME", "IMAGE", "IP", "PORTS", "MEMORY"]);
    assert!(table.lines().nth(1).unwrap().starts_with("web   running"), "{table}");
    // docker's --format json (rootfs-builder's): a JSON line each, members sorted.
    let json = h.ok(&["ps", "--format", "json"]);
    assert!(json.starts_with("{\"Command\":\"\\\"sh -c") && json.contains("\"Names\":\"web\""), "{json}");
    assert_eq!(h.ok(&["ps", "-q"]), "web\n");

    // exec shares the PID namespace, the hostname and the filesystem.
    let seen =
        h.ok(&["exec", "web", "sh", "-c", "hostname; ps -o pid,comm | awk 'NR==2{print $1, $2}'; echo x > /shared"]);
    assert_eq!(seen, "web\n1 husk\n");
    assert_eq!(h.ok(&["exec", "web", "cat", "/shared"]), "x\n");
    let code = h.out(&["exec", "web", "sh", "-c", "exit 9"]).status.code();
    assert_eq!(code, Some(9), "exec returns the command's status");
    assert_eq!(h.out(&["exec", "web", "no-such-cmd"]).status.code(), Some(127));
    assert_eq!(
        h.ok(&["exec", "-e", "A=b", "-w", "/tmp", "-u", "1000:1000", "web", "sh", "-c", "echo $A $(pwd) $(id -u)"]),
        "b /tmp 1000\n"
    );
    assert_eq!(h.ok(&["exec", "-u", "daemon", "web", "sh", "-c", "echo $(id -u) $(id -G) $HOME"]), "2 2 1 4 /sbin\n");

    // logs, and logs -f following until exit.
    assert_eq!(h.ok(&["logs", "web"]), "started\n");
    let follow = h.cmd(&["logs", "-f", "web"]).stdout(Stdio::piped()).spawn().unwrap();

    // stop: SIGTERM reaches the command, which exits with its own code.
    let t = Instant::now();
    assert_eq!(h.ok(&["stop", "web"]), "web\n");
    assert!(t.elapsed() < Duration::from_secs(3));
    let followed = follow.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&followed.stdout), "started\ngot-term\n", "logs -f saw the end");
    assert_eq!(h.status("web"), "exited (7)");
    assert_eq!(h.ok(&["wait", "web"]), "7\n");
    assert!(h.ok(&["ps"]).lines().count() == 1, "exited containers only with -a");
    assert!(h.ok(&["ps", "-a"]).contains("exited (7)"));
    assert_eq!(h.ok(&["logs", "--tail", "1", "web"]), "got-term\n");

    assert_eq!(h.ok(&["rm", "web"]), "web\n");
    assert_eq!(h.entries(), 0);
}

#[test]
fn stop_kills_a_container_that_ignores_sigterm_after_the_timeout() {
    if !can_run("stop-timeout") {
        return;
    }
    let h = Husk::new("stop-timeout");
    h.detach_ready("stubborn", "trap '' TERM; echo started; while :; do sleep 0.1; done");
    let t = Instant::now();
    h.ok(&["stop", "-t", "1", "stubborn"]);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(2500), "stop -t 1 took {took:?}");
    assert_eq!(h.status("stubborn"), "killed (SIGKILL)");
    h.ok(&["rm", "stubborn"]);
}

#[test]
fn kill_sends_the_signal_and_wait_prints_the_code() {
    if !can_run("kill") {
        return;
    }
    let h = Husk::new("kill");
    h.detach_ready("k", "trap 'exit 3' USR1; echo started; while :; do sleep 0.1; done");
    h.ok(&["kill", "-s", "USR1", "k"]);
    assert_eq!(h.ok(&["wait", "k"]), "3\n");
    h.detach("k2", "while :; do sleep 0.1; done");
    h.ok(&["kill", "k2"]);
    assert_eq!(h.ok(&["wait", "k2"]), "137\n");
    // --rm: removed at exit.
    let rootfs = alpine();
    h.ok(&["run", "-d", "--rm", "--name", "gone", "--rootfs", rootfs.to_str().unwrap(), "--", "true"]);
    wait_until("--rm entry removal", Duration::from_secs(5), || !h.root.join("gone").exists());
    h.ok(&["rm", "k", "k2"]);
    assert_eq!(h.entries(), 0);
}

#[test]
fn bad_input_is_refused_clearly_and_damages_nothing() {
    if !can_run("lc-bad") {
        return;
    }
    let h = Husk::new("lc-bad");
    h.detach("up", "while :; do sleep 0.1; done");
    let rootfs = alpine();
    // docker's codes: 1 when a management verb fails, 125 for a bad flag or a run that
    // cannot be made.
    let bad: Vec<(Vec<&str>, &str, i32)> = vec![
        (vec!["stop", "nosuch"], "no such container", 1),
        (vec!["exec", "nosuch", "true"], "no such container", 1),
        (vec!["logs", "nosuch"], "no such container", 1),
        (vec!["rm", "up"], "is running; stop it first or use rm -f", 1),
        (
            vec!["run", "-d", "--name", "up", "--rootfs", rootfs.to_str().unwrap(), "--", "true"],
            "name already in use",
            125,
        ),
        (vec!["kill", "-s", "NOPE", "up"], "unknown signal", 125),
        (vec!["stop"], "no container named", 1),
    ];
    for (args, expect, code) in bad {
        let out = h.out(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(expect) && err.lines().count() == 1, "{args:?}: {err}");
    }
    assert_eq!(h.status("up"), "running", "failed commands changed nothing");
    h.ok(&["stop", "-t", "1", "up"]);
    // Stopping a stopped container is a success that changes nothing, as in docker.
    assert_eq!(h.ok(&["stop", "up"]), "up\n");
    let out = h.out(&["kill", "up"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not running"));

    // A truncated or garbage state file is reported and skipped, never a crash.
    std::fs::create_dir_all(h.root.join("broken")).unwrap();
    std::fs::write(h.root.join("broken/state"), "name=broken\nstat").unwrap();
    std::fs::create_dir_all(h.root.join("garbage")).unwrap();
    std::fs::write(h.root.join("garbage/state"), [0xff, 0x00, 0x13, 0x37]).unwrap();
    let out = h.out(&["ps", "-a"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("skipping broken") && err.contains("skipping garbage"), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("exited (7)")
            || String::from_utf8_lossy(&out.stdout).contains("up")
    );
    assert_eq!(h.out(&["inspect", "--raw", "broken"]).status.code(), Some(1));
    h.ok(&["rm", "-f", "broken", "garbage", "up"]);
    assert_eq!(h.entries(), 0);
}

/// Pids of processes whose command line mentions `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let out = Command::new("pgrep").args(["-f", marker]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect()
}

#[test]
fn a_killed_supervisor_takes_its_container_down_and_gc_releases_everything() {
    if !can_run("crash") {
        return;
    }
    let h = Husk::new("crash");
    let marker = format!("crash-marker-{}", std::process::id());
    h.detach("victim", &format!("while :; do sleep 0.1; done # {marker}"));
    let cgroups = std::fs::read_to_string(h.root.join("victim/cgroups")).unwrap_or_default();
    let json = h.ok(&["inspect", "--raw", "victim"]);
    assert!(json.contains("\"status\":\"running\""));
    // The supervisor is the init's parent.
    let init = processes_with(&marker).into_iter().min().expect("container processes");
    let stat = std::fs::read_to_string(format!("/proc/{init}/stat")).unwrap();
    let parent = stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(1).unwrap().to_string();
    let parent_stat = std::fs::read_to_string(format!("/proc/{parent}/stat")).unwrap();
    let supervisor = if parent_stat.contains("(husk)") { parent } else { init.clone() };
    Command::new("kill").args(["-9", &supervisor]).status().unwrap();
    wait_until("the container's processes to die", Duration::from_secs(5), || processes_with(&marker).is_empty());
    // The next husk command notices and releases; the entry shows exited (unknown).
    let ps = h.ok(&["ps", "-a"]);
    assert!(ps.contains("exited (unknown)"), "{ps}");
    for dir in cgroups.lines().filter(|l| !l.is_empty()) {
        assert!(!Path::new(dir).exists(), "cgroup {dir} left behind");
    }
    h.ok(&["gc"]);
    h.ok(&["rm", "victim"]);
    assert_eq!(h.entries(), 0);
}

#[test]
fn a_foreground_run_killed_during_set_up_is_cleaned_by_the_next_command() {
    if !can_run("crash-setup") {
        return;
    }
    let h = Husk::new("crash-setup");
    let rootfs = alpine();
    let mounts_before = host("wc -l < /proc/self/mountinfo");
    let marker = format!("setup-marker-{}", std::process::id());
    // Kill the launcher at several points of its set-up, from immediately to after start.
    for delay_us in [0u64, 200, 500, 1000, 2000, 3000, 5000, 10000, 20000] {
        let mut child = h
            .cmd(&[
                "run",
                "--memory",
                "64m",
                "--rootfs",
                rootfs.to_str().unwrap(),
                "--",
                "sh",
                "-c",
                &format!("sleep 5 # {marker}"),
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay_us));
        let _ = child.kill();
        let _ = child.wait();
    }
    wait_until("orphaned containers to die", Duration::from_secs(5), || processes_with(&marker).is_empty());
    // The next command (any) releases what the killed launchers left.
    h.ok(&["ps", "-a"]);
    assert_eq!(h.entries(), 0, "state entries left: {:?}", std::fs::read_dir(&h.root).unwrap().collect::<Vec<_>>());
    assert_eq!(host("wc -l < /proc/self/mountinfo"), mounts_before);
    let leftover = host("find /sys/fs/cgroup -path '*husk/*' -type d 2>/dev/null | grep -v '/husk$' || true");
    let ours: Vec<&str> = leftover.lines().filter(|l| !l.is_empty()).collect();
    assert!(ours.iter().all(|l| !h.root.join(Path::new(l).file_name().unwrap()).exists()), "cgroups left: {ours:?}");
}

fn counts() -> (String, String, String) {
    let mounts = host("wc -l < /proc/self/mountinfo");
    let loops = host("losetup -a | wc -l");
    let veths = host("ip -o link show type veth | wc -l");
    (mounts, loops, veths)
}

/// Open descriptors of a container's supervisor and of its init, from its state file.
fn husk_fds(h: &Husk, name: &str) -> (usize, usize) {
    let state = std::fs::read_to_string(h.root.join(name).join("state")).unwrap();
    let pid = |key: &str| {
        let line = state.lines().find(|l| l.starts_with(key)).unwrap();
        line[key.len()..].split(' ').next().unwrap().to_string()
    };
    let count = |pid: String| std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    (count(pid("owner=")), count(pid("init=")))
}

#[test]
fn a_thousand_runs_and_a_hundred_detached_cycles_leak_nothing() {
    if !can_run("leaks") {
        return;
    }
    let h = Husk::new("leaks");
    let rootfs = alpine();
    let rootfs = rootfs.to_str().unwrap();
    // A cgroup parent of its own, so containers of tests running beside this one do not
    // blur the count.
    let parent = format!("husk-leaks-{}", std::process::id());
    let ours = format!("find /sys/fs/cgroup -path '*/{parent}/*' -type d | wc -l");
    let before = counts();
    // A long-lived container whose husk processes must not gain descriptors from the
    // commands aimed at it meanwhile.
    h.ok(&["run", "-d", "--cgroup-parent", &parent, "--name", "anchor", "--rootfs", rootfs, "--", "sleep", "600"]);
    // The supervisor closes the pipe it reported the start through just after the report
    // (which lets run -d return): let it settle before counting.
    std::thread::sleep(Duration::from_millis(200));
    let fds_before = husk_fds(&h, "anchor");
    for i in 0..1000 {
        let out = h.out(&["run", "--rm", "--cgroup-parent", &parent, "--rootfs", rootfs, "--", "/bin/true"]);
        assert!(out.status.success(), "run {i}: {}", String::from_utf8_lossy(&out.stderr));
    }
    for i in 0..100 {
        let name = format!("cycle{i}");
        h.ok(&["run", "-d", "--cgroup-parent", &parent, "--name", &name, "--rootfs", rootfs, "--", "sleep", "60"]);
        h.ok(&["exec", "anchor", "true"]);
        h.ok(&["logs", "anchor"]);
        h.ok(&["stop", "-t", "0", &name]);
        h.ok(&["rm", &name]);
    }
    assert_eq!(husk_fds(&h, "anchor"), fds_before, "descriptors of the supervisor or the init changed");
    h.ok(&["rm", "-f", "anchor"]);
    assert_eq!(counts(), before, "mounts, loop devices or veths changed");
    assert_eq!(host(&ours).trim(), "0", "husk cgroups leaked under {parent}");
    assert_eq!(h.entries(), 0, "state directories leaked");
    host(&format!("find /sys/fs/cgroup -depth -type d -name {parent} -exec rmdir {{}} +"));
}

#[test]
fn concurrent_runs_get_unique_names_and_exactly_one_wins_a_shared_name() {
    if !can_run("concurrency") {
        return;
    }
    let h = Husk::new("concurrency");
    let rootfs = alpine();
    let rootfs = rootfs.to_str().unwrap();
    let spawn = |name: String| {
        h.cmd(&["run", "-d", "--name", &name, "--rootfs", rootfs, "--", "sleep", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let distinct: Vec<_> = (0..50).map(|i| spawn(format!("par{i}"))).collect();
    for child in distinct {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let running = h.ok(&["ps", "-q"]).lines().count();
    assert_eq!(running, 50, "every started container is running:\n{}", h.ok(&["ps", "-a"]));
    let same: Vec<_> = (0..10).map(|_| spawn("samename".into())).collect();
    let outs: Vec<Output> = same.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let winners = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1, "exactly one run may take the name");
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert!(String::from_utf8_lossy(&o.stderr).contains("name already in use"));
        assert_eq!(o.status.code(), Some(125));
    }
    let names: Vec<String> = h.ok(&["ps", "-q"]).lines().map(String::from).collect();
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    h.ok(&args);
    assert_eq!(h.entries(), 0);
}

#[test]
fn a_created_container_waits_before_its_command_until_started() {
    if !can_run("created") {
        return;
    }
    let h = Husk::new("created");
    let marker = format!("created-marker-{}", std::process::id());
    let rootfs = alpine();
    let script = format!("echo started; while :; do sleep 0.1; done # {marker}");
    let printed = h.ok(&["create", "--name", "c1", "--rootfs", rootfs.to_str().unwrap(), "--", "sh", "-c", &script]);
    assert_eq!(printed, "c1\n");
    assert_eq!(h.status("c1"), "created");
    // Everything is set up (the init runs, its pid is recorded) but the command, the
    // init's child, is not.
    let json = h.ok(&["inspect", "--raw", "c1"]);
    assert!(json.contains("\"state\":\"created\""), "{json}");
    let at = json.find("\"pid\":").unwrap() + 6;
    let init: u32 = json[at..].split(',').next().unwrap().parse().unwrap();
    let children = || std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(children(), "", "the command runs before start");
    assert!(h.ok(&["ps"]).contains("created"), "ps lists created containers");
    // exec and kill are for running containers; start is for created ones.
    assert_eq!(h.out(&["exec", "c1", "true"]).status.code(), Some(1));
    assert_eq!(h.ok(&["start", "c1"]), "c1\n");
    assert_eq!(h.status("c1"), "running");
    wait_until("the command's output", Duration::from_secs(5), || h.ok(&["logs", "c1"]).contains("started"));
    assert_ne!(children(), "", "the command does not run after start");
    // Starting a running container changes nothing and succeeds, as in docker.
    assert_eq!(h.ok(&["start", "c1"]), "c1\n");
    h.ok(&["stop", "-t", "1", "c1"]);
    h.ok(&["rm", "c1"]);

    // A created container removed with rm -f leaves nothing.
    h.ok(&["create", "--name", "c2", "--rootfs", rootfs.to_str().unwrap(), "--", "sh", "-c", &script]);
    h.ok(&["rm", "-f", "c2"]);
    // Its supervisor finishes removing the entry (out of the name space already).
    wait_until("the created container's entry to go", Duration::from_secs(5), || h.entries() == 0);
    assert!(processes_with(&marker).is_empty());

    // A command that cannot run: start says so, the container stays as exited (127)
    // and its log holds the reason.
    h.ok(&["create", "--name", "c3", "--rootfs", rootfs.to_str().unwrap(), "--", "no-such-command"]);
    let out = h.out(&["start", "c3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("failed to start (exit code 127)"), "{err}");
    assert!(h.ok(&["ps", "-a"]).contains("exited (127)"));
    assert!(h.ok(&["logs", "c3"]).contains("exec no-such-command: No such file or directory"));
    h.ok(&["rm", "c3"]);
}

#[test]
fn exec_takes_the_user_environment_workdir_and_cgroup_of_the_saved_spec() {
    if !can_run("saved-spec") {
        return;
    }
    let h = Husk::new("saved-spec");
    let rootfs = alpine();
    // The command records what it sees; exec must see the same.
    let probe = "echo \"$(id -u):$(id -g) $(pwd) $FOO $HOME $(cat /proc/self/cgroup | sort | tr '\\n' ' ')\"";
    let script = format!("{probe} > /tmp/seen; echo started; while :; do sleep 0.1; done");
    let args = [
        "run",
        "-d",
        "--name",
        "s1",
        "-e",
        "FOO=bar",
        "-w",
        "/work",
        "-u",
        "1000:1000",
        "--memory",
        "64m",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ];
    h.ok(&args);
    wait_until("the command's \"started\" line", Duration::from_secs(5), || h.ok(&["logs", "s1"]).contains("started"));
    let command_saw = h.ok(&["exec", "s1", "cat", "/tmp/seen"]);
    let exec_sees = h.ok(&["exec", "s1", "sh", "-c", probe]);
    assert_eq!(exec_sees, command_saw);
    assert!(command_saw.starts_with("1000:1000 /work bar / "), "{command_saw}");
    // Flags still override the saved defaults.
    assert_eq!(
        h.ok(&["exec", "-u", "0", "-w", "/", "-e", "FOO=baz", "s1", "sh", "-c", "echo $(id -u) $(pwd) $FOO"]),
        "0 / baz\n"
    );
    let json = h.ok(&["inspect", "--raw", "s1"]);
    for want in
        ["\"spec\":{", "\"env\":[", "\"FOO=bar\"", "\"cwd\":\"/work\"", "\"name\":\"1000:1000\"", "\"memory\":67108864"]
    {
        assert!(json.contains(want), "inspect lacks {want}: {json}");
    }
    h.ok(&["rm", "-f", "s1"]);
}

#[test]
fn a_detached_containers_supervisor_keeps_none_of_the_callers_descriptors() {
    if !can_run("fds") {
        return;
    }
    let h = Husk::new("fds");
    let lock = h.root.with_extension("lock");
    // A script holding a lock on descriptor 7 starts a detached container, then lets go:
    // the lock must be free at once, not held by the supervisor until the container ends.
    let script = format!(
        "exec 7>{l}; flock 7; \"$0\" run -d --name fds-c --rootfs {r} -- sleep 30 >/dev/null; exec 7>&-; \
         flock -n {l} true && echo free",
        l = lock.display(),
        r = alpine().display()
    );
    let out = Command::new("sh").args(["-c", &script]).arg(husk()).env("HUSK_ROOT", &h.root).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "free\n", "{}", String::from_utf8_lossy(&out.stderr));
    h.ok(&["rm", "-f", "fds-c"]);
    let _ = std::fs::remove_file(&lock);
}
