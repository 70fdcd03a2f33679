//! husk's default seccomp filter, generated as classic BPF (no libseccomp), and the
//! reasoning behind it (docs/SECURITY.md has the user's view).
//!
//! Docker's profile is an allowlist of about 350 system calls, most of them decided by
//! the capabilities a container holds. husk keeps the capability bounding set as Docker
//! does, so the calls that matter are the ones a capability does not already guard, or
//! that open kernel attack surface to any user: those are refused with EPERM here. Calls
//! newer than the newest this build knows, the x32 ABI and foreign architectures are
//! refused too, so a kernel upgrade never widens what a container may call. The calls
//! with a rule are searched as a binary tree (about eight instructions to a decision):
//! the kernel runs the filter for every call number when it installs it (to cache the
//! calls that are always allowed), and a straight list made that the slowest step of a
//! container's start. Built once per container before the clone, installed last before
//! the command's exec.

mod names;
pub mod profile;

use linux_raw_sys::general as g;
use linux_raw_sys::ptrace::{
    BPF_ABS, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W, SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, sock_filter,
};

/// The audit architecture of this build's calls: a filter kills a call made under any
/// other (i386's ABI on x86_64, arm's 32-bit ABI on aarch64), whose numbers differ.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = linux_raw_sys::ptrace::AUDIT_ARCH_X86_64;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = linux_raw_sys::ptrace::AUDIT_ARCH_AARCH64;

/// Refused with EPERM: module, kexec, reboot, swap, accounting, quota, keyring, bpf,
/// perf, userfaultfd, file handles, mounts of every API, namespaces, time setting,
/// syslog, io ports and obsolete calls. aarch64 never had the io-port and obsolete calls
/// marked x86_64 (its table starts from the generic one).
const REFUSED: &[u32] = &[
    g::__NR_acct,
    g::__NR_add_key,
    g::__NR_bpf,
    g::__NR_clock_adjtime,
    g::__NR_clock_settime,
    #[cfg(target_arch = "x86_64")]
    g::__NR_create_module,
    g::__NR_delete_module,
    g::__NR_finit_module,
    g::__NR_fsconfig,
    g::__NR_fsmount,
    g::__NR_fsopen,
    g::__NR_fspick,
    #[cfg(target_arch = "x86_64")]
    g::__NR_get_kernel_syms,
    g::__NR_init_module,
    #[cfg(target_arch = "x86_64")]
    g::__NR_ioperm,
    #[cfg(target_arch = "x86_64")]
    g::__NR_iopl,
    g::__NR_kexec_file_load,
    g::__NR_kexec_load,
    g::__NR_keyctl,
    g::__NR_lookup_dcookie,
    g::__NR_mount,
    g::__NR_mount_setattr,
    g::__NR_move_mount,
    g::__NR_name_to_handle_at,
    g::__NR_nfsservctl,
    g::__NR_open_by_handle_at,
    g::__NR_open_tree,
    g::__NR_open_tree_attr,
    g::__NR_perf_event_open,
    g::__NR_pivot_root,
    #[cfg(target_arch = "x86_64")]
    g::__NR_query_module,
    g::__NR_quotactl,
    g::__NR_quotactl_fd,
    g::__NR_reboot,
    g::__NR_request_key,
    g::__NR_setns,
    g::__NR_settimeofday,
    g::__NR_swapoff,
    g::__NR_swapon,
    #[cfg(target_arch = "x86_64")]
    g::__NR__sysctl,
    #[cfg(target_arch = "x86_64")]
    g::__NR_sysfs,
    g::__NR_syslog,
    g::__NR_umount2,
    g::__NR_unshare,
    #[cfg(target_arch = "x86_64")]
    g::__NR_uselib,
    g::__NR_userfaultfd,
    g::__NR_vhangup,
];

/// The newest call this build knows; anything above is refused with ENOSYS.
const NEWEST: u32 = g::__NR_file_setattr;

/// The x32 ABI marks its call numbers with this bit.
#[cfg(test)]
const X32_BIT: u32 = 0x4000_0000;

/// clone flags that make namespaces: clone with any of them is refused.
const NAMESPACE_FLAGS: u32 = g::CLONE_NEWNS
    | g::CLONE_NEWUTS
    | g::CLONE_NEWIPC
    | g::CLONE_NEWUSER
    | g::CLONE_NEWPID
    | g::CLONE_NEWNET
    | g::CLONE_NEWCGROUP;

/// personality(2) values that change nothing dangerous (as Docker allows): PER_LINUX,
/// PER_LINUX32, UNAME26 with each, and the query 0xffffffff.
const PERSONALITIES: [u32; 5] = [0, 8, 0x20000, 0x20008, 0xffff_ffff];

