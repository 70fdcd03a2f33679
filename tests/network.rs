//! Container networking on the real kernel. Every test re-executes itself under
//! `unshare --net --mount`, so bridges, veths and packets live only in a throwaway
//! network namespace the test made; the machine's interfaces are never touched. Each
//! test has its own HUSK_ROOT and Alpine rootfs. Run as root, under the global lock:
//! `flock /tmp/husk-priv.lock cargo test --test network`.

mod common;
use common::netenv::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

#[test]
fn none_has_only_lo_and_reaches_nothing() {
    let Some(env) = enter("none_has_only_lo_and_reaches_nothing") else { return };
    let out = env.run_ok(&["--", "ip", "-o", "link"]);
    let names: Vec<&str> = out.lines().filter_map(|l| l.split(": ").nth(1)).collect();
    assert_eq!(names, vec!["lo"], "{out}");
    assert!(out.contains("UP"), "lo is not up: {out}");
    let started = Instant::now();
    let out = env.run(&["--", "ping", "-c1", "-W2", "10.1.2.3"]).output().unwrap();
    let took = started.elapsed();
    assert!(!out.status.success(), "ping left a network-less container: {}", text(&out));
    assert!(took < Duration::from_secs(2), "ping should fail at once (no route), took {took:?}");
    println!("none: unreachable ping failed in {took:?}");
    env.assert_clean();
}

#[test]
fn host_mode_sees_the_callers_interfaces() {
    let Some(env) = enter("host_mode_sees_the_callers_interfaces") else { return };
    sh("ip link add hkdummy0 type bridge");
    let out = env.run_ok(&["--network", "host", "--", "ip", "-o", "link"]);
    assert!(out.contains("hkdummy0"), "{out}");
    let out =
        env.run_ok(&["--network", "host", "--", "sh", "-c", "ls /sys/class/net; cat /etc/resolv.conf >/dev/null"]);
    assert!(out.contains("hkdummy0"), "/sys does not show the host's network: {out}");
    env.assert_clean();
}

#[test]
fn bridge_with_ip_configures_eth0_and_reaches_the_gateway() {
    let Some(env) = enter("bridge_with_ip_configures_eth0_and_reaches_the_gateway") else { return };
    let out = env.run_ok(&[
        "--network",
        "bridge",
        "--ip",
        "10.88.0.10/16",
        "--hostname",
        "web1",
        "--dns",
        "9.9.9.9",
        "--mac-address",
        "02:42:ac:11:00:99",
        "--mtu",
        "1400",
        "--",
        "sh",
        "-c",
        "ip addr show eth0; ip route; ping -c1 -W2 10.88.0.1 && echo PING-OK; cat /etc/hosts /etc/resolv.conf",
    ]);
    assert!(out.contains("inet 10.88.0.10/16"), "{out}");
    assert!(out.contains("default via 10.88.0.1 dev eth0"), "{out}");
    assert!(out.contains("PING-OK"), "{out}");
    assert!(out.contains("link/ether 02:42:ac:11:00:99"), "{out}");
    assert!(out.contains("mtu 1400"), "{out}");
    assert!(out.contains("10.88.0.10\tweb1"), "/etc/hosts: {out}");
    assert!(out.contains("nameserver 9.9.9.9"), "/etc/resolv.conf: {out}");
    env.assert_clean();
    let ls = String::from_utf8_lossy(&env.husk(&["network", "ls"]).output().unwrap().stdout).into_owned();
    assert!(
        ls.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["husk0", "10.88.0.0/16", "10.88.0.1", "yes", "0"]),
        "{ls}"
    );
    env.network_rm("husk0");
}

