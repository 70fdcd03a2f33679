//! The one place where husk talks to the kernel without rustix.
//!
//! rustix 1.1 has no public wrapper for clone3/clone, execve, the signal-mask and
//! signalfd calls, rt_sigaction, kill(-1), close_range, mount_setattr or seccomp (with a
//! program), and some
//! of its own calls are `unsafe` (unshare, loop-device ioctls). Everything `unsafe` in husk
//! lives here, behind safe functions whose preconditions are checked or documented; so
//! does the launcher's heap (`Heap`, a free list per small size over the C library's
//! allocator), since a global allocator is `unsafe` by nature.
//! Numbers and structs come from linux-raw-sys, which has a module per architecture; the
//! instruction that enters the kernel is the only code written per architecture
//! (x86_64 and aarch64).
#![allow(unsafe_code)]

mod heap;
pub use heap::Heap;

use core::arch::asm;
use core::ffi::{CStr, c_char};
use linux_raw_sys::general as g;
use rustix::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use rustix::io::Errno;
use rustix::process::Pid;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("husk's raw-syscall module knows x86_64 and aarch64 only");

/// One `syscall` instruction. The kernel clobbers rcx and r11 and nothing else.
///
/// # Safety
/// The caller passes arguments valid for syscall `nr` (pointers to live memory of the
/// right size and lifetime).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn syscall6(nr: u32, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller guarantees the arguments; the asm touches no memory itself.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// One `svc 0`: the number in x8, arguments in x0-x5, the result in x0. The kernel
/// preserves every other register.
///
/// # Safety
/// As for the x86_64 version.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn syscall6(nr: u32, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller guarantees the arguments; the asm touches no memory itself.
    unsafe {
        asm!(
            "svc 0",
            in("x8") nr as usize,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack),
        );
    }
    ret
}

/// The kernel's convention: -4095..-1 is a negated errno.
fn check(ret: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&ret) { Err(Errno::from_raw_os_error(-ret as i32)) } else { Ok(ret as usize) }
}

/// Which side of a fork-like clone we are on.
pub enum Forked {
    Child,
    Parent { pid: Pid, pidfd: Option<OwnedFd> },
}

/// clone3 without a new stack or CLONE_VM, so the child continues on a copy of the
/// caller's stack like fork(). `cgroup` places the child in a cgroup2 directory at
/// birth (CLONE_INTO_CGROUP). The caller must be single-threaded; in the child, musl's
/// cached thread id is stale (never call raise/abort there: see `exit_group`).
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Forked, Errno> {
    let mut pidfd: i32 = -1;
    let mut args: g::clone_args = clone_args_zeroed();
    args.flags = flags | g::CLONE_PIDFD as u64;
    args.pidfd = &mut pidfd as *mut i32 as u64;
    args.exit_signal = g::SIGCHLD as u64;
    if let Some(fd) = cgroup {
        args.flags |= g::CLONE_INTO_CGROUP;
        args.cgroup = rustix::fd::AsRawFd::as_raw_fd(&fd) as u64;
    }
    // SAFETY: args and pidfd outlive the call; no CLONE_VM, so no shared stack.
    let ret = unsafe {
        syscall6(g::__NR_clone3, [&args as *const _ as usize, core::mem::size_of::<g::clone_args>(), 0, 0, 0, 0])
    };
    forked(check(ret)?, pidfd)
}

/// clone(2) with the same fork-like semantics, for kernels or seccomp profiles that
/// refuse clone3 (ENOSYS before 5.3 and in Docker's profile, EPERM in older ones).
pub fn clone_legacy(flags: u64) -> Result<Forked, Errno> {
    let mut pidfd: i32 = -1;
    let flags = flags | g::CLONE_PIDFD as u64 | g::SIGCHLD as u64;
    // SAFETY: x86_64's order is flags, newsp, parent_tid, child_tid, tls and aarch64's
    // flags, newsp, parent_tid, tls, child_tid: the same words here, since only
    // parent_tid is set. With CLONE_PIDFD the pidfd is written through parent_tid, which
    // points at a live i32.
    let ret = unsafe { syscall6(g::__NR_clone, [flags as usize, 0, &mut pidfd as *mut i32 as usize, 0, 0, 0]) };
    forked(check(ret)?, pidfd)
}

