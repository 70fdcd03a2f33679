//! /etc/hostname, /etc/hosts and /etc/resolv.conf as the container should see them.
//! They are written to the container's private staging tmpfs and bind-mounted over the
//! image's files, so the image itself is never touched.

use crate::spec::{NetworkMode, Spec};

pub struct EtcFiles {
    pub hostname: String,
    pub hosts: String,
    pub resolv_conf: String,
    /// The hosts file husk keeps current for a container on a network (see
    /// network/names.rs), bound instead of `hosts`.
    pub hosts_file: Option<std::path::PathBuf>,
}

impl EtcFiles {
    /// `ip` is the container's address on a bridge, when it has one.
    pub fn for_spec(spec: &Spec, ip: Option<&str>) -> EtcFiles {
        let name = &spec.hostname;
        let own = ip.unwrap_or("127.0.1.1");
        let mut hosts = format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{own}\t{name}\n");
        for line in &spec.network.extra_hosts {
            hosts.push_str(line);
            hosts.push('\n');
        }
        let resolv_conf = if !spec.network.dns.is_empty() {
            spec.network.dns.iter().map(|d| format!("nameserver {d}\n")).collect()
        } else {
            host_resolv_conf(spec.network.mode == NetworkMode::Host)
        };
        let hosts_file = crate::network::managed_hosts(spec).then(|| crate::network::names::file(&spec.name));
        EtcFiles { hostname: format!("{name}\n"), hosts, resolv_conf, hosts_file }
    }
}

/// The host's resolv.conf. Outside the host's network namespace, loopback nameservers
/// (systemd-resolved's 127.0.0.53, a local dnsmasq) are unreachable, so they are dropped.
fn host_resolv_conf(host_network: bool) -> String {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if host_network {
        return text;
    }
    text.lines()
        .filter(|l| {
            let mut words = l.split_ascii_whitespace();
            !(words.next() == Some("nameserver") && words.next().is_some_and(|a| a.starts_with("127.") || a == "::1"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}
