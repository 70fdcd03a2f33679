//! System call names in number order (a space each; `_` for the numbers no call has),
//! for seccomp profiles that name calls: one string per architecture, no table of
//! pointers; a build carries only its own.

/// x86_64: made from the kernel's asm/unistd_64.h (Linux 6.1 headers) with the calls up
/// to file_setattr (469) added from linux-raw-sys.
#[cfg(target_arch = "x86_64")]
const NAMES: &str = "\
read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction \
rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select sched_yield \
mremap msync mincore madvise shmget shmat shmctl dup dup2 pause nanosleep getitimer alarm \
setitimer getpid sendfile socket connect accept sendto recvfrom sendmsg recvmsg shutdown bind \
listen getsockname getpeername socketpair setsockopt getsockopt clone fork vfork execve exit \
wait4 kill uname semget semop semctl shmdt msgget msgsnd msgrcv msgctl fcntl flock fsync \
fdatasync truncate ftruncate getdents getcwd chdir fchdir rename mkdir rmdir creat link unlink \
symlink readlink chmod fchmod chown fchown lchown umask gettimeofday getrlimit getrusage \
sysinfo times ptrace getuid syslog getgid setuid setgid geteuid getegid setpgid getppid getpgrp \
setsid setreuid setregid getgroups setgroups setresuid getresuid setresgid getresgid getpgid \
setfsuid setfsgid getsid capget capset rt_sigpending rt_sigtimedwait rt_sigqueueinfo \
rt_sigsuspend sigaltstack utime mknod uselib personality ustat statfs fstatfs sysfs getpriority \
setpriority sched_setparam sched_getparam sched_setscheduler sched_getscheduler \
sched_get_priority_max sched_get_priority_min sched_rr_get_interval mlock munlock mlockall \
munlockall vhangup modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex setrlimit chroot \
sync acct settimeofday mount umount2 swapon swapoff reboot sethostname setdomainname iopl \
ioperm create_module init_module delete_module get_kernel_syms query_module quotactl nfsservctl \
getpmsg putpmsg afs_syscall tuxcall security gettid readahead setxattr lsetxattr fsetxattr \
getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr \
fremovexattr tkill time futex sched_setaffinity sched_getaffinity set_thread_area io_setup \
io_destroy io_getevents io_submit io_cancel get_thread_area lookup_dcookie epoll_create \
epoll_ctl_old epoll_wait_old remap_file_pages getdents64 set_tid_address restart_syscall \
semtimedop fadvise64 timer_create timer_settime timer_gettime timer_getoverrun timer_delete \
clock_settime clock_gettime clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl tgkill \
utimes vserver mbind set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive \
mq_notify mq_getsetattr kexec_load waitid add_key request_key keyctl ioprio_set ioprio_get \
inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat fchownat \
futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat pselect6 \
ppoll unshare set_robust_list get_robust_list splice tee sync_file_range vmsplice move_pages \
utimensat epoll_pwait signalfd timerfd_create eventfd fallocate timerfd_settime timerfd_gettime \
accept4 signalfd4 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev \
rt_tgsigqueueinfo perf_event_open recvmmsg fanotify_init fanotify_mark prlimit64 \
name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg setns getcpu process_vm_readv \
process_vm_writev kcmp finit_module sched_setattr sched_getattr renameat2 seccomp getrandom \
memfd_create kexec_file_load bpf execveat userfaultfd membarrier mlock2 copy_file_range preadv2 \
pwritev2 pkey_mprotect pkey_alloc pkey_free statx io_pgetevents rseq _ _ _ _ _ _ _ _ _ _ _ _ _ \
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ pidfd_send_signal io_uring_setup \
io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick pidfd_open \
clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr \
quotactl_fd landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret \
process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack \
futex_wake futex_wait futex_requeue statmount listmount lsm_get_self_attr lsm_set_self_attr \
lsm_list_modules mseal setxattrat getxattrat listxattrat removexattrat open_tree_attr \
file_getattr file_setattr";

