//! Docker's seccomp profile format (`--security-opt seccomp=PROFILE.json`): read into
//! the spec's rules (numbers, comparisons and actions for this architecture, with the
//! profile's capability, architecture and kernel conditions already decided), and
//! compiled to classic BPF: the calls with rules searched as a tree, as the default
//! filter is, each call's rules tried in order, then the default action.

use super::{ARCH, AUDIT_ARCH, NR, jump, ret, stmt, tree_with};
use crate::json::Value;
use crate::spec::{ArgCmp, CmpOp, SeccompProfile, SyscallRule};
use linux_raw_sys::ptrace::{
    BPF_ABS, BPF_ALU, BPF_AND, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_K, BPF_LD, BPF_W, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRAP, sock_filter,
};

/// What the profile's conditions are decided against.
pub struct Context<'a> {
    /// The container's bounding set, CAP_ names.
    pub capabilities: &'a [String],
    /// The running kernel's (major, minor).
    pub kernel: (u32, u32),
}

/// The profile's action names as the kernel's return values; None for what husk does
/// not support (notify, trace).
fn action(name: &str, errno: Option<u64>) -> Option<u32> {
    Some(match name {
        "SCMP_ACT_ALLOW" => SECCOMP_RET_ALLOW,
        "SCMP_ACT_ERRNO" => SECCOMP_RET_ERRNO | (errno.unwrap_or(1) as u32 & 0xffff),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SECCOMP_RET_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS" => SECCOMP_RET_KILL_PROCESS,
        "SCMP_ACT_TRAP" => SECCOMP_RET_TRAP,
        "SCMP_ACT_LOG" => SECCOMP_RET_LOG,
        _ => return None,
    })
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// This architecture under the names profiles use.
#[cfg(target_arch = "x86_64")]
fn ours(arch: &str) -> bool {
    matches!(arch, "amd64" | "x86_64" | "SCMP_ARCH_X86_64")
}
#[cfg(target_arch = "aarch64")]
fn ours(arch: &str) -> bool {
    matches!(arch, "arm64" | "aarch64" | "SCMP_ARCH_AARCH64")
}

/// A profile for other architectures only, said with this one's name.
const NOT_OURS: &str = if cfg!(target_arch = "x86_64") {
    "the profile's architectures do not include x86_64"
} else {
    "the profile's architectures do not include aarch64"
};

/// Reads a profile; errors name the field. Unknown call names are skipped (profiles list
/// other architectures' calls), as libseccomp does.
pub fn parse(text: &str, cx: &Context) -> Result<SeccompProfile, String> {
    from_value(&crate::json::parse(text)?, cx)
}

/// A profile already parsed: Docker's file, or config.json's linux.seccomp (the same
/// fields; its `flags` only tune the kernel's logging and thread sync, so they are left
/// out, and includes/excludes never appear there).
pub fn from_value(v: &Value, cx: &Context) -> Result<SeccompProfile, String> {
    let default_errno = v.get("defaultErrnoRet").and_then(Value::as_u64);
    let default_name = v.get("defaultAction").and_then(Value::as_str).ok_or("defaultAction is missing")?;
    let default =
        action(default_name, default_errno).ok_or(format!("defaultAction {default_name} is not supported"))?;
    let arches = strings(v.get("architectures"));
    if !arches.is_empty() && !arches.iter().any(|a| ours(a)) {
        return Err(NOT_OURS.into());
    }
    let mut rules = Vec::new();
    let table = super::names::table();
    for (i, call) in v.get("syscalls").and_then(Value::as_array).unwrap_or_default().iter().enumerate() {
        let at = |what: &str| format!("syscalls[{i}]: {what}");
        if !applies(call, cx) {
            continue;
        }
        let name = call.get("action").and_then(Value::as_str).ok_or_else(|| at("action is missing"))?;
        let errno = call.get("errnoRet").and_then(Value::as_u64).or(default_errno);
        let act = action(name, errno).ok_or_else(|| at(&format!("action {name} is not supported")))?;
        let mut args = Vec::new();
        for a in call.get("args").and_then(Value::as_array).unwrap_or_default() {
            let index = a.get("index").and_then(Value::as_u64).filter(|&i| i < 6).ok_or_else(|| at("args index"))?;
            let op = match a.get("op").and_then(Value::as_str).unwrap_or_default() {
                "SCMP_CMP_NE" => CmpOp::Ne,
                "SCMP_CMP_LT" => CmpOp::Lt,
                "SCMP_CMP_LE" => CmpOp::Le,
                "SCMP_CMP_EQ" => CmpOp::Eq,
                "SCMP_CMP_GE" => CmpOp::Ge,
                "SCMP_CMP_GT" => CmpOp::Gt,
                "SCMP_CMP_MASKED_EQ" => CmpOp::MaskedEq,
                other => return Err(at(&format!("args op \"{other}\""))),
            };
            let value = a.get("value").and_then(Value::as_u64).ok_or_else(|| at("args value"))?;
            let value_two = a.get("valueTwo").and_then(Value::as_u64).unwrap_or(0);
            args.push(ArgCmp { index: index as u8, op, value, value_two });
        }
        let mut names = strings(call.get("names"));
        if let Some(one) = call.get("name").and_then(Value::as_str) {
            names.push(one);
        }
        for name in names {
            if let Some(nr) = super::names::number(&table, name) {
                rules.push(SyscallRule { nr, args: args.clone(), action: act });
            }
        }
    }
    Ok(SeccompProfile { default_action: default, rules })
}

/// A rule's includes and excludes: capabilities (all of the included ones held, none of
/// the excluded), architectures, the kernel's minimum version.
fn applies(call: &Value, cx: &Context) -> bool {
    let held = |cap: &&str| {
        let cap = cap.strip_prefix("CAP_").unwrap_or(cap);
        cx.capabilities.iter().any(|c| c.strip_prefix("CAP_").unwrap_or(c) == cap)
    };
    if let Some(inc) = call.get("includes") {
        if !strings(inc.get("caps")).iter().all(held) {
            return false;
        }
        let arches = strings(inc.get("arches"));
        if !arches.is_empty() && !arches.iter().any(|a| ours(a)) {
            return false;
        }
        if let Some(min) = inc.get("minKernel").and_then(Value::as_str) {
            let mut parts = min.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            let want = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            if cx.kernel < want {
                return false;
            }
        }
    }
    let excluded = call.get("excludes").is_some_and(|exc| {
        strings(exc.get("caps")).iter().any(held) || strings(exc.get("arches")).iter().any(|a| ours(a))
    });
    !excluded
}

/// The running kernel's (major, minor), from uname.
pub fn kernel_version() -> (u32, u32) {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy();
    let mut parts = release.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// A jump target while one comparison is built: the next instruction, past this
/// comparison (it holds), or past the whole rule (it fails: the call's next rule).
#[derive(Clone, Copy)]
enum To {
    Next,
    Pass,
    Fail,
}

/// The instructions of one rule: its comparisons (all must hold), then its action.
fn rule_code(rule: &SyscallRule) -> Vec<sock_filter> {
    // Jump offsets resolved within their comparison; None: to the next rule.
    let mut code: Vec<(sock_filter, Option<u8>, Option<u8>)> = Vec::new();
    for cmp in &rule.args {
        let lo_at = 16 + 8 * u32::from(cmp.index);
        let hi_at = lo_at + 4;
        let load = |offset: u32| (stmt(BPF_LD | BPF_W | BPF_ABS, offset), To::Next, To::Next);
        let and = |m: u32| (stmt(BPF_ALU | BPF_AND | BPF_K, m), To::Next, To::Next);
        let j = |op: u32, k: u32, t: To, f: To| (jump(op, k, 0, 0), t, f);
        let split = |v: u64| ((v >> 32) as u32, v as u32);
        let (hi, lo) = split(cmp.value);
        let mut c = Vec::new();
        // Unsigned 64-bit comparisons on two 32-bit words, high word first.
        match cmp.op {
            CmpOp::Eq => {
                c.extend([load(hi_at), j(BPF_JEQ, hi, To::Next, To::Fail)]);
                c.extend([load(lo_at), j(BPF_JEQ, lo, To::Next, To::Fail)]);
            }
            CmpOp::MaskedEq => {
                let (vhi, vlo) = split(cmp.value_two);
                c.extend([load(hi_at), and(hi), j(BPF_JEQ, vhi, To::Next, To::Fail)]);
                c.extend([load(lo_at), and(lo), j(BPF_JEQ, vlo, To::Next, To::Fail)]);
            }
            CmpOp::Ne => {
                c.extend([load(hi_at), j(BPF_JEQ, hi, To::Next, To::Pass)]);
                c.extend([load(lo_at), j(BPF_JEQ, lo, To::Fail, To::Next)]);
            }
            CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le => {
                // Lt and Le are the negations of Ge and Gt.
                let (lo_op, yes, no) = match cmp.op {
                    CmpOp::Gt => (BPF_JGT, To::Pass, To::Fail),
                    CmpOp::Ge => (BPF_JGE, To::Pass, To::Fail),
                    CmpOp::Lt => (BPF_JGE, To::Fail, To::Pass),
                    _ => (BPF_JGT, To::Fail, To::Pass),
                };
                c.extend([load(hi_at), j(BPF_JGT, hi, yes, To::Next), j(BPF_JEQ, hi, To::Next, no)]);
                c.extend([load(lo_at), j(lo_op, lo, yes, no)]);
            }
        }
        let n = c.len();
        for (i, (insn, t, f)) in c.into_iter().enumerate() {
            let resolve = |to: To| match to {
                To::Next => Some(0),
                To::Pass => Some((n - i - 1) as u8),
                To::Fail => None,
            };
            code.push((insn, resolve(t), resolve(f)));
        }
    }
    // Failing jumps land just past the action: on the call's next rule.
    let len = code.len() + 1;
    let mut out: Vec<sock_filter> = code
        .into_iter()
        .enumerate()
        .map(|(i, (mut insn, t, f))| {
            insn.jt = t.unwrap_or((len - i - 1) as u8);
            insn.jf = f.unwrap_or((len - i - 1) as u8);
            insn
        })
        .collect();
    out.push(ret(rule.action));
    out
}

/// The profile's program: architecture check, then the calls with rules as a tree.
pub fn filter(profile: &SeccompProfile) -> Vec<sock_filter> {
    let mut f = vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, ARCH),
        jump(BPF_JEQ, AUDIT_ARCH, 1, 0),
        ret(SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD | BPF_W | BPF_ABS, NR),
    ];
    let mut nrs: Vec<u32> = Vec::new();
    for rule in &profile.rules {
        if !nrs.contains(&rule.nr) {
            nrs.push(rule.nr);
        }
    }
    let blocks: Vec<(u32, Vec<sock_filter>)> = super::sorted(nrs.into_iter().map(|nr| (nr, ())))
        .into_iter()
        .map(|(nr, ())| {
            let mut block = Vec::new();
            for rule in profile.rules.iter().filter(|r| r.nr == nr) {
                block.extend(rule_code(rule));
            }
            block.push(ret(profile.default_action));
            (nr, block)
        })
        .collect();
    f.extend(tree_with(&blocks, profile.default_action));
    f
}

