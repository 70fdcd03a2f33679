/* The in-container probe of tests/security.rs, built static by the test (gcc -static) so
 * it runs in any root filesystem. Each command makes one attempt and prints "ok" or the
 * errno's name, so tests check the exact errno. Every attempt is harmless when it
 * succeeds: invalid magic numbers, flags or types, values written back unchanged.
 *
 *   probe sys NR            syscall NR with zero arguments
 *   probe refused           every call husk's filter refuses, one "name ERRNO" line each
 *   probe mount FSTYPE      mount FSTYPE on /mnt
 *   probe remount PATH      remount PATH read-write
 *   probe rewrite PATH      write a file's own content back to it
 *   probe openw PATH        open PATH for writing
 *   probe read PATH         open PATH and read: "read N" bytes
 *   probe race SECONDS      try to open every process's exe for writing (see race())
 *   probe init_module | finit_module | reboot | kexec_load | keyctl | add_key | bpf |
 *         perf_event_open | settimeofday | unshare_user | clone_newns | rawsock | euid
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

static int report(long ret) {
    if (ret >= 0) {
        puts("ok");
        return 0;
    }
    const char *name = strerrorname_np(errno);
    puts(name ? name : "E?");
    return 1;
}

static int rewrite(const char *path) {
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return report(-1);
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0) return report(-1);
    fd = open(path, O_WRONLY);
    if (fd < 0) return report(-1);
    return report(write(fd, buf, n));
}

static int readpath(const char *path) {
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return report(-1);
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return report(-1);
    printf("read %zd\n", n);
    return 0;
}

/* Each call husk's filter refuses, with zero arguments (refused before the kernel acts). */
static void try_refused(const char *name, long nr) {
    printf("%s ", name);
    fflush(stdout);
    report(syscall(nr, 0, 0, 0, 0, 0, 0));
}

static void refused(void) {
#ifdef SYS_acct
    try_refused("acct", SYS_acct);
#endif
#ifdef SYS_add_key
    try_refused("add_key", SYS_add_key);
#endif
#ifdef SYS_bpf
    try_refused("bpf", SYS_bpf);
#endif
#ifdef SYS_clock_adjtime
    try_refused("clock_adjtime", SYS_clock_adjtime);
#endif
#ifdef SYS_clock_settime
    try_refused("clock_settime", SYS_clock_settime);
#endif
#ifdef SYS_create_module
    try_refused("create_module", SYS_create_module);
#endif
#ifdef SYS_delete_module
    try_refused("delete_module", SYS_delete_module);
#endif
#ifdef SYS_finit_module
    try_refused("finit_module", SYS_finit_module);
#endif
#ifdef SYS_fsconfig
    try_refused("fsconfig", SYS_fsconfig);
#endif
#ifdef SYS_fsmount
    try_refused("fsmount", SYS_fsmount);
#endif
#ifdef SYS_fsopen
    try_refused("fsopen", SYS_fsopen);
#endif
#ifdef SYS_fspick
    try_refused("fspick", SYS_fspick);
#endif
#ifdef SYS_get_kernel_syms
    try_refused("get_kernel_syms", SYS_get_kernel_syms);
#endif
#ifdef SYS_init_module
    try_refused("init_module", SYS_init_module);
#endif
#ifdef SYS_ioperm
    try_refused("ioperm", SYS_ioperm);
#endif
#ifdef SYS_iopl
    try_refused("iopl", SYS_iopl);
#endif
#ifdef SYS_kexec_file_load
    try_refused("kexec_file_load", SYS_kexec_file_load);
#endif
#ifdef SYS_kexec_load
    try_refused("kexec_load", SYS_kexec_load);
#endif
#ifdef SYS_keyctl
    try_refused("keyctl", SYS_keyctl);
#endif
#ifdef SYS_lookup_dcookie
    try_refused("lookup_dcookie", SYS_lookup_dcookie);
#endif
#ifdef SYS_mount
    try_refused("mount", SYS_mount);
#endif
#ifdef SYS_mount_setattr
    try_refused("mount_setattr", SYS_mount_setattr);
#endif
#ifdef SYS_move_mount
    try_refused("move_mount", SYS_move_mount);
#endif
#ifdef SYS_name_to_handle_at
    try_refused("name_to_handle_at", SYS_name_to_handle_at);
#endif
#ifdef SYS_nfsservctl
    try_refused("nfsservctl", SYS_nfsservctl);
#endif
#ifdef SYS_open_by_handle_at
    try_refused("open_by_handle_at", SYS_open_by_handle_at);
#endif
#ifdef SYS_open_tree
    try_refused("open_tree", SYS_open_tree);
#endif
#ifdef SYS_open_tree_attr
    try_refused("open_tree_attr", SYS_open_tree_attr);
#endif
#ifdef SYS_perf_event_open
    try_refused("perf_event_open", SYS_perf_event_open);
#endif
#ifdef SYS_pivot_root
    try_refused("pivot_root", SYS_pivot_root);
#endif
#ifdef SYS_query_module
    try_refused("query_module", SYS_query_module);
#endif
#ifdef SYS_quotactl
    try_refused("quotactl", SYS_quotactl);
#endif
#ifdef SYS_quotactl_fd
    try_refused("quotactl_fd", SYS_quotactl_fd);
#endif
#ifdef SYS_reboot
    try_refused("reboot", SYS_reboot);
#endif
#ifdef SYS_request_key
    try_refused("request_key", SYS_request_key);
#endif
#ifdef SYS_setns
    try_refused("setns", SYS_setns);
#endif
#ifdef SYS_settimeofday
    try_refused("settimeofday", SYS_settimeofday);
#endif
#ifdef SYS_swapoff
    try_refused("swapoff", SYS_swapoff);
#endif
#ifdef SYS_swapon
    try_refused("swapon", SYS_swapon);
#endif
#ifdef SYS__sysctl
    try_refused("_sysctl", SYS__sysctl);
#endif
#ifdef SYS_sysfs
    try_refused("sysfs", SYS_sysfs);
#endif
#ifdef SYS_syslog
    try_refused("syslog", SYS_syslog);
#endif
#ifdef SYS_umount2
    try_refused("umount2", SYS_umount2);
#endif
#ifdef SYS_unshare
    try_refused("unshare", SYS_unshare);
#endif
#ifdef SYS_uselib
    try_refused("uselib", SYS_uselib);
#endif
#ifdef SYS_userfaultfd
    try_refused("userfaultfd", SYS_userfaultfd);
#endif
#ifdef SYS_vhangup
    try_refused("vhangup", SYS_vhangup);
#endif
}