/// seccomp_data offsets: nr, arch, then args[0] at 16 (its low half on little-endian).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0: u32 = 16;

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code: (BPF_JMP | code | BPF_K) as u16, jt, jf, k }
}

fn ret(action: u32) -> sock_filter {
    stmt(BPF_RET | BPF_K, action)
}

fn errno(e: rustix::io::Errno) -> u32 {
    SECCOMP_RET_ERRNO | (e.raw_os_error() as u32 & 0xffff)
}

/// What a call with a rule gets.
#[derive(Clone, Copy)]
enum Rule {
    Refuse,
    Missing,
    Clone,
    Personality,
}

/// The instructions that decide a call with `rule`; each path ends in a return.
fn decide(rule: Rule) -> Vec<sock_filter> {
    let eperm = ret(errno(rustix::io::Errno::PERM));
    let allow = ret(SECCOMP_RET_ALLOW);
    let arg0 = stmt(BPF_LD | BPF_W | BPF_ABS, ARG0);
    match rule {
        Rule::Refuse => vec![eperm],
        Rule::Missing => vec![ret(errno(rustix::io::Errno::NOSYS))],
        // Allowed without namespace flags.
        Rule::Clone => vec![arg0, jump(BPF_JSET, NAMESPACE_FLAGS, 0, 1), eperm, allow],
        Rule::Personality => {
            let n = PERSONALITIES.len() as u8;
            let mut out = vec![arg0];
            // A match jumps over the remaining values and the refusal to ALLOW.
            out.extend(PERSONALITIES.into_iter().enumerate().map(|(i, p)| jump(BPF_JEQ, p, n - i as u8, 0)));
            out.extend([eperm, allow]);
            out
        }
    }
}

/// A binary search over `blocks` (sorted by call number, each the code that decides
/// that call and ends in returns) for the number in the accumulator; a number without
/// a block gets `default`. Long jumps go through BPF_JA, whose offset has 32 bits.
fn tree_with(blocks: &[(u32, Vec<sock_filter>)], default: u32) -> Vec<sock_filter> {
    if blocks.len() <= 3 {
        let mut out = Vec::new();
        for (nr, body) in blocks {
            let skip = u8::try_from(body.len()).expect("a call's rules fit in 255 instructions");
            out.push(jump(BPF_JEQ, *nr, 0, skip));
            out.extend(body.iter().copied());
        }
        out.push(ret(default));
        return out;
    }
    let (low, high) = blocks.split_at(blocks.len() / 2);
    let left = tree_with(low, default);
    let mut out = match u8::try_from(left.len()) {
        Ok(skip) => vec![jump(BPF_JGE, high[0].0, skip, 0)],
        // At or above the split: the JA skips the left half.
        Err(_) => vec![jump(BPF_JGE, high[0].0, 0, 1), stmt(BPF_JMP | BPF_JA, left.len() as u32)],
    };
    out.extend(left);
    out.extend(tree_with(high, default));
    out
}

/// The program for the spec's choice, if it has a filter.
pub fn program(choice: &crate::spec::Seccomp) -> Option<Vec<sock_filter>> {
    match choice {
        crate::spec::Seccomp::Unconfined => None,
        crate::spec::Seccomp::Default => Some(default_filter()),
        crate::spec::Seccomp::Profile(p) => Some(profile::filter(p)),
    }
}

/// `items` ordered by call number. An insertion sort: a few hundred items once per
/// container, and no generic sort's code in the binary.
fn sorted<T>(items: impl Iterator<Item = (u32, T)>) -> Vec<(u32, T)> {
    let mut out: Vec<(u32, T)> = Vec::new();
    for (nr, item) in items {
        let at = out.iter().position(|(n, _)| *n > nr).unwrap_or(out.len());
        out.insert(at, (nr, item));
    }
    out
}