/// aarch64 (the generic table: no calls that have an *at or newer form, 244-259 kept
/// for architecture-specific calls, which arm64 has none of): made from linux-raw-sys's
/// aarch64 module (Linux 6.17 headers).
#[cfg(target_arch = "aarch64")]
const NAMES: &str = "\
io_setup io_destroy io_submit io_cancel io_getevents setxattr lsetxattr fsetxattr getxattr \
lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr \
getcwd lookup_dcookie eventfd2 epoll_create1 epoll_ctl epoll_pwait dup dup3 fcntl \
inotify_init1 inotify_add_watch inotify_rm_watch ioctl ioprio_set ioprio_get flock mknodat \
mkdirat unlinkat symlinkat linkat renameat umount2 mount pivot_root nfsservctl statfs fstatfs \
truncate ftruncate fallocate faccessat chdir fchdir chroot fchmod fchmodat fchownat fchown \
openat close vhangup pipe2 quotactl getdents64 lseek read write readv writev pread64 pwrite64 \
preadv pwritev sendfile pselect6 ppoll signalfd4 vmsplice splice tee readlinkat newfstatat \
fstat sync fsync fdatasync sync_file_range timerfd_create timerfd_settime timerfd_gettime \
utimensat acct capget capset personality exit exit_group waitid set_tid_address unshare futex \
set_robust_list get_robust_list nanosleep getitimer setitimer kexec_load init_module \
delete_module timer_create timer_gettime timer_getoverrun timer_settime timer_delete \
clock_settime clock_gettime clock_getres clock_nanosleep syslog ptrace sched_setparam \
sched_setscheduler sched_getscheduler sched_getparam sched_setaffinity sched_getaffinity \
sched_yield sched_get_priority_max sched_get_priority_min sched_rr_get_interval \
restart_syscall kill tkill tgkill sigaltstack rt_sigsuspend rt_sigaction rt_sigprocmask \
rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigreturn setpriority getpriority reboot \
setregid setgid setreuid setuid setresuid getresuid setresgid getresgid setfsuid setfsgid \
times setpgid getpgid getsid setsid getgroups setgroups uname sethostname setdomainname \
getrlimit setrlimit getrusage umask prctl getcpu gettimeofday settimeofday adjtimex getpid \
getppid getuid geteuid getgid getegid gettid sysinfo mq_open mq_unlink mq_timedsend \
mq_timedreceive mq_notify mq_getsetattr msgget msgctl msgrcv msgsnd semget semctl semtimedop \
semop shmget shmctl shmat shmdt socket socketpair bind listen accept connect getsockname \
getpeername sendto recvfrom setsockopt getsockopt shutdown sendmsg recvmsg readahead brk \
munmap mremap add_key request_key keyctl clone execve mmap fadvise64 swapon swapoff mprotect \
msync mlock munlock mlockall munlockall mincore madvise remap_file_pages mbind get_mempolicy \
set_mempolicy migrate_pages move_pages rt_tgsigqueueinfo perf_event_open accept4 recvmmsg _ _ \
_ _ _ _ _ _ _ _ _ _ _ _ _ _ wait4 prlimit64 fanotify_init fanotify_mark name_to_handle_at \
open_by_handle_at clock_adjtime syncfs setns sendmmsg process_vm_readv process_vm_writev kcmp \
finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create bpf execveat \
userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc \
pkey_free statx io_pgetevents rseq kexec_file_load _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \
_ _ _ _ _ _ _ _ _ _ _ _ _ pidfd_send_signal io_uring_setup io_uring_enter io_uring_register \
open_tree move_mount fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 \
pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd \
landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret process_mrelease \
futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack futex_wake futex_wait \
futex_requeue statmount listmount lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal \
setxattrat getxattrat listxattrat removexattrat open_tree_attr file_getattr file_setattr";

/// Substrings of the tables (`|` between them), each stored as one byte (0x80 + its
/// place here) in the order given: chosen greedily for the x86_64 table, they halve both
/// tables and keep 1.6 KB out of the binary. The tables above stay readable; only the
/// packed form (`PACKED`, computed at compile time) is in the binary.
const WORDS: &str = " _ _ _ _|get|time|set|attr | sched_|t |re|e |d |lock|epoll_|in|ctl |rt_sig|at|open|st|se| m|_modul|otify_|it| io_|process_|file_|ad|_mempolicy|un| p|ch|ll |futex|event|mo|s |sync|prio|na|li|msg|fd_|er|an|acce|sock|ro|wa|k |sys|key|lo|ma|p |le|ex|gi|own |dir |tra|sig| c|up|fs|ec|io|4 |sh|al|ui|qu|_t|page|lsm_|wr|ct|v |no|ar|nd|r_|q_|e_|ur|co|en|fo|fd|y |ca|y_|2 |d_|sym";