#[test]
fn bridge_carries_tcp_both_ways() {
    let Some(env) = enter("bridge_carries_tcp_both_ways") else { return };
    // Host -> container: busybox nc listens inside, the test connects to it.
    let mut server = env.start(&["--network", "bridge", "--ip", "10.88.0.20/16", "--", "nc", "-l", "-p", "2222"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut stream = loop {
        match TcpStream::connect_timeout(&"10.88.0.20:2222".parse().unwrap(), Duration::from_secs(1)) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => panic!("connect to the container: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    stream.write_all(b"hello from host\n").unwrap();
    drop(stream);
    let out = server.wait();
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello from host"), "{}", text(&out));

    // Container -> host: the test listens on the gateway address.
    let listener = TcpListener::bind((Ipv4Addr::new(10, 88, 0, 1), 3333)).unwrap();
    let reader = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(conn).read_line(&mut line).unwrap();
        line
    });
    let out = env
        .run(&["--network", "bridge", "--", "sh", "-c", "echo hello from container | nc 10.88.0.1 3333"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(reader.join().unwrap(), "hello from container\n");
    env.assert_clean();
    env.network_rm("husk0");
}

#[test]
fn bridges_connect_their_containers_and_keep_others_apart() {
    let Some(env) = enter("bridges_connect_their_containers_and_keep_others_apart") else { return };
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").unwrap();
    let a = ["--network", "bridge:hka", "--subnet", "10.10.0.0/24"];
    let b = ["--network", "bridge:hkb", "--subnet", "10.20.0.0/24"];
    let mut a1 = env.start(&[&a[..], &["--ip", "10.10.0.5/24", "--", "sleep", "60"]].concat());
    let mut b1 = env.start(&[&b[..], &["--ip", "10.20.0.5/24", "--", "sleep", "60"]].concat());
    wait_reachable("10.10.0.5");
    wait_reachable("10.20.0.5");
    let script = "ping -c1 -W2 10.10.0.5 >/dev/null && echo SAME-OK; \
                  ping -c1 -W2 10.20.0.5 >/dev/null && echo OTHER-REACHED; \
                  echo done";
    let out = env.run_ok(&[&a[..], &["--", "sh", "-c", script]].concat());
    assert!(out.contains("SAME-OK"), "containers on one bridge must reach each other: {out}");
    assert!(out.contains("done"), "{out}");
    assert!(!out.contains("OTHER-REACHED"), "a container on hka reached one on hkb: {out}");
    // The failure is the isolation, not a dead target: b1 still answers on its own bridge.
    assert!(ping_from_host("10.20.0.5"), "the container on hkb went away");
    a1.stop();
    b1.stop();
    env.assert_clean();
    env.network_rm("hka");
    env.network_rm("hkb");
}

#[test]
fn fifty_parallel_containers_across_two_networks_get_distinct_addresses() {
    let Some(env) = enter("fifty_parallel_containers_across_two_networks_get_distinct_addresses") else { return };
    // Every container holds its address until all 50 have one and have pinged its
    // gateway: only then are distinct addresses proof that concurrent leases never
    // collide. Half go to each of two networks, made on the fly with free subnets. Each
    // marks the barrier with its hostname (its unique generated name): its PID is 2 in
    // every container, and $RANDOM may be seeded alike in containers started together.
    let barrier = env.dir.join("barrier");
    std::fs::create_dir(&barrier).unwrap();
    let volume = format!("{}:/barrier", barrier.display());
    let script = "ip -o -4 addr show eth0; ping -c1 -W5 $(ip route | awk '/default/ { print $3 }') >/dev/null && echo PING-OK; \
                  touch /barrier/$(hostname); \
                  i=0; while [ ! -e /barrier/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done";
    let started = Instant::now();
    let mut children: Vec<Child> = (0..50)
        .map(|i| {
            let network = if i % 2 == 0 { "bridge:hkp" } else { "bridge:hkq" };
            env.run(&["--network", network, "-v", &volume, "--", "sh", "-c", script])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(50);
    while std::fs::read_dir(&barrier).unwrap().count() < 50 {
        if let Some(i) = children.iter_mut().position(|c| c.try_wait().unwrap().is_some()) {
            let out = children.swap_remove(i).wait_with_output().unwrap();
            panic!("a container ended before all 50 were up: {}", text(&out));
        }
        if Instant::now() > deadline {
            let ps = sh(
                "ps -eo pid,ppid,stat,wchan:32,args | grep -E 'nettest|ping|ip -o|barrier' | grep -v -E '^ *[0-9]+ +[0-9]+ +[A-Za-z+<]+ +[a-z_.0-9-]+ +(sleep|grep)' | cut -c1-150",
            );
            panic!("not all 50 containers came up:\n{ps}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let all_up = started.elapsed();
    assert_eq!(husk_veths().len(), 50, "not all 50 containers were up at once");
    std::fs::write(barrier.join("go"), "").unwrap();
    let mut addrs = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("PING-OK"), "{}", text(&out));
        let addr = stdout.split_whitespace().skip_while(|w| *w != "inet").nth(1).unwrap().to_string();
        addrs.push(addr);
    }
    let took = started.elapsed();
    let mut distinct = addrs.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 50, "duplicate addresses: {addrs:?}");
    let subnets: std::collections::BTreeSet<&str> = addrs.iter().map(|a| a.rsplitn(3, '.').nth(2).unwrap()).collect();
    assert_eq!(subnets.len(), 2, "two networks, two disjoint subnets: {addrs:?}");
    println!("50 parallel containers on two bridges: all up and pinged in {all_up:?}, all done in {took:?}");
    env.assert_clean();
    env.network_rm("hkp");
    env.network_rm("hkq");
}

#[test]
fn ns_path_and_container_modes_share_the_target_namespace() {
    let Some(env) = enter("ns_path_and_container_modes_share_the_target_namespace") else { return };
    // Like `ip netns add`, but the bind-mounted namespace file lives in the test's own
    // directory and mount namespace.
    let nsfile = env.dir.join("hknet");
    let ns = nsfile.display();
    sh(&format!("touch {ns} && unshare --net={ns} true && nsenter --net={ns} ip link add hkdummy1 type bridge"));
    let out = env.run_ok(&["--network", &format!("ns:{ns}"), "--", "ip", "-o", "link"]);
    sh(&format!("umount {ns}"));
    assert!(out.contains("hkdummy1"), "{out}");

    let mut target =
        env.start(&["--name", "tgt", "--network", "bridge:hkc", "--ip", "10.30.0.5/24", "--", "sleep", "60"]);
    wait_reachable("10.30.0.5");
    let out = env.run_ok(&["--network", "container:tgt", "--", "ip", "-o", "addr", "show", "eth0"]);
    assert!(out.contains("inet 10.30.0.5/24"), "{out}");
    target.stop();
    let out = env.run(&["--network", "container:tgt", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running container named tgt"), "{}", text(&out));
    env.assert_clean();
    env.network_rm("hkc");
}

#[test]
fn bad_network_input_fails_before_anything_exists() {
    let Some(env) = enter("bad_network_input_fails_before_anything_exists") else { return };
    // A bridge with a known subnet, for the out-of-subnet case.
    env.run_ok(&["--network", "bridge:hkbad", "--subnet", "10.40.0.0/24", "--", "true"]);
    let cases: &[&[&str]] = &[
        &["--network", "bridge", "--ip", "300.1.1.1/24"],
        &["--network", "bridge:hkbad", "--ip", "10.41.0.7/24"],
        &["--network", "bridge:hkbad", "--ip", "10.40.0.1/24"],
        &["--network", "bridge:hkbad", "--subnet", "10.50.0.0/24"],
        &["--network", "bogus"],
        &["--network", "bridge:lo"],
        &["--network", "bridge:this-name-is-too-long"],
        &["--network", "ns:/no/such/netns"],
        &["--network", "ns:/tmp"],
        &["--network", "container:nosuch"],
        &["--ip", "10.88.0.5/16"],
        &["--network", "bridge", "--mac-address", "01:00:5e:00:00:01"],
        &["--network", "bridge", "--mtu", "10"],
        &["--network", "bridge", "--dns", "not-an-ip"],
    ];
    for args in cases {
        let out = env.run(&[*args, &["--", "true"]].concat()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", text(&out));
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("husk: "), "{args:?}: {stderr}");
        println!("{args:?} -> {}", stderr.trim());
        env.assert_clean();
    }
    assert!(!links().contains(&"husk0".to_string()), "a refused run created the default bridge");
    assert!(!env.state.join("networks/husk0.net").exists(), "a refused run recorded the default bridge");
    env.network_rm("hkbad");
}

#[test]
fn teardown_leaves_no_veth_or_lease_on_any_exit() {
    let Some(env) = enter("teardown_leaves_no_veth_or_lease_on_any_exit") else { return };
    let out = env.run(&["--network", "bridge:hkt", "--", "sh", "-c", "exit 3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    env.assert_clean();
    let out = env.run(&["--network", "bridge:hkt", "--", "/no/such/command"]).output().unwrap();
    assert_eq!(out.status.code(), Some(127), "{}", text(&out));
    env.assert_clean();

    // A launcher killed outright cannot clean up: the veth still goes with the container's
    // namespace, and its lease (its init dead) is free for the next container.
    let mut bg =
        env.start(&["--name", "victim", "--network", "bridge:hkt", "--ip", "10.88.0.77/16", "--", "sleep", "60"]);
    wait_reachable("10.88.0.77");
    assert_eq!(husk_veths().len(), 1, "{:?}", links());
    let mut child = bg.0.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !husk_veths().is_empty() {
        assert!(Instant::now() < deadline, "veth outlived its namespace: {:?}", husk_veths());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The init may still be reaping its pid namespace when the veth goes; wait for it.
    // The state entry's "init=PID START" line names the container's init.
    let entry = std::fs::read_to_string(env.state.join("victim/state")).unwrap();
    let pid = entry.lines().find_map(|l| l.strip_prefix("init=")).unwrap().split(' ').next().unwrap().to_string();
    let stat = format!("/proc/{pid}/stat");
    while std::fs::read_to_string(&stat).is_ok_and(|s| !s.rsplit_once(')').unwrap().1.trim_start().starts_with('Z')) {
        assert!(Instant::now() < deadline, "the killed container's init is still alive");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stale = String::new();
    std::fs::File::open(env.state.join("networks/hkt.leases")).unwrap().read_to_string(&mut stale).unwrap();
    assert!(stale.contains("10.88.0.77 victim"), "{stale}");
    // The same address is handed out again: the lease names a container whose init is dead.
    let out = env.run_ok(&[
        "--network",
        "bridge:hkt",
        "--ip",
        "10.88.0.77/16",
        "--",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(out.contains("10.88.0.77/16"), "{out}");
    // The run above began with the lifecycle's gc, which removed the dead container's entry.
    assert!(!env.state.join("victim").exists(), "the killed foreground run's entry survived gc");
    env.assert_clean();
    env.network_rm("hkt");
}
