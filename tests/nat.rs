//! Networking as docker users expect it, on the real kernel: outbound NAT, `-p`, and
//! networks as objects. Each test runs in network namespaces of its own (see
//! common/netenv.rs): the test's namespace plays the host, a second one the outside
//! world (192.0.2.2, a busybox httpd); traffic goes only to addresses inside them.

mod common;
use common::netenv::*;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn husk_ok(env: &Env, args: &[&str]) -> String {
    ok(env.husk(args).output().unwrap())
}

/// The host's busybox (with httpd) at /opt/hb/busybox in the container's root, and a
/// page for it under /www.
fn add_httpd(env: &Env, page: &str) {
    let dir = env.rootfs.join("opt/hb");
    std::fs::create_dir_all(&dir).unwrap();
    let busybox = sh("command -v busybox");
    std::fs::copy(busybox.trim(), dir.join("busybox")).unwrap();
    std::fs::create_dir_all(env.rootfs.join("www")).unwrap();
    std::fs::write(env.rootfs.join("www/index.html"), page).unwrap();
}

fn fetch(url: &str) -> Option<String> {
    let out = Command::new("timeout").args(["5", "busybox", "wget", "-q", "-O-", url]).output().unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// husk's nf_tables ruleset as `nft` lists it (empty without husk's table).
fn husk_table() -> String {
    let out = Command::new("nft").args(["list", "table", "ip", "husk"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have_nft() -> bool {
    let found = Command::new("sh").args(["-c", "command -v nft && command -v iptables"]).output().unwrap();
    if !found.status.success() {
        eprintln!("SKIPPED: needs nft and iptables (Debian's nftables and iptables; .ci/setup installs them)");
    }
    found.status.success()
}

#[test]
fn containers_reach_the_outside_through_nat_internal_networks_do_not_and_host_rules_stay() {
    if !have_nft() {
        return;
    }
    let Some(env) = enter("containers_reach_the_outside_through_nat_internal_networks_do_not_and_host_rules_stay")
    else {
        return;
    };
    let outside = Outside::new(&env, "outside page\n");
    // The host's own firewall: another tool's rule (iptables, through nf_tables) that
    // rejects the host's connections to port 81 outside.
    sh(&format!("iptables -A OUTPUT -p tcp -d {OUTSIDE_ADDR} --dport 81 -j REJECT --reject-with tcp-reset"));
    let before = sh("iptables -S OUTPUT");

    let got =
        env.run_ok(&["--network", "bridge", "--", "wget", "-q", "-T", "5", "-O-", &format!("http://{OUTSIDE_ADDR}/")]);
    assert_eq!(got, "outside page\n");
    assert!(husk_table().contains("masquerade"), "{}", husk_table());
    assert_eq!(sh("cat /proc/sys/net/ipv4/ip_forward").trim(), "1");

    // An internal network: no NAT and no forwarding off the bridge.
    assert_eq!(husk_ok(&env, &["network", "create", "--internal", "air"]), "air\n");
    let url = format!("http://{OUTSIDE_ADDR}/");
    let out = env.run(&["--network", "air", "--", "wget", "-q", "-T", "2", "-O-", &url]).output().unwrap();
    assert!(!out.status.success(), "an internal network reached the outside: {}", text(&out));
    let ls = husk_ok(&env, &["network", "ls"]);
    assert!(ls.lines().any(|l| l.starts_with("air ") && l.contains("internal")), "{ls}");

    // Removing the networks removes husk's table with the last of them; the host's
    // rule is still there and still matches.
    env.network_rm("air");
    env.network_rm("husk0");
    assert_eq!(husk_table(), "", "husk's table outlived its networks");
    assert_eq!(sh("iptables -S OUTPUT"), before);
    let refused = Command::new("timeout")
        .args(["5", "busybox", "wget", "-q", "-O-", &format!("http://{OUTSIDE_ADDR}:81/")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refused"), "{}", text(&refused));
    let counters = sh("iptables -L OUTPUT -v -n -x");
    let packets: u64 = counters.lines().nth(2).and_then(|l| l.split_whitespace().next()?.parse().ok()).unwrap();
    assert!(packets >= 1, "the host's rule did not match: {counters}");
    drop(outside);
    env.assert_clean();
}

#[test]
fn published_ports_reach_the_container_and_go_with_it_on_every_exit() {
    if !have_nft() {
        return;
    }
    let Some(env) = enter("published_ports_reach_the_container_and_go_with_it_on_every_exit") else { return };
    let outside = Outside::new(&env, "outside\n");
    add_httpd(&env, "inside page\n");
    let web = &["-d", "--name", "web", "-p", "8080:80", "-p", "5353:53/udp"];
    let args: Vec<&str> =
        web.iter().copied().chain(["--", "/opt/hb/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]).collect();
    assert_eq!(env.run_ok(&args), "web\n");
    let url = |host: &str| format!("http://{host}:8080/");
    wait_for("the published port", || fetch(&url("127.0.0.1")).is_some());
    assert_eq!(fetch(&url("127.0.0.1")).unwrap(), "inside page\n", "from the host's loopback");
    assert_eq!(fetch(&url(HOST_ADDR)).unwrap(), "inside page\n", "from the host's own address");
    let (reached, got) = outside.inside(&format!("timeout 5 busybox wget -q -O- {}", url(HOST_ADDR)));
    assert!(reached && got == "inside page\n", "from outside: {got}");
    assert_eq!(husk_ok(&env, &["port", "web"]), "80/tcp -> 0.0.0.0:8080\n53/udp -> 0.0.0.0:5353\n");
    let ps = husk_ok(&env, &["ps"]);
    assert!(ps.contains("0.0.0.0:8080->80/tcp, 0.0.0.0:5353->53/udp"), "{ps}");

    // UDP: a datagram to the host's port arrives at the container's listener.
    assert_eq!(env.run_ok(&["-d", "--name", "udp", "-p", "5454:53/udp", "--", "nc", "-u", "-l", "-p", "53"]), "udp\n");
    // (Debian's busybox nc has no -u: Alpine's sends, from a container on the host's
    // network.)
    wait_for("the udp datagram", || {
        let send = "echo hello-udp | nc -u -w1 127.0.0.1 5454";
        env.run(&["--network", "host", "--", "sh", "-c", send]).output().unwrap();
        husk_ok(&env, &["logs", "udp"]).contains("hello-udp")
    });
    husk_ok(&env, &["rm", "-f", "udp"]);

    // A port already published, or held by a program, is refused before anything exists.
    let veths = husk_veths().len();
    let taken = env.run(&["-p", "8080:81", "--", "true"]).output().unwrap();
    assert_eq!(taken.status.code(), Some(125), "{}", text(&taken));
    assert!(String::from_utf8_lossy(&taken.stderr).contains("published port 8080/tcp: is in use"), "{}", text(&taken));
    let listener = TcpListener::bind("0.0.0.0:8181").unwrap();
    let taken = env.run(&["-p", "8181:80", "--", "true"]).output().unwrap();
    assert_eq!(taken.status.code(), Some(125), "{}", text(&taken));
    drop(listener);
    assert!(husk_veths().len() <= veths, "a refused run left a veth");

    // Stop and rm: the port is closed and the chains are gone.
    husk_ok(&env, &["stop", "-t", "1", "web"]);
    assert!(fetch(&url("127.0.0.1")).is_none(), "the port answers after stop");
    assert!(!husk_table().contains("web"), "{}", husk_table());
    husk_ok(&env, &["rm", "web"]);

    // A SIGKILLed launcher: the next husk command takes the chains away, and the port
    // can be published again.
    let mut fg =
        env.run(&["--name", "killed", "-p", "8090:80", "--", "sleep", "100"]).stdout(Stdio::null()).spawn().unwrap();
    wait_for("the killed container's chains", || husk_table().contains("pub-killed"));
    fg.kill().unwrap();
    fg.wait().unwrap();
    husk_ok(&env, &["ps", "-a"]);
    assert!(!husk_table().contains("killed"), "{}", husk_table());
    env.run_ok(&["-p", "8090:80", "--", "true"]);
    drop(outside);
    env.network_rm("husk0");
    env.assert_clean();
}

#[test]
fn created_networks_get_disjoint_free_subnets_and_in_use_ones_stay() {
    let Some(env) = enter("created_networks_get_disjoint_free_subnets_and_in_use_ones_stay") else { return };
    // A host route in 10.88.0.0/16: no network may take that subnet.
    sh(
        "ip link add hkroute type veth peer name hkroute2 && ip addr add 10.88.7.1/24 dev hkroute && ip link set hkroute up",
    );
    husk_ok(&env, &["network", "create", "front"]);
    husk_ok(&env, &["network", "create", "back"]);
    husk_ok(&env, &["network", "create", "--subnet", "172.30.0.0/24", "--gateway", "172.30.0.254", "fixed"]);
    let json = husk_ok(&env, &["network", "inspect", "front", "back", "fixed"]);
    let subnets: Vec<&str> = json.split("\"Subnet\":\"").skip(1).map(|s| s.split('"').next().unwrap()).collect();
    assert_eq!(subnets.len(), 3, "{json}");
    assert!(subnets.iter().all(|s| !s.starts_with("10.88.")), "a subnet overlaps the host's route: {json}");
    assert_ne!(subnets[0], subnets[1], "{json}");
    assert_eq!(subnets[2], "172.30.0.0/24");
    assert!(json.contains("\"Gateway\":\"172.30.0.254\""), "{json}");
    // Overlaps and duplicates are refused in one line.
    for (args, why) in [
        (&["network", "create", "--subnet", subnets[0], "again"][..], "overlaps network front"),
        (&["network", "create", "front"][..], "exists already"),
        (
            &["network", "create", "--subnet", "172.31.0.0/24", "--gateway", "10.0.0.1", "gw"][..],
            "is not a host address",
        ),
    ] {
        let out = env.husk(args).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{args:?}: {}", text(&out));
    }

    // --network NAME, as docker users write it; the address is in the network's subnet
    // and the gateway the one given.
    let out = env.run_ok(&["--network", "fixed", "--", "sh", "-c", "ip -4 -o addr show eth0; ip route"]);
    assert!(out.contains("inet 172.30.0.1/24"), "{out}");
    assert!(out.contains("default via 172.30.0.254"), "{out}");

    // In use: refused; free again once its container is gone.
    env.run_ok(&["-d", "--name", "holder", "--network", "front", "--", "sleep", "100"]);
    let out = env.husk(&["network", "rm", "front"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by holder"), "{}", text(&out));
    husk_ok(&env, &["rm", "-f", "holder"]);
    for name in ["front", "back", "fixed"] {
        env.network_rm(name);
    }
    assert!(!Path::new(&env.state.join("networks/front.net")).exists());
    env.assert_clean();
}

#[test]
fn containers_on_a_network_resolve_each_other_by_name_and_alias_while_they_live() {
    let Some(env) = enter("containers_on_a_network_resolve_each_other_by_name_and_alias_while_they_live") else {
        return;
    };
    // Container names differ from the other tests': cgroups are the machine's.
    husk_ok(&env, &["network", "create", "app"]);
    let net = ["--network", "app"];
    let detached = |name: &str, extra: &[&str]| {
        let args: Vec<&str> =
            ["-d", "--name", name].iter().chain(&net).chain(extra).chain(&["--", "sleep", "100"]).copied().collect();
        assert_eq!(env.run_ok(&args), format!("{name}\n"));
    };
    detached("app-web", &["--network-alias", "www"]);
    detached("app-db", &[]);
    // By name and by alias, from a container started after them.
    let probe = "ping -c1 -W2 app-web >/dev/null && echo WEB; ping -c1 -W2 www >/dev/null && echo WWW; \
                 ping -c1 -W2 app-db >/dev/null && echo DB; grep -w extra /etc/hosts";
    let args: Vec<&str> =
        net.iter().chain(&["--add-host", "extra:10.9.8.7", "--", "sh", "-c", probe]).copied().collect();
    let out = env.run_ok(&args);
    assert_eq!(out, "WEB\nWWW\nDB\n10.9.8.7\textra\n", "{out}");
    // A container started later is resolvable by the first.
    detached("app-late", &[]);
    let out = husk_ok(&env, &["exec", "app-web", "sh", "-c", "ping -c1 -W2 app-late >/dev/null && echo LATE"]);
    assert_eq!(out, "LATE\n");
    // A stopped one is not.
    husk_ok(&env, &["stop", "-t", "0", "app-db"]);
    let hosts = husk_ok(&env, &["exec", "app-web", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("\tapp-db"), "{hosts}");
    assert!(hosts.contains("\tapp-late"), "{hosts}");
    // A user's /etc/hosts wins over husk's.
    let mine = env.dir.join("myhosts");
    std::fs::write(&mine, "10.1.1.1\tmine\n").unwrap();
    let volume = format!("{}:/etc/hosts", mine.display());
    let args: Vec<&str> = net.iter().chain(&["-v", &volume, "--", "cat", "/etc/hosts"]).copied().collect();
    assert_eq!(env.run_ok(&args), "10.1.1.1\tmine\n");
    husk_ok(&env, &["rm", "-f", "app-web", "app-db", "app-late"]);
    env.network_rm("app");
    let left: Vec<_> = std::fs::read_dir(env.state.join("networks/hosts"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != ".lock")
        .collect();
    assert!(left.is_empty(), "hosts files left: {left:?}");
    env.assert_clean();
}

/// The unprivileged user the rootless tests use (created on first use), as a uid.
fn rootless_user() -> Option<u32> {
    const USER: &str = "husk-rootless";
    let id = || Command::new("id").args(["-u", USER]).output().ok().filter(|o| o.status.success());
    let out = id().or_else(|| {
        Command::new("useradd").args(["-r", "-M", "-s", "/usr/sbin/nologin", USER]).status().ok()?;
        id()
    })?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn rootless_containers_reach_out_and_publish_ports_through_pasta() {
    if Command::new("sh").args(["-c", "command -v pasta"]).output().is_ok_and(|o| !o.status.success()) {
        eprintln!("SKIPPED: pasta (Debian's passt) is not installed; .ci/setup installs it");
        return;
    }
    let Some(env) = enter("rootless_containers_reach_out_and_publish_ports_through_pasta") else { return };
    let Some(uid) = rootless_user() else { panic!("no unprivileged user for the test") };
    let outside = Outside::new(&env, "outside page\n");
    // pasta copies the host's addresses and default route into the container.
    sh(&format!("ip route add default via {OUTSIDE_ADDR}"));
    sh(&format!("mkdir -p {s} && chown {uid} {s}", s = env.state.display()));
    let as_user = |path: &str, args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args([format!("--reuid={uid}"), format!("--regid={uid}"), "--clear-groups".into()]);
        cmd.args(["env", &format!("PATH={path}"), &format!("HUSK_ROOT={}", env.state.display()), HUSK]);
        cmd.args(args).output().unwrap()
    };
    let rootfs = env.rootfs.to_str().unwrap();
    let url = format!("http://{ROUTED_ADDR}/");
    let out = as_user(
        "/usr/bin:/bin",
        &["run", "--rootfs", rootfs, "--network", "pasta", "--", "wget", "-q", "-T", "5", "-O-", &url],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "outside page\n", "{}", text(&out));
    // -p without --network: pasta for an unprivileged user, as podman does.
    let serve = "while :; do echo hello-from-pasta | nc -l -p 8000; done";
    let out = as_user(
        "/usr/bin:/bin",
        &["run", "-d", "--name", "pasta-web", "--rootfs", rootfs, "-p", "8080:8000", "--", "sh", "-c", serve],
    );
    assert!(out.status.success(), "{}", text(&out));
    wait_for("the published port through pasta", || {
        outside.inside(&format!("timeout 2 busybox nc {HOST_ADDR} 8080 </dev/null")).1.contains("hello-from-pasta")
    });
    assert!(as_user("/usr/bin:/bin", &["rm", "-f", "pasta-web"]).status.success());
    // pasta holds the namespace itself: husk stops it with the container.
    wait_for("pasta to exit with the container", || {
        !sh("pgrep -u husk-rootless -f '^[^ ]*pasta ' || true").contains(char::is_numeric)
    });
    // And after a SIGKILLed launcher, the next husk command does.
    let mut fg = Command::new("setpriv")
        .args([format!("--reuid={uid}"), format!("--regid={uid}"), "--clear-groups".into()])
        .args(["env", "PATH=/usr/bin:/bin", &format!("HUSK_ROOT={}", env.state.display()), HUSK])
        .args(["run", "--rootfs", rootfs, "--network", "pasta", "--", "sleep", "100"])
        .spawn()
        .unwrap();
    wait_for("the killed container's pasta", || {
        sh("pgrep -u husk-rootless -f '^[^ ]*pasta ' || true").contains(char::is_numeric)
    });
    fg.kill().unwrap();
    fg.wait().unwrap();
    assert!(as_user("/usr/bin:/bin", &["ps", "-a"]).status.success());
    wait_for("pasta to go with the garbage pass", || {
        !sh("pgrep -u husk-rootless -f '^[^ ]*pasta ' || true").contains(char::is_numeric)
    });
    // Without pasta: one line saying what is missing, nothing made.
    let out = as_user("/nonexistent", &["run", "--rootfs", rootfs, "--network", "pasta", "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pasta: not found in PATH (package passt)") && err.lines().count() == 1, "{err}");
    drop(outside);
    env.assert_clean();
}
