//! `-it`: an interactive shell in the container's own pseudo-terminal, driven from a pty
//! that `script` provides, the way a person at a terminal would use it.

mod common;
use common::*;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Session {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    seen: usize,
}

impl Session {
    fn start(inner: &str) -> Session {
        let mut child = Command::new("script")
            .args(["-qfec", inner, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("script(1) from util-linux");
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Session { child, output, seen: 0 }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.child.stdin.as_mut().unwrap().write_all(bytes).unwrap();
        self.child.stdin.as_mut().unwrap().flush().unwrap();
    }

    /// Waits until `text` appears after everything matched so far.
    fn expect(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            {
                let out = self.output.lock().unwrap();
                let fresh = String::from_utf8_lossy(&out[self.seen..]);
                if let Some(at) = fresh.find(text) {
                    self.seen += fresh[..at + text.len()].len();
                    return;
                }
                if Instant::now() > deadline {
                    panic!("{text:?} not seen within {within:?}; output so far:\n{}", String::from_utf8_lossy(&out));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait(mut self, within: Duration) -> i32 {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("session did not end; output:\n{}", String::from_utf8_lossy(&self.output.lock().unwrap()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn interactive_shell_has_job_control_and_the_terminal_is_restored() {
    if !can_run("tty") {
        return;
    }
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED tty: script(1) is not installed");
        return;
    }
    let dir = state_root("tty");
    let husk = husk();
    let inner = format!(
        "stty -g > {d}/before; HUSK_ROOT={d} {h} run -it --rootfs {r} -- /bin/sh; echo status=$?; stty -g > {d}/after",
        d = dir.display(),
        h = husk.display(),
        r = alpine().display()
    );
    let mut s = Session::start(&inner);
    let secs = Duration::from_secs;
    s.expect("# ", secs(10));
    s.send(b"echo $((6*7))\r");
    s.expect("42", secs(5));
    s.expect("# ", secs(5));
    s.send(b"tty; echo $TERM\r");
    s.expect("/dev/pts/0", secs(5));
    s.expect("xterm", secs(5));
    // Ctrl-C interrupts the foreground job, not the container.
    s.send(b"sleep 100\r");
    std::thread::sleep(Duration::from_millis(500));
    s.send(b"\x03");
    s.expect("# ", secs(5));
    s.send(b"echo after-interrupt\r");
    s.expect("after-interrupt", secs(5));
    // Ctrl-Z suspends it; the shell gets the prompt back and can kill the job.
    s.send(b"sleep 100\r");
    std::thread::sleep(Duration::from_millis(500));
    s.send(b"\x1a");
    s.expect("Stopped", secs(5));
    s.send(b"kill -9 %1\r");
    s.expect("Killed", secs(5));
    s.send(b"exit 5\r");
    s.expect("status=5", secs(10));
    assert_eq!(s.wait(secs(10)), 0);
    let before = std::fs::read_to_string(dir.join("before")).unwrap();
    let after = std::fs::read_to_string(dir.join("after")).unwrap();
    assert_eq!(before, after, "terminal settings not restored");
}

#[test]
fn window_size_follows_the_users_terminal() {
    if !can_run("winsize") {
        return;
    }
    let dir = state_root("winsize");
    let inner = format!(
        "stty rows 33 cols 77; HUSK_ROOT={d} {h} run -it --rootfs {r} -- /bin/sh -c 'stty size'",
        d = dir.display(),
        h = husk().display(),
        r = alpine().display()
    );
    let mut s = Session::start(&inner);
    s.expect("33 77", Duration::from_secs(10));
    assert_eq!(s.wait(Duration::from_secs(10)), 0);
}

#[test]
fn exec_gives_a_terminal_inside_a_running_container() {
    if !can_run("exec-tty") {
        return;
    }
    let dir = state_root("exec-tty");
    let start = Command::new(husk())
        .env("HUSK_ROOT", &dir)
        .args(["run", "-d", "--name", "ttybox", "--rootfs"])
        .arg(alpine())
        .args(["--", "sleep", "60"])
        .output()
        .unwrap();
    assert!(start.status.success(), "{}", String::from_utf8_lossy(&start.stderr));
    let inner = format!("HUSK_ROOT={} {} exec -it ttybox /bin/sh", dir.display(), husk().display());
    let mut s = Session::start(&inner);
    let secs = Duration::from_secs;
    s.expect("# ", secs(10));
    s.send(b"tty; echo sleeps=$(ps -o pid,comm | grep -c sleep)\r");
    s.expect("/dev/pts/", secs(5));
    s.expect("sleeps=1", secs(5));
    s.send(b"exit 4\r");
    assert_eq!(s.wait(secs(10)), 4, "exec -it returns the shell's status");
    let rm = Command::new(husk()).env("HUSK_ROOT", &dir).args(["rm", "-f", "ttybox"]).output().unwrap();
    assert!(rm.status.success());
}