/* For `seconds`, watch every process in sight: open its exe (the binary it runs) for
 * writing, and by O_PATH then reopen through /proc/self/fd for writing (the
 * CVE-2019-5736 route). Prints "won PID TARGET" for every executable opened for writing
 * and "reached PID TARGET" for every exe opened by O_PATH whose binary is not one of
 * the container's; then "tries N". */
static int race(int seconds) {
    char path[64], fdpath[64], target[256];
    long tries = 0;
    time_t end = time(NULL) + seconds;
    pid_t self = getpid();
    while (time(NULL) < end) {
        DIR *proc = opendir("/proc");
        struct dirent *e;
        while (proc && (e = readdir(proc))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == self) continue;
            snprintf(path, sizeof path, "/proc/%d/exe", pid);
            tries++;
            int w = open(path, O_WRONLY);
            if (w >= 0) {
                ssize_t n = readlink(path, target, sizeof target - 1);
                target[n > 0 ? n : 0] = 0;
                printf("won %d %s\n", pid, target);
                close(w);
            }
            int p = open(path, O_PATH);
            if (p < 0) continue;
            ssize_t n = readlink(path, target, sizeof target - 1);
            target[n > 0 ? n : 0] = 0;
            if (strstr(target, "husk")) printf("reached %d %s\n", pid, target);
            snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", p);
            w = open(fdpath, O_WRONLY);
            if (w >= 0) {
                printf("won %d %s\n", pid, target);
                close(w);
            }
            close(p);
        }
        if (proc) closedir(proc);
    }
    printf("tries %ld\n", tries);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *cmd = argv[1], *arg = argc > 2 ? argv[2] : "";
    if (!strcmp(cmd, "sys")) return report(syscall(atol(arg), 0, 0, 0, 0, 0, 0));
    if (!strcmp(cmd, "refused")) {
        refused();
        return 0;
    }
    if (!strcmp(cmd, "mount")) return report(mount(arg, "/mnt", arg, 0, NULL));
    if (!strcmp(cmd, "remount")) return report(mount(NULL, arg, NULL, MS_REMOUNT | MS_BIND, NULL));
    if (!strcmp(cmd, "rewrite")) return rewrite(arg);
    if (!strcmp(cmd, "openw")) return report(open(arg, O_WRONLY));
    if (!strcmp(cmd, "read")) return readpath(arg);
    if (!strcmp(cmd, "init_module")) return report(syscall(SYS_init_module, NULL, 0, ""));
    if (!strcmp(cmd, "finit_module")) return report(syscall(SYS_finit_module, -1, "", 0));
    /* Wrong magic: the kernel refuses before looking at the command. */
    if (!strcmp(cmd, "reboot")) return report(syscall(SYS_reboot, 0, 0, 0, NULL));
    /* Flags naming no architecture: refused before anything is unloaded. */
    if (!strcmp(cmd, "kexec_load")) return report(syscall(SYS_kexec_load, 0, 1, NULL, 0xffff0000UL));
    if (!strcmp(cmd, "keyctl")) return report(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0));
    if (!strcmp(cmd, "add_key")) return report(syscall(SYS_add_key, "no-such-type", "x", NULL, 0, -2));
    if (!strcmp(cmd, "bpf")) return report(syscall(SYS_bpf, 9999, NULL, 0));
    if (!strcmp(cmd, "perf_event_open")) return report(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    /* Both NULL: sets nothing. */
    if (!strcmp(cmd, "settimeofday")) return report(syscall(SYS_settimeofday, NULL, NULL));
    if (!strcmp(cmd, "unshare_user")) return report(unshare(CLONE_NEWUSER));
    if (!strcmp(cmd, "clone_newns")) {
        long pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid(pid, NULL, 0);
        return report(pid);
    }
    if (!strcmp(cmd, "rawsock")) return report(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    if (!strcmp(cmd, "race")) return race(atoi(arg));
    if (!strcmp(cmd, "euid")) {
        printf("%d\n", (int)geteuid());
        return 0;
    }
    fprintf(stderr, "probe: unknown command %s\n", cmd);
    return 2;
}
