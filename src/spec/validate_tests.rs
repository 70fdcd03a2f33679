//! Spec::validate's tests: each refusal names its field.

use super::*;
use crate::network::addr::Cidr;

fn host() -> Host {
    Host { online_cpus: vec![0, 1], online_mems: vec![0], rootless: false }
}

pub fn spec() -> Spec {
    super::super::example()
}

/// Each case changes one thing of a good spec; each must be refused with a message
/// naming the spec's field, never a flag.
#[test]
fn bad_values_are_refused_with_spec_level_messages() {
    assert!(spec().validate(&host()).is_ok());
    type Change = fn(&mut Spec);
    let cases: Vec<(&str, Change)> = vec![
        ("container name", |s| s.name = "-x".into()),
        ("container name", |s| s.name = "a/b".into()),
        ("hostname", |s| s.hostname = "bad host".into()),
        ("no command given", |s| s.process.args.clear()),
        ("expected KEY=VALUE", |s| s.process.env = vec!["NOEQUALS".into()]),
        ("expected KEY=VALUE", |s| s.process.env = vec!["=x".into()]),
        ("working directory", |s| s.process.cwd = "relative".into()),
        ("USER[:GROUP]", |s| s.process.user.name = Some("a:".into())),
        ("rlimit RLIMIT_BOGUS", |s| s.process.rlimits = vec![Rlimit { kind: "RLIMIT_BOGUS".into(), soft: 1, hard: 1 }]),
        ("soft 2 is above hard 1", |s| {
            s.process.rlimits = vec![Rlimit { kind: "RLIMIT_NOFILE".into(), soft: 2, hard: 1 }]
        }),
        ("unknown capability", |s| {
            s.process.capabilities = Some(Capabilities { bounding: vec!["CAP_FLY".into()], ..Default::default() })
        }),
        ("root layers", |s| {
            s.root.write = RootWrite::Direct;
            s.root.layers = vec!["/l".into()];
        }),
        ("mount destination", |s| s.mounts.push(bind_mount("/tmp".as_ref(), "data", false))),
        ("mount destination", |s| s.mounts.push(bind_mount("/tmp".as_ref(), "/a/../b", false))),
        ("bind mount source", |s| s.mounts.push(bind_mount("tmp".as_ref(), "/data", false))),
        ("namespace pid", |s| s.namespaces.retain(|n| n.kind != NamespaceKind::Pid)),
        ("is listed twice", |s| s.namespaces.push(Namespace { kind: NamespaceKind::Uts, path: None })),
        ("id mappings", |s| s.namespaces.push(Namespace { kind: NamespaceKind::User, path: None })),
        ("does not agree", |s| s.network.mode = NetworkMode::Host),
        ("memory limit 0", |s| s.resources.memory = Some(0)),
        ("needs a memory limit", |s| s.resources.memory_swap = Some(1 << 20)),
        ("at least the memory limit", |s| {
            s.resources.memory = Some(64 << 20);
            s.resources.memory_swap = Some(32 << 20);
        }),
        ("-1 for unlimited", |s| {
            s.resources.memory = Some(64 << 20);
            s.resources.memory_swap = Some(-5);
        }),
        ("CPU quota 500", |s| s.resources.cpu_quota = Some(500)),
        ("this machine has 2 CPUs", |s| s.resources.cpu_quota = Some(300_000)),
        ("CPU shares 1", |s| s.resources.cpu_shares = Some(1)),
        ("pids limit 0", |s| s.resources.pids_limit = Some(0)),
        ("cpuset CPUs \"1-0\"", |s| s.resources.cpuset_cpus = Some("1-0".into())),
        ("64 is not online", |s| s.resources.cpuset_cpus = Some("64".into())),
        ("cpuset memory nodes", |s| s.resources.cpuset_mems = Some("9".into())),
        ("cgroups path", |s| s.cgroups_path = Some("../escape".into())),
        ("needs a bridge network", |s| s.network.ip = Some(Cidr { addr: [10, 0, 0, 5].into(), prefix: 16 })),
        ("has host bits set", |s| {
            s.network.mode = NetworkMode::Bridge("husk0".into());
            s.network.subnet = Some(Cidr { addr: [10, 88, 0, 1].into(), prefix: 16 });
        }),
        ("multicast", |s| {
            s.network.mode = NetworkMode::Bridge("husk0".into());
            s.network.mac = Some([1, 0, 0x5e, 0, 0, 1]);
        }),
        ("MTU 10", |s| {
            s.network.mode = NetworkMode::Bridge("husk0".into());
            s.network.mtu = Some(10);
        }),
        ("interface name", |s| s.network.mode = NetworkMode::Bridge("this-name-is-too-long".into())),
        ("masked or read-only path", |s| s.masked_paths = vec!["proc/kcore".into()]),
        ("sysctl", |s| s.sysctl = vec![("../x".into(), "1".into())]),
        ("hook", |s| s.hooks.prestart = vec![Hook { path: "x".into(), args: vec![], env: vec![], timeout: None }]),
        ("umask 512", |s| s.process.umask = Some(0o1000)),
        ("oom_score_adj 1001", |s| s.process.oom_score_adj = Some(1001)),
        ("personality 1", |s| s.process.personality = Some(1)),
        ("block I/O weight 5", |s| s.resources.blkio_weight = Some(5)),
        ("above the memory limit", |s| {
            s.resources.memory = Some(1 << 20);
            s.resources.memory_reservation = Some(2 << 20);
        }),
        ("domainname", |s| s.network.domainname = Some("bad name".into())),
        ("UTS namespace", |s| {
            s.network.domainname = Some("example.org".into());
            s.namespaces.retain(|n| n.kind != NamespaceKind::Uts);
        }),
        ("device /dev/fuse", |s| {
            s.namespaces.push(Namespace { kind: NamespaceKind::User, path: None });
            s.uid_mappings = vec![IdMap { inside: 0, outside: 1000, count: 1 }];
            s.gid_mappings = vec![IdMap { inside: 0, outside: 1000, count: 1 }];
            s.devices = vec![DeviceNode {
                path: "/dev/fuse".into(),
                kind: 'c',
                major: 10,
                minor: 229,
                mode: 0o666,
                source: "".into(),
            }];
        }),
    ];
    for (expect, change) in cases {
        let mut s = spec();
        change(&mut s);
        let err = s.validate(&host()).expect_err(expect).to_string();
        assert!(err.contains(expect), "{expect:?} not in {err:?}");
        assert!(!err.contains("--"), "a flag named in a spec-level error: {err}");
    }
}