#[cfg(test)]
mod tests {
    use super::super::tests::run_with;
    use super::*;

    /// This architecture's and the other one's names, as libseccomp and Docker spell them.
    const X86: bool = cfg!(target_arch = "x86_64");
    const OURS: &str = if X86 { "SCMP_ARCH_X86_64" } else { "SCMP_ARCH_AARCH64" };
    const FOREIGN: &str = if X86 { "arm64" } else { "amd64" };
    const FOREIGN_SCMP: &str = if X86 { "SCMP_ARCH_AARCH64" } else { "SCMP_ARCH_X86_64" };

    /// A profile in which OURS and FOREIGN stand for the architectures' names. Only calls
    /// both architectures have (dup3, not dup2).
    const PROFILE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["OURS"],
        "syscalls": [
            {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["lseek"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 4294967296, "op": "SCMP_CMP_LT"}]},
            {"names": ["dup"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_NE"}]},
            {"names": ["dup3"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 4294967297, "op": "SCMP_CMP_GE"}]},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["FOREIGN"]}},
            {"names": ["gettid"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}}
        ]
    }"#;

    fn decide(caps: &[&str]) -> impl Fn(u32, [u64; 6]) -> u32 {
        let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        let text = PROFILE.replace("OURS", OURS).replace("FOREIGN", FOREIGN);
        let profile = parse(&text, &Context { capabilities: &caps, kernel: (6, 1) }).unwrap();
        let prog = filter(&profile);
        move |nr, args| run_with(&prog, AUDIT_ARCH, nr, args)
    }

    #[test]
    fn a_docker_profile_decides_calls_arguments_and_conditions() {
        let (allow, eperm, enosys) = (SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | 1, SECCOMP_RET_ERRNO | 38);
        let call = decide(&["CAP_CHOWN"]);
        let table = super::super::names::table();
        let nr = |name: &str| super::super::names::number(&table, name).unwrap();
        assert_eq!(call(nr("read"), [0; 6]), allow);
        assert_eq!(call(nr("openat"), [0; 6]), eperm, "the default action");
        assert_eq!(call(nr("personality"), [8, 0, 0, 0, 0, 0]), allow);
        assert_eq!(call(nr("personality"), [8 | 1 << 32, 0, 0, 0, 0, 0]), eperm, "the high word counts");
        assert_eq!(call(nr("clone"), [0x11, 0, 0, 0, 0, 0]), allow);
        assert_eq!(call(nr("clone"), [0x1000_0000, 0, 0, 0, 0, 0]), eperm, "CLONE_NEWUSER");
        assert_eq!(call(nr("clone3"), [0; 6]), enosys);
        assert_eq!(call(nr("lseek"), [0, 0, u64::from(u32::MAX), 0, 0, 0]), allow);
        assert_eq!(call(nr("lseek"), [0, 0, 1 << 32, 0, 0, 0]), eperm);
        assert_eq!(call(nr("dup"), [4, 0, 0, 0, 0, 0]), allow);
        assert_eq!(call(nr("dup"), [5, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(call(nr("dup"), [5 | 1 << 33, 0, 0, 0, 0, 0]), allow);
        assert_eq!(call(nr("dup3"), [0, (1 << 32) + 1, 0, 0, 0, 0]), allow);
        assert_eq!(call(nr("dup3"), [0, 1 << 32, 0, 0, 0, 0]), eperm);
        assert_eq!(call(nr("dup3"), [0, 2 << 32, 0, 0, 0, 0]), allow);
        assert_eq!(call(nr("mount"), [0; 6]), eperm, "needs CAP_SYS_ADMIN");
        assert_eq!(call(nr("getpid"), [0; 6]), allow);
        assert_eq!(call(nr("getppid"), [0; 6]), eperm, "the other architecture only");
        assert_eq!(call(nr("gettid"), [0; 6]), eperm, "newer kernels only");
        let admin = decide(&["CAP_SYS_ADMIN"]);
        assert_eq!(admin(nr("mount"), [0; 6]), allow);
        assert_eq!(admin(nr("getpid"), [0; 6]), eperm, "excluded with CAP_SYS_ADMIN");
    }

    #[test]
    fn a_large_allowlist_still_decides_every_call() {
        // Docker's profile allows about 350 calls: the tree then needs long jumps.
        let names: Vec<(&str, u32)> = super::super::names::all().collect();
        let allowed: Vec<String> = names.iter().step_by(2).map(|(n, _)| format!("{n:?}")).collect();
        let text = format!(
            r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{{"names": [{}], "action": "SCMP_ACT_ALLOW"}}]}}"#,
            allowed.join(",")
        );
        let profile = parse(&text, &Context { capabilities: &[], kernel: (6, 1) }).unwrap();
        let prog = filter(&profile);
        assert!(prog.len() > 256, "{} instructions: no long jump exercised", prog.len());
        for (i, (name, nr)) in names.iter().enumerate() {
            let want = if i % 2 == 0 { SECCOMP_RET_ALLOW } else { SECCOMP_RET_ERRNO | 1 };
            assert_eq!(run_with(&prog, AUDIT_ARCH, *nr, [0; 6]), want, "{name}");
        }
    }

    #[test]
    fn unsupported_or_broken_profiles_are_refused_with_the_reason() {
        let cx = Context { capabilities: &[], kernel: (6, 1) };
        let err = |text: &str| parse(text, &cx).unwrap_err();
        assert!(err("{").contains("at byte"));
        assert!(err(r#"{"syscalls": []}"#).contains("defaultAction"));
        assert!(err(r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#).contains("not supported"));
        let bad_op = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}]}]}"#;
        assert!(err(bad_op).contains("syscalls[0]"));
        let foreign = format!(r#"{{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["{FOREIGN_SCMP}"]}}"#);
        assert_eq!(err(&foreign), NOT_OURS);
        let ours = format!(r#"{{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["{FOREIGN_SCMP}", "{OURS}"]}}"#);
        assert!(parse(&ours, &cx).is_ok());
    }
}