fn forked(ret: usize, pidfd: i32) -> Result<Forked, Errno> {
    if ret == 0 {
        return Ok(Forked::Child);
    }
    let pid = Pid::from_raw(ret as i32).ok_or(Errno::INVAL)?;
    // SAFETY: the kernel just created this descriptor for us and nobody else owns it.
    let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
    Ok(Forked::Parent { pid, pidfd })
}

fn clone_args_zeroed() -> g::clone_args {
    g::clone_args {
        flags: 0,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: 0,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: 0,
    }
}

/// The process's environment as the C library holds it, for an exec that passes it
/// on unchanged.
pub fn environ() -> *const *const c_char {
    unsafe extern "C" {
        static environ: *const *const c_char;
    }
    // SAFETY: a read of the pointer the C library set before main; husk never changes
    // its environment, so no other thread writes it.
    unsafe { environ }
}

/// The C library's text for an errno ("No such file or directory"). std's own route
/// (io::Error's Display) carries every error kind's description too: 1 KB of binary.
pub fn strerror(errno: Errno) -> &'static [u8] {
    unsafe extern "C" {
        fn strerror(errnum: i32) -> *const c_char;
    }
    // SAFETY: musl's strerror returns a pointer into its static, NUL-terminated message
    // table for every number (an unknown one gets "No error information").
    unsafe { CStr::from_ptr(strerror(errno.raw_os_error())) }.to_bytes()
}

/// execve; returns only on failure. `argv` and `envp` must be NULL-terminated arrays of
/// pointers to NUL-terminated strings (what `CArgs` builds).
pub fn execve(path: &CStr, argv: *const *const c_char, envp: *const *const c_char) -> Errno {
    // SAFETY: path is NUL-terminated; the arrays are the caller's documented contract.
    let ret = unsafe { syscall6(g::__NR_execve, [path.as_ptr() as usize, argv as usize, envp as usize, 0, 0, 0]) };
    match check(ret) {
        Err(e) => e,
        Ok(_) => Errno::INVAL,
    }
}

/// exit_group. Used instead of abort() in children of a raw clone, where musl's abort
/// would signal the parent through the stale cached tid.
pub fn exit_group(code: i32) -> ! {
    // SAFETY: takes no pointers and never returns, which the asm states.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        asm!("syscall", in("rax") g::__NR_exit_group as usize, in("rdi") code as isize as usize, options(noreturn, nostack));
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        asm!("svc 0", in("x8") g::__NR_exit_group as usize, in("x0") code as isize as usize, options(noreturn, nostack));
    }
}

/// A signal set: bit (sig - 1), one u64 (the kernel's sigset on x86_64 and aarch64).
pub type SigSet = u64;

pub const fn sigbit(sig: u32) -> SigSet {
    1u64 << (sig - 1)
}

/// Every signal a process may block (not KILL or STOP).
pub const ALL_SIGNALS: SigSet = !(sigbit(g::SIGKILL) | sigbit(g::SIGSTOP));

/// rt_sigprocmask(SIG_SETMASK); returns the previous mask.
pub fn set_signal_mask(set: SigSet) -> Result<SigSet, Errno> {
    let mut old: SigSet = 0;
    // SAFETY: both pointers reference live u64s; size 8 is the kernel's sigset size.
    let ret = unsafe {
        syscall6(
            g::__NR_rt_sigprocmask,
            [g::SIG_SETMASK as usize, &set as *const _ as usize, &mut old as *mut _ as usize, 8, 0, 0],
        )
    };
    check(ret).map(|_| old)
}