#[test]
fn what_the_model_holds_but_does_not_apply_yet_is_refused() {
    let mut s = spec();
    s.namespaces.push(Namespace { kind: NamespaceKind::User, path: Some("/proc/1/ns/user".into()) });
    assert!(s.validate(&host()).unwrap_err().to_string().contains("not this one"));
    let mut s = spec();
    s.sysctl = vec![("net.ipv4.ip_forward".into(), "1".into())];
    s.hooks.poststop = vec![Hook { path: "/bin/true".into(), args: vec![], env: vec![], timeout: Some(5) }];
    s.name = "a".repeat(64);
    assert!(s.validate(&host()).is_ok(), "sysctls, hooks and podman's 64-digit ids are taken");
}

#[test]
fn host_facts_refuse_what_this_machine_cannot_do() {
    let rootless = Host { rootless: true, ..host() };
    let mut s = spec();
    s.network.mode = NetworkMode::Bridge("husk0".into());
    assert!(s.validate(&rootless).unwrap_err().to_string().contains("needs root"));
    let mut s = spec();
    s.root.source = RootSource::Image("/img.ext4".into());
    assert!(s.validate(&rootless).unwrap_err().to_string().contains("needs root"));
}

#[test]
fn cpu_lists_parse_or_are_refused() {
    assert_eq!(parse_list("0-2,4"), Some(vec![0, 1, 2, 4]));
    for bad in ["", "1-0", "a", "0,,1", "-1", "0-"] {
        assert!(parse_list(bad).is_none(), "{bad:?}");
    }
}
