//! The security part of the spec: capabilities, the seccomp choice (and a profile's
//! decided rules), device nodes and the device policy's rules, and the defaults husk
//! gives every container (Docker's; docs/SECURITY.md says why).

/// Capability names (CAP_CHOWN, ...) per set, as config.json lists them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Capabilities {
    pub bounding: Vec<String>,
    pub effective: Vec<String>,
    pub inheritable: Vec<String>,
    pub permitted: Vec<String>,
    pub ambient: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Seccomp {
    Unconfined,
    /// husk's default filter (seccomp/mod.rs).
    Default,
    /// A profile's rules, decided for this container (seccomp/profile.rs).
    Profile(SeccompProfile),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeccompProfile {
    /// The kernel's return value (SECCOMP_RET_*) for calls no rule decides.
    pub default_action: u32,
    /// In order: a call's first rule whose comparisons all hold decides it.
    pub rules: Vec<SyscallRule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyscallRule {
    pub nr: u32,
    pub args: Vec<ArgCmp>,
    pub action: u32,
}

/// One argument comparison (libseccomp's): args[index] OP value; MASKED_EQ is
/// (args[index] & value) == value_two.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgCmp {
    pub index: u8,
    pub op: CmpOp,
    pub value: u64,
    pub value_two: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

impl CmpOp {
    pub const ALL: [CmpOp; 7] = [CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Eq, CmpOp::Ge, CmpOp::Gt, CmpOp::MaskedEq];

    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Ne => "SCMP_CMP_NE",
            CmpOp::Lt => "SCMP_CMP_LT",
            CmpOp::Le => "SCMP_CMP_LE",
            CmpOp::Eq => "SCMP_CMP_EQ",
            CmpOp::Ge => "SCMP_CMP_GE",
            CmpOp::Gt => "SCMP_CMP_GT",
            CmpOp::MaskedEq => "SCMP_CMP_MASKED_EQ",
        }
    }
}

/// A device node to make in the container (`--device`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceNode {
    /// Absolute, inside the container.
    pub path: String,
    /// 'c' or 'b'.
    pub kind: char,
    pub major: u32,
    pub minor: u32,
    /// Permission bits of the node.
    pub mode: u32,
    /// The host's node, bound instead where mknod is refused (a user namespace).
    pub source: String,
}

/// runtime-spec's linux.resources.devices entry.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRule {
    pub allow: bool,
    /// 'c', 'b' or 'a' (all).
    pub kind: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Bits: 1 mknod, 2 read, 4 write.
    pub access: u8,
}

const ACCESS: [(u8, char); 3] = [(1, 'm'), (2, 'r'), (4, 'w')];

/// "rwm" (any order, any subset) as DeviceRule access bits.
pub fn access_bits(text: &str) -> u8 {
    ACCESS.iter().filter(|(_, c)| text.contains(*c)).map(|(b, _)| b).sum()
}

/// DeviceRule access bits as "mrw" letters.
pub fn access_text(bits: u8) -> String {
    ACCESS.iter().filter(|(b, _)| bits & b != 0).map(|(_, c)| *c).collect()
}

/// Docker's device policy without its blanket mknod: everything denied, then the
/// standard nodes (null, zero, full, random, urandom, tty, console, ptmx, the ptys and
/// /dev/net/tun) allowed to be made, read and written.
pub fn default_device_rules() -> Vec<DeviceRule> {
    let all = DeviceRule { allow: false, kind: 'a', major: None, minor: None, access: 7 };
    let char_dev = |major, minor| DeviceRule { allow: true, kind: 'c', major: Some(major), minor, access: 7 };
    let mut rules = vec![all];
    for (major, minor) in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (10, 200)] {
        rules.push(char_dev(major, Some(minor)));
    }
    rules.push(char_dev(136, None));
    rules
}

/// The capabilities a container's root keeps by default: Docker's 14.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths Docker hides from a container: kernel memory, keys, timers and hardware
/// interfaces that leak host state or allow attacks.
pub const DEFAULT_MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only: the kernel's knobs (/proc/sys holds core_pattern,
/// through which a writer runs a program as host root) and the SysRq trigger.
pub const DEFAULT_READONLY_PATHS: [&str; 5] =
    ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

impl Capabilities {
    /// The same names in the bounding, effective, permitted and inheritable sets, and an
    /// empty ambient set.
    pub fn uniform(names: Vec<String>) -> Capabilities {
        Capabilities {
            bounding: names.clone(),
            effective: names.clone(),
            inheritable: names.clone(),
            permitted: names,
            ambient: Vec::new(),
        }
    }
}

/// The kernel's capability names in number order (capability.h).
const CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The kernel's name of capability `n` without CAP_, if this build knows it.
pub fn capability_name(n: usize) -> Option<&'static str> {
    CAPABILITIES.get(n).copied()
}

/// CAP_NAME (or NAME) to its number.
pub fn capability_number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    CAPABILITIES.iter().position(|c| *c == bare).map(|n| n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_take_or_leave_the_prefix() {
        assert_eq!(capability_number("CAP_CHOWN"), Some(0));
        assert_eq!(capability_number("sys_admin"), Some(21));
        assert_eq!(capability_number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(capability_number("CAP_FLY"), None);
    }
}