/// The start and end of word `k` in WORDS.
const fn word(k: usize) -> (usize, usize) {
    let w = WORDS.as_bytes();
    let (mut i, mut seen) = (0, 0);
    while seen < k && i < w.len() {
        if w[i] == b'|' {
            seen += 1;
        }
        i += 1;
    }
    let mut end = i;
    while end < w.len() && w[end] != b'|' {
        end += 1;
    }
    (i, end)
}

/// NAMES with every word replaced, one word after the other, in place; and its length.
const fn pack() -> ([u8; NAMES.len()], usize) {
    let (w, src) = (WORDS.as_bytes(), NAMES.as_bytes());
    let mut buf = [0u8; NAMES.len()];
    let mut len = 0;
    while len < src.len() {
        buf[len] = src[len];
        len += 1;
    }
    let mut k = 0;
    while k < 128 && word(k).0 < w.len() {
        let (start, end) = word(k);
        let (mut i, mut j) = (0, 0);
        while i < len {
            let mut m = 0;
            while m < end - start && i + m < len && buf[i + m] == w[start + m] {
                m += 1;
            }
            if m == end - start {
                buf[j] = 0x80 + k as u8;
                i += m;
            } else {
                buf[j] = buf[i];
                i += 1;
            }
            j += 1;
        }
        len = j;
        k += 1;
    }
    (buf, len)
}

const PACKED_FULL: ([u8; NAMES.len()], usize) = pack();

const fn truncated() -> [u8; PACKED_FULL.1] {
    let mut out = [0u8; PACKED_FULL.1];
    let mut i = 0;
    while i < out.len() {
        out[i] = PACKED_FULL.0[i];
        i += 1;
    }
    out
}

static PACKED: [u8; PACKED_FULL.1] = truncated();

/// This architecture's names in number order, unpacked (once per profile: `number`).
pub fn table() -> String {
    let mut out = String::with_capacity(NAMES.len());
    for &b in &PACKED {
        match b {
            0x80.. => {
                let (start, end) = word(usize::from(b - 0x80));
                out.push_str(&WORDS[start..end]);
            }
            _ => out.push(char::from(b)),
        }
    }
    out
}

/// The number of the call named `name` in `table`.
pub fn number(table: &str, name: &str) -> Option<u32> {
    table.split(' ').position(|n| n == name && n != "_").map(|n| n as u32)
}

/// Every (name, number), for tests.
#[cfg(test)]
pub fn all() -> impl Iterator<Item = (&'static str, u32)> {
    NAMES.split(' ').enumerate().filter(|(_, n)| *n != "_").map(|(i, n)| (n, i as u32))
}

#[cfg(test)]
mod tests {
    use linux_raw_sys::general as g;

    #[test]
    fn names_give_the_kernels_numbers_across_the_gaps() {
        for (name, nr) in [
            ("read", g::__NR_read),
            ("rseq", g::__NR_rseq),
            ("pidfd_send_signal", g::__NR_pidfd_send_signal),
            ("clone3", g::__NR_clone3),
            ("mount_setattr", g::__NR_mount_setattr),
            ("futex_waitv", g::__NR_futex_waitv),
            ("set_mempolicy_home_node", g::__NR_set_mempolicy_home_node),
            ("cachestat", g::__NR_cachestat),
            ("file_setattr", g::__NR_file_setattr),
        ] {
            assert_eq!(super::number(&super::table(), name), Some(nr), "{name}");
        }
        assert_eq!(super::number(&super::table(), ""), None);
        assert_eq!(super::table(), super::NAMES, "the packed table unpacks to the readable one");
        assert_eq!(super::number(&super::table(), "no_such_call"), None);
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(super::number(&super::table(), "open"), Some(g::__NR_open));
            assert_eq!(super::all().count(), 335 + 46, "0-334 and 424-469");
        }
        #[cfg(target_arch = "aarch64")]
        {
            for (name, nr) in [
                ("io_setup", 0),
                ("recvmmsg", g::__NR_recvmmsg),
                ("wait4", g::__NR_wait4),
                ("newfstatat", g::__NR_newfstatat),
                ("kexec_file_load", g::__NR_kexec_file_load),
            ] {
                assert_eq!(super::number(&super::table(), name), Some(nr), "{name}");
            }
            assert_eq!(super::number(&super::table(), "open"), None, "aarch64 has only openat");
            assert_eq!(super::all().count(), 244 + 35 + 46, "0-243, 260-294 and 424-469");
        }
    }
}