/// The default filter for this architecture.
pub fn default_filter() -> Vec<sock_filter> {
    let enosys = errno(rustix::io::Errno::NOSYS);
    let load = |offset| stmt(BPF_LD | BPF_W | BPF_ABS, offset);
    let mut rules: Vec<(u32, Rule)> = REFUSED.iter().map(|&nr| (nr, Rule::Refuse)).collect();
    // clone3 cannot be checked (its flags are behind a pointer): ENOSYS makes libc fall
    // back to clone, whose flags can.
    rules.extend([
        (g::__NR_clone3, Rule::Missing),
        (g::__NR_clone, Rule::Clone),
        (g::__NR_personality, Rule::Personality),
    ]);
    rules = sorted(rules.into_iter());
    let mut f = vec![
        load(ARCH),
        jump(BPF_JEQ, AUDIT_ARCH, 1, 0),
        ret(SECCOMP_RET_KILL_PROCESS),
        load(NR),
        // Newer than this build knows, and on x86_64 every x32 number (X32_BIT is above
        // NEWEST).
        jump(BPF_JGT, NEWEST, 0, 1),
        ret(enosys),
    ];
    let blocks: Vec<(u32, Vec<sock_filter>)> = rules.into_iter().map(|(nr, rule)| (nr, decide(rule))).collect();
    f.extend(tree_with(&blocks, SECCOMP_RET_ALLOW));
    f
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny interpreter of the classic BPF subset the generators emit, to check what
    /// each call gets without installing anything.
    pub fn run_with(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            let code = u32::from(i.code);
            pc += 1;
            match code {
                c if c == BPF_LD | BPF_W | BPF_ABS => {
                    acc = match i.k {
                        ARCH => arch,
                        NR => nr,
                        k if (16..64).contains(&k) => {
                            let arg = args[((k - 16) / 8) as usize];
                            if k % 8 == 0 { arg as u32 } else { (arg >> 32) as u32 }
                        }
                        k => panic!("load of offset {k}"),
                    };
                }
                c if c == BPF_RET | BPF_K => return i.k,
                c if c == linux_raw_sys::ptrace::BPF_ALU | linux_raw_sys::ptrace::BPF_AND | BPF_K => acc &= i.k,
                c if c == BPF_JMP | BPF_JA => pc += i.k as usize,
                c => {
                    let taken = match c & 0xf0 {
                        x if x == BPF_JEQ => acc == i.k,
                        x if x == BPF_JGT => acc > i.k,
                        x if x == BPF_JGE => acc >= i.k,
                        x if x == BPF_JSET => acc & i.k != 0,
                        x => panic!("jump {x:#x}"),
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
            }
        }
    }

    fn run(prog: &[sock_filter], arch: u32, nr: u32, arg0: u32) -> u32 {
        run_with(prog, arch, nr, [u64::from(arg0), 0, 0, 0, 0, 0])
    }

    #[test]
    fn refused_calls_get_eperm_and_the_rest_are_allowed() {
        let f = default_filter();
        let eperm = errno(rustix::io::Errno::PERM);
        let enosys = errno(rustix::io::Errno::NOSYS);
        let call = |nr, arg0| run(&f, AUDIT_ARCH, nr, arg0);
        for &nr in REFUSED {
            assert_eq!(call(nr, 0), eperm, "call {nr}");
        }
        for nr in [g::__NR_read, g::__NR_write, g::__NR_execve, g::__NR_futex, g::__NR_mmap, g::__NR_socket] {
            assert_eq!(call(nr, 0), SECCOMP_RET_ALLOW, "call {nr}");
        }
        assert_eq!(call(g::__NR_clone, g::SIGCHLD), SECCOMP_RET_ALLOW);
        assert_eq!(call(g::__NR_clone, g::CLONE_NEWUSER | g::SIGCHLD), eperm);
        assert_eq!(call(g::__NR_clone3, 0), enosys);
        assert_eq!(call(g::__NR_personality, 0), SECCOMP_RET_ALLOW);
        assert_eq!(call(g::__NR_personality, 0xffff_ffff), SECCOMP_RET_ALLOW);
        assert_eq!(call(g::__NR_personality, 0x0040_0000), eperm, "READ_IMPLIES_EXEC");
        assert_eq!(call(NEWEST + 1, 0), enosys);
        assert_eq!(call(X32_BIT | g::__NR_read, 0), enosys);
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(call(g::__NR_fork, 0), SECCOMP_RET_ALLOW);
            let i386 = linux_raw_sys::ptrace::AUDIT_ARCH_I386;
            assert_eq!(run(&f, i386, g::__NR_read, 0), SECCOMP_RET_KILL_PROCESS, "i386 calls");
        }
        #[cfg(target_arch = "aarch64")]
        {
            let arm = linux_raw_sys::ptrace::AUDIT_ARCH_ARM;
            assert_eq!(run(&f, arm, g::__NR_read, 0), SECCOMP_RET_KILL_PROCESS, "32-bit arm calls");
        }
        // Every number this build knows gets its answer within a few instructions.
        assert!(f.len() < 255, "{} instructions", f.len());
        for nr in 0..=NEWEST {
            let refused = REFUSED.contains(&nr);
            let want = if refused {
                eperm
            } else if nr == g::__NR_clone3 {
                enosys
            } else {
                SECCOMP_RET_ALLOW
            };
            assert_eq!(call(nr, 0), want, "call {nr}");
        }
    }
}
