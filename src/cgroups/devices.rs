//! The device policy: runtime-spec's linux.resources.devices rules compiled to a
//! BPF_PROG_TYPE_CGROUP_DEVICE program (eBPF, generated here; no libbpf) and attached to
//! the container's cgroup2 cgroup while its init builds the root, before the command
//! starts. The kernel asks it on every open and mknod of a device node. On a hybrid host every container has a
//! cgroup2 cgroup, so the v1 devices controller (and its migration cost) is never needed.

use crate::spec::DeviceRule;

/// struct bpf_cgroup_dev_ctx: access_type (access << 16 | type), major, minor.
const CTX_ACCESS_TYPE: i16 = 0;
const CTX_MAJOR: i16 = 4;
const CTX_MINOR: i16 = 8;
const TYPE_BLOCK: i32 = 1;
const TYPE_CHAR: i32 = 2;

// eBPF opcodes (instruction class | operation | source).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV64_REG: u8 = 0xbf;
const MOV64_IMM: u8 = 0xb7;
const AND64_IMM: u8 = 0x57;
const RSH64_IMM: u8 = 0x77;
const JNE_IMM: u8 = 0x55;
const EXIT: u8 = 0x95;

/// One instruction as the kernel lays it out: code, dst and src registers, offset, imm.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    let off = off as u16 as u64;
    let imm = imm as u32 as u64;
    u64::from(code) | u64::from(dst | (src << 4)) << 8 | off << 16 | imm << 32
}

/// r0 = `allow`; exit.
fn verdict(allow: bool) -> [u64; 2] {
    [insn(MOV64_IMM, 0, 0, 0, i32::from(allow)), insn(EXIT, 0, 0, 0, 0)]
}

/// The program for `rules`: the last rule that matches a request decides it (as the
/// runtime spec orders them); a request no rule matches is denied.
pub fn program(rules: &[DeviceRule]) -> Vec<u64> {
    let mut out = vec![
        insn(LDX_W, 2, 1, CTX_ACCESS_TYPE, 0),
        insn(MOV64_REG, 3, 2, 0, 0),
        insn(AND64_IMM, 3, 0, 0, 0xffff), // r3: the device type
        insn(RSH64_IMM, 2, 0, 0, 16),     // r2: the access asked for
        insn(LDX_W, 4, 1, CTX_MAJOR, 0),
        insn(LDX_W, 5, 1, CTX_MINOR, 0),
    ];
    for rule in rules.iter().rev() {
        let mut checks: Vec<(u8, i32)> = Vec::new();
        match rule.kind {
            'c' => checks.push((3, TYPE_CHAR)),
            'b' => checks.push((3, TYPE_BLOCK)),
            _ => {}
        }
        if let Some(major) = rule.major {
            checks.push((4, major as i32));
        }
        if let Some(minor) = rule.minor {
            checks.push((5, minor as i32));
        }
        // The access asked for must be within the rule's: r6 = r2 & !access must be 0.
        // A rule granting every access needs no check (every verifier path costs time
        // at each container's start).
        let outside = !i32::from(rule.access) & 7;
        let access_check = if outside == 0 { 0 } else { 3 };
        let block_len = checks.len() + access_check + 2;
        for (i, (reg, value)) in checks.iter().enumerate() {
            out.push(insn(JNE_IMM, *reg, 0, (block_len - 1 - i) as i16, *value));
        }
        if outside != 0 {
            out.push(insn(MOV64_REG, 6, 2, 0, 0));
            out.push(insn(AND64_IMM, 6, 0, 0, outside));
            out.push(insn(JNE_IMM, 6, 0, 2, 0));
        }
        out.extend(verdict(rule.allow));
        if checks.is_empty() && outside == 0 {
            // Matches everything: the rules before it and the default are unreachable.
            return out;
        }
    }
    out.extend(verdict(false));
    out
}

/// The program's name in the kernel: "husk_" and 10 hex digits of an FNV-1a hash of its
/// instructions, so that a parent cgroup's program can be recognised as this very policy
/// (an older husk's default, once changed, is then replaced rather than trusted).
pub fn name(program: &[u64]) -> [u8; 16] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in program.iter().flat_map(|i| i.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    let mut name = *b"husk_0000000000\0";
    for (i, slot) in name[5..15].iter_mut().enumerate() {
        *slot = b"0123456789abcdef"[((hash >> (4 * i)) & 15) as usize];
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the subset of eBPF `program` emits against one request.
    fn ask(prog: &[u64], kind: i32, access: i32, major: u32, minor: u32) -> bool {
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (code, dst, src) = (i as u8, ((i >> 8) & 0xf) as usize, ((i >> 12) & 0xf) as usize);
            let (off, imm) = ((i >> 16) as u16 as i16, (i >> 32) as u32 as i32);
            pc += 1;
            match code {
                LDX_W => {
                    r[dst] = match off {
                        CTX_ACCESS_TYPE => (access << 16 | kind) as u64,
                        CTX_MAJOR => u64::from(major),
                        _ => u64::from(minor),
                    }
                }
                MOV64_REG => r[dst] = r[src],
                MOV64_IMM => r[dst] = imm as i64 as u64,
                AND64_IMM => r[dst] &= imm as i64 as u64,
                RSH64_IMM => r[dst] >>= imm,
                JNE_IMM if r[dst] != imm as i64 as u64 => pc += off as usize,
                JNE_IMM => {}
                EXIT => return r[0] == 1,
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn only_the_standard_devices_may_be_opened_or_made() {
        let prog = program(&crate::spec::default_device_rules());
        let (read, write, mknod) = (2, 4, 1);
        for (major, minor) in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, 7)] {
            assert!(ask(&prog, TYPE_CHAR, read | write, major, minor), "c {major}:{minor}");
            assert!(ask(&prog, TYPE_CHAR, mknod, major, minor), "mknod c {major}:{minor}");
        }
        assert!(!ask(&prog, TYPE_BLOCK, read, 7, 0), "a loop device");
        assert!(!ask(&prog, TYPE_BLOCK, mknod, 8, 0), "mknod of a disk");
        assert!(!ask(&prog, TYPE_CHAR, read, 1, 1), "/dev/mem");
        assert!(!ask(&prog, TYPE_CHAR, write, 4, 0), "a virtual console");
    }

    #[test]
    fn the_last_matching_rule_decides() {
        let rule = |allow, kind, major, access| DeviceRule { allow, kind, major, minor: None, access };
        let prog = program(&[rule(true, 'a', None, 7), rule(false, 'b', Some(7), 2)]);
        assert!(!ask(&prog, TYPE_BLOCK, 2, 7, 3), "denied by the later rule");
        assert!(ask(&prog, TYPE_BLOCK, 4, 7, 3), "write is not what the later rule denies");
        assert!(ask(&prog, TYPE_CHAR, 2, 1, 3));
    }
}