/// signalfd4 for `set`, close-on-exec, optionally non-blocking (SFD_NONBLOCK is
/// O_NONBLOCK). The signals must also be blocked.
pub fn signalfd(set: SigSet, nonblock: bool) -> Result<OwnedFd, Errno> {
    let flags = g::O_CLOEXEC | if nonblock { g::O_NONBLOCK } else { 0 };
    // SAFETY: set is a live u64 of the kernel's sigset size.
    let ret = unsafe { syscall6(g::__NR_signalfd4, [usize::MAX, &set as *const _ as usize, 8, flags as usize, 0, 0]) };
    // SAFETY: a fresh descriptor that nobody else owns.
    check(ret).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// What husk needs of a `struct signalfd_siginfo` (128 bytes; absent from
/// linux-raw-sys), decoded from the raw bytes so no layout punning is needed.
#[derive(Clone, Copy)]
pub struct SigInfo {
    pub signo: u32,
    pub pid: u32,
}

pub const SIGINFO_SIZE: usize = 128;

impl SigInfo {
    pub fn parse(buf: &[u8; SIGINFO_SIZE]) -> SigInfo {
        let word = |at: usize| u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        SigInfo { signo: word(0), pid: word(12) }
    }
}

/// Sets `sig` to SIG_DFL or SIG_IGN. Exec keeps ignored dispositions, so a child
/// resets what Rust's runtime ignores (SIGPIPE) before it execs a user's program.
pub fn set_signal_disposition(sig: u32, ignore: bool) -> Result<(), Errno> {
    // The kernel's struct sigaction on x86_64 and aarch64 (both define SA_RESTORER):
    // handler, flags, restorer, mask. Spelled out as
    // words because the bindings type the handler as a fn pointer, which cannot hold
    // SIG_IGN (1).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: usize,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction { handler: usize::from(ignore), flags: 0, restorer: 0, mask: 0 };
    // SAFETY: act is live and laid out as the kernel expects; no old action requested.
    let ret = unsafe { syscall6(g::__NR_rt_sigaction, [sig as usize, &act as *const _ as usize, 0, 8, 0, 0]) };
    check(ret).map(|_| ())
}

/// kill(2) with a raw pid: negative values name process groups and -1 means every
/// process the caller may signal, which rustix's `Pid` cannot express.
pub fn kill(pid: i32, sig: u32) -> Result<(), Errno> {
    // SAFETY: no pointers.
    let ret = unsafe { syscall6(g::__NR_kill, [pid as isize as usize, sig as usize, 0, 0, 0, 0]) };
    check(ret).map(|_| ())
}

/// close_range(2) over [first, last]; `cloexec` marks instead of closing.
pub fn close_range(first: u32, last: u32, cloexec: bool) -> Result<(), Errno> {
    const CLOSE_RANGE_CLOEXEC: usize = 4;
    let flags = if cloexec { CLOSE_RANGE_CLOEXEC } else { 0 };
    // SAFETY: no pointers; closing descriptors others still "own" is the caller's intent
    // (only done right before exec or in a freshly cloned child).
    let ret = unsafe { syscall6(g::__NR_close_range, [first as usize, last as usize, flags, 0, 0, 0]) };
    check(ret).map(|_| ())
}

/// mount_setattr(2) with MOUNT_ATTR_IDMAP on a detached mount (open_tree's clone or
/// fsmount's, not yet attached): its files' owners are then read and written through
/// `userns`'s id maps, so that ids on disk appear as the same ids inside that namespace
/// (an idmapped mount, Linux 5.12).
pub fn mount_idmap(mount: BorrowedFd<'_>, userns: BorrowedFd<'_>) -> Result<(), Errno> {
    let attr = g::mount_attr {
        attr_set: u64::from(g::MOUNT_ATTR_IDMAP),
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let args = [
        mount.as_raw_fd() as usize,
        c"".as_ptr() as usize,
        g::AT_EMPTY_PATH as usize,
        &attr as *const g::mount_attr as usize,
        core::mem::size_of::<g::mount_attr>(),
        0,
    ];
    // SAFETY: the empty path and `attr` are alive for the call; the kernel only reads them.
    check(unsafe { syscall6(g::__NR_mount_setattr, args) }).map(|_| ())
}

/// Installs a classic-BPF seccomp filter on the calling thread (seccomp(2) with
/// SECCOMP_SET_MODE_FILTER; rustix's wrapper passes only the mode). The kernel checks
/// the program; the caller has set no_new_privs or holds CAP_SYS_ADMIN.
pub fn seccomp_filter(program: &[linux_raw_sys::ptrace::sock_filter]) -> Result<(), Errno> {
    let len = u16::try_from(program.len()).map_err(|_| Errno::INVAL)?;
    let prog = linux_raw_sys::ptrace::sock_fprog { len, filter: program.as_ptr() as *mut _ };
    let addr = &prog as *const linux_raw_sys::ptrace::sock_fprog as usize;
    // SAFETY: `prog` points at `program`, both alive for the call; the kernel copies the
    // program before returning and writes nothing.
    let ret = unsafe {
        syscall6(g::__NR_seccomp, [linux_raw_sys::ptrace::SECCOMP_SET_MODE_FILTER as usize, 0, addr, 0, 0, 0])
    };
    check(ret).map(|_| ())
}

const BPF_CGROUP_DEVICE: u32 = 6;

/// bpf(2) with `attr`, a prefix of `union bpf_attr` (the kernel reads the rest as zero).
/// Private: the callers below own the pointers they put into it.
fn bpf<T>(cmd: usize, attr: &mut T) -> Result<usize, Errno> {
    let (addr, size) = (attr as *mut T as usize, core::mem::size_of::<T>());
    // SAFETY: `attr` is alive and exclusively borrowed for the call; every pointer a
    // caller stored in it names memory alive for the call, sized as the field says.
    check(unsafe { syscall6(g::__NR_bpf, [cmd, addr, size, 0, 0, 0]) })
}

/// bpf(2) BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program (eBPF instructions as
/// the kernel lays them out, one u64 each) named `name` ([A-Za-z0-9_.], NUL-terminated).
/// Returns the program's descriptor.
pub fn bpf_load_device_program(insns: &[u64], name: &[u8; 16]) -> Result<OwnedFd, Errno> {
    #[repr(C)]
    struct Load {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log: [u32; 4],
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
    }
    static LICENSE: &[u8] = b"Apache-2.0\0";
    let mut attr = Load {
        prog_type: 15, // BPF_PROG_TYPE_CGROUP_DEVICE
        insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno::INVAL)?,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        log: [0; 4],
        kern_version: 0,
        prog_flags: 0,
        prog_name: *name,
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
    };
    let fd = bpf(5, &mut attr)?; // BPF_PROG_LOAD
    // SAFETY: a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// bpf(2) BPF_PROG_ATTACH of a device program to a cgroup2 directory. `shared`: the
/// single program of husk's parent cgroup, which each container's cgroup inherits unless
/// it attaches its own (BPF_F_ALLOW_OVERRIDE, replacing the parent's previous one);
/// otherwise the container's own, with BPF_F_ALLOW_MULTI so programs of enclosing
/// cgroups (systemd's) keep applying too.
pub fn bpf_attach_device_program(cgroup: BorrowedFd<'_>, program: BorrowedFd<'_>, shared: bool) -> Result<(), Errno> {
    let mut attr =
        [cgroup.as_raw_fd() as u32, program.as_raw_fd() as u32, BPF_CGROUP_DEVICE, if shared { 1 } else { 2 }];
    bpf(8, &mut attr).map(drop) // BPF_PROG_ATTACH
}

/// The name of the device program attached to a cgroup2 directory itself (not one it
/// inherits), if it has exactly one: BPF_PROG_QUERY for its id, BPF_PROG_GET_FD_BY_ID,
/// then BPF_OBJ_GET_INFO_BY_FD for `struct bpf_prog_info`'s name (at byte 64).
pub fn bpf_device_program_name(cgroup: BorrowedFd<'_>) -> Result<[u8; 16], Errno> {
    #[repr(C)]
    struct Query {
        target_fd: u32,
        attach_type: u32,
        query_flags: u32,
        attach_flags: u32,
        prog_ids: u64,
        prog_cnt: u32,
        pad: u32,
    }
    let mut id = 0u32;
    let mut query = Query {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        query_flags: 0,
        attach_flags: 0,
        prog_ids: &mut id as *mut u32 as u64,
        prog_cnt: 1,
        pad: 0,
    };
    // ENOSPC: more than one (another tool's, in multi mode).
    bpf(16, &mut query)?; // BPF_PROG_QUERY
    if query.prog_cnt != 1 {
        return Err(Errno::NOENT);
    }
    // SAFETY: a fresh descriptor that nobody else owns.
    let prog = unsafe { OwnedFd::from_raw_fd(bpf(13, &mut [id, 0, 0])? as RawFd) }; // BPF_PROG_GET_FD_BY_ID
    let mut info = [0u8; 80];
    #[repr(C)]
    struct GetInfo {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    let mut attr =
        GetInfo { bpf_fd: prog.as_raw_fd() as u32, info_len: info.len() as u32, info: info.as_mut_ptr() as u64 };
    bpf(15, &mut attr)?; // BPF_OBJ_GET_INFO_BY_FD
    let mut name = [0u8; 16];
    name.copy_from_slice(&info[64..]);
    Ok(name)
}

/// personality(2): the execution domain (PER_LINUX32 for a 32-bit userland's uname),
/// which rustix does not wrap.
pub fn personality(persona: u32) -> Result<(), Errno> {
    // SAFETY: integer argument only.
    let ret = unsafe { syscall6(g::__NR_personality, [persona as usize, 0, 0, 0, 0, 0]) };
    check(ret).map(|_| ())
}

/// unshare(2). rustix marks it unsafe because CLONE_FILES could invalidate descriptors
/// borrowed by other threads; husk calls it only single-threaded.
pub fn unshare(flags: rustix::thread::UnshareFlags) -> Result<(), Errno> {
    // SAFETY: single-threaded callers only (the container's init before it spawns).
    unsafe { rustix::thread::unshare_unsafe(flags) }
}

/// Standard error as a borrowed descriptor, for code without std's handles.
pub fn stderr() -> BorrowedFd<'static> {
    // SAFETY: descriptor 2 stays open for the life of the process by convention; a closed
    // 2 only makes writes fail with EBADF.
    unsafe { BorrowedFd::borrow_raw(2) }
}

/// Standard input as a borrowed descriptor.
pub fn stdin() -> BorrowedFd<'static> {
    // SAFETY: as for `stderr`.
    unsafe { BorrowedFd::borrow_raw(0) }
}

/// A descriptor inherited across the clone by number (the parent's detached mounts), for
/// the child's one use of it. A number that is not open only makes that use fail (EBADF).
pub fn inherited(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: as for `stderr`: nothing in the child closes these descriptors before use.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// A signal number as rustix's `Signal`, real-time signals included (which
/// `Signal::from_named_raw` refuses). musl reserves 32-34 for itself.
pub fn signal(sig: u32) -> Option<rustix::process::Signal> {
    if sig == 0 || sig > 64 || (32..=34).contains(&sig) {
        return None;
    }
    // SAFETY: 1..=64 minus musl's reserved numbers are valid signals on Linux.
    Some(unsafe { rustix::process::Signal::from_raw_unchecked(sig as i32) })
}

/// setsockopt with an int value, for options rustix has no wrapper for
/// (NETLINK_EXT_ACK).
pub fn setsockopt_u32(fd: BorrowedFd<'_>, level: u32, name: u32, value: u32) -> Result<(), Errno> {
    let fd = rustix::fd::AsRawFd::as_raw_fd(&fd);
    // SAFETY: value is a live u32 and its size is passed with it.
    let ret = unsafe {
        syscall6(g::__NR_setsockopt, [fd as usize, level as usize, name as usize, &value as *const u32 as usize, 4, 0])
    };
    check(ret).map(|_| ())
}

/// ioctl with an integer or pointer argument, returning the kernel's return value.
///
/// # Safety
/// `arg` must be what request `req` expects: an integer, or a pointer to a live value of
/// the request's type.
unsafe fn ioctl(fd: BorrowedFd<'_>, req: u32, arg: usize) -> Result<usize, Errno> {
    let fd = rustix::fd::AsRawFd::as_raw_fd(&fd);
    // SAFETY: forwarded to the caller.
    check(unsafe { syscall6(g::__NR_ioctl, [fd as usize, req as usize, arg, 0, 0, 0]) })
}

/// LOOP_CTL_GET_FREE on /dev/loop-control: the number of a free loop device (found or
/// created), which the kernel returns as the ioctl's value.
pub fn loop_get_free(control: BorrowedFd<'_>) -> Result<u32, Errno> {
    use linux_raw_sys::loop_device::LOOP_CTL_GET_FREE;
    // SAFETY: LOOP_CTL_GET_FREE takes no argument.
    unsafe { ioctl(control, LOOP_CTL_GET_FREE, 0) }.map(|n| n as u32)
}

/// LOOP_CONFIGURE (Linux 5.8): binds `backing` and sets the flags in one step.
pub fn loop_configure(dev: BorrowedFd<'_>, config: &linux_raw_sys::loop_device::loop_config) -> Result<(), Errno> {
    use linux_raw_sys::loop_device::LOOP_CONFIGURE;
    // SAFETY: config is a live loop_config, which LOOP_CONFIGURE reads.
    unsafe { ioctl(dev, LOOP_CONFIGURE, config as *const _ as usize) }.map(drop)
}

/// LOOP_SET_FD then LOOP_SET_STATUS64: the older two-step form of `loop_configure`.
pub fn loop_set_fd_and_status(
    dev: BorrowedFd<'_>,
    backing: BorrowedFd<'_>,
    info: &linux_raw_sys::loop_device::loop_info64,
) -> Result<(), Errno> {
    use linux_raw_sys::loop_device::{LOOP_CLR_FD, LOOP_SET_FD, LOOP_SET_STATUS64};
    let backing = rustix::fd::AsRawFd::as_raw_fd(&backing);
    // SAFETY: LOOP_SET_FD takes the descriptor by value.
    unsafe { ioctl(dev, LOOP_SET_FD, backing as usize) }?;
    // SAFETY: info is a live loop_info64, which LOOP_SET_STATUS64 reads.
    if let Err(e) = unsafe { ioctl(dev, LOOP_SET_STATUS64, info as *const _ as usize) } {
        // SAFETY: LOOP_CLR_FD takes no argument; undoes the half-done attach.
        let _ = unsafe { ioctl(dev, LOOP_CLR_FD, 0) };
        return Err(e);
    }
    Ok(())
}

/// Drops the resident pages of this process's read-only file mappings (its own code and
/// constants, for a static binary): a forked init or supervisor would otherwise keep
/// every page the launcher touched, while its loop needs a handful. The kernel reloads
/// a dropped page from the file if it is used again; the file cannot change under us,
/// since writing to a running executable fails (ETXTBSY). Allocation-free.
pub fn release_code_pages() {
    use rustix::fs::{Mode, OFlags};
    let Ok(maps) = rustix::fs::open("/proc/self/maps", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
        return;
    };
    let mut buf = [0u8; 8192];
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(&maps, &mut buf[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    for line in buf[..len].split(|&b| b == b'\n') {
        // "start-end perms offset dev inode path"
        let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else { continue };
        let file_backed = fields.nth(3).is_some_and(|path| path.first() == Some(&b'/'));
        if !file_backed || perms.get(1) != Some(&b'-') {
            continue;
        }
        let mut ends = range.split(|&b| b == b'-');
        let (Some(start), Some(end)) = (ends.next().and_then(hex), ends.next().and_then(hex)) else { continue };
        // SAFETY: a read-only private file mapping of this process; MADV_DONTNEED only
        // forgets its pages, which the next access reads back from the file.
        unsafe {
            syscall6(g::__NR_madvise, [start, end.saturating_sub(start), g::MADV_DONTNEED as usize, 0, 0, 0]);
        }
    }
}

fn hex(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |acc, &d| Some(acc.checked_mul(16)? + (d as char).to_digit(16)? as usize))
}

/// Marks descriptor `fd` close-on-exec (fcntl F_SETFD): the fallback of `close_range`
/// with CLOSE_RANGE_CLOEXEC (Linux 5.11) walks the open descriptors by number, which
/// rustix's `fcntl_setfd` cannot take without a borrowed descriptor.
pub fn set_cloexec_raw(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: no pointers; F_SETFD only changes this descriptor's flag (EBADF if closed).
    let ret = unsafe { syscall6(g::__NR_fcntl, [fd as usize, g::F_SETFD as usize, g::FD_CLOEXEC as usize, 0, 0, 0]) };
    check(ret).map(|_| ())
}

/// Whether the kernel has mount_setattr(2) (Linux 5.12), asked without side effects: a
/// call on descriptor -1 fails with EBADF where it exists and ENOSYS where it does not.
pub fn have_mount_setattr() -> bool {
    let attr = g::mount_attr { attr_set: 0, attr_clr: 0, propagation: 0, userns_fd: 0 };
    let args = [
        usize::MAX,
        c"".as_ptr() as usize,
        g::AT_EMPTY_PATH as usize,
        &attr as *const g::mount_attr as usize,
        core::mem::size_of::<g::mount_attr>(),
        0,
    ];
    // SAFETY: as in `mount_idmap`; descriptor -1 names no mount, so nothing changes.
    !matches!(check(unsafe { syscall6(g::__NR_mount_setattr, args) }), Err(Errno::NOSYS))
}

/// close(2) of a descriptor by number: the fallback of `close_range` (Linux 5.9) closes
/// the open descriptors it lists one by one, as close_range would have.
pub fn close_raw(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: no pointers; closing descriptors others still "own" is the caller's intent,
    // as for `close_range`.
    check(unsafe { syscall6(g::__NR_close, [fd as usize, 0, 0, 0, 0, 0]) }).map(|_| ())
}
