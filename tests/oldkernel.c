/* Makes this kernel answer some system calls as an older one does, then execs a program
 * (husk) under that answer: a seccomp filter, inherited by everything the program starts,
 * that returns the old kernel's errno for the chosen calls. Built static by
 * tests/old_kernels.rs; runs on the host, never inside a container.
 *
 *   oldkernel FAMILY[,FAMILY...] PROGRAM [ARG...]
 *
 * Families, each with the errno the kernels that lack the call give:
 *   clone3-e2big   clone3 -> E2BIG   (5.3-5.6 with the cgroup field set)
 *   clone3-enosys  clone3 -> ENOSYS  (before 5.3)
 *   close_range    close_range -> ENOSYS (before 5.9)
 *   cloexec-flag   close_range with CLOSE_RANGE_CLOEXEC -> EINVAL (5.9, 5.10)
 *   openat2        openat2 -> ENOSYS (before 5.6)
 *   pidfd_open     pidfd_open -> ENOSYS (before 5.3)
 *   pidfd-setns    setns with several namespace flags (a pidfd) -> EINVAL (before 5.8)
 *   waitid-pidfd   waitid(P_PIDFD) -> EINVAL (before 5.4)
 *   loop-configure ioctl LOOP_CONFIGURE -> EINVAL (before 5.8)
 *   mount_setattr  mount_setattr -> ENOSYS (before 5.12)
 *   5.4            everything 5.4 lacks: clone3-e2big, close_range, openat2, pidfd-setns,
 *                  loop-configure, mount_setattr
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "oldkernel.c knows x86_64 and aarch64"
#endif

static struct sock_filter prog[256];
static unsigned len;

static void put(struct sock_filter f) {
    if (len == sizeof prog / sizeof prog[0]) {
        fprintf(stderr, "oldkernel: filter too long\n");
        exit(125);
    }
    prog[len++] = f;
}

#define NR offsetof(struct seccomp_data, nr)
#define ARG(i) (offsetof(struct seccomp_data, args) + 8 * (i)) /* low 32 bits (little-endian) */
#define LD(off) put((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off)))
#define JEQ(k, t, f) put((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f)))
#define JSET(k, t, f) put((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (k), (t), (f)))
#define RET(v) put((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (v)))
#define FAIL(e) RET(SECCOMP_RET_ERRNO | (e))

/* The accumulator holds the syscall number between blocks. */
static void whole_call(int nr, int err) {
    JEQ(nr, 0, 1);
    FAIL(err);
}

/* nr whose argument `arg` equals `value` fails with err. */
static void call_with_arg(int nr, int arg, unsigned value, int err) {
    JEQ(nr, 0, 3);
    LD(ARG(arg));
    JEQ(value, 0, 1);
    FAIL(err);
    LD(NR);
}

/* setns whose nstype is not 0 or a single CLONE_NEW* flag: a pidfd with a set of them. */
static void setns_pidfd(void) {
    static const unsigned single[] = {0,          0x00020000, 0x02000000, 0x04000000, 0x08000000,
                                      0x10000000, 0x20000000, 0x40000000, 0x00000080};
    const unsigned n = sizeof single / sizeof single[0];
    JEQ(SYS_setns, 0, n + 2);
    LD(ARG(1));
    for (unsigned k = 0; k < n; k++)
        JEQ(single[k], n - k, 0);
    FAIL(EINVAL);
    LD(NR);
}

static int family(const char *name) {
    if (!strcmp(name, "clone3-e2big"))
        whole_call(SYS_clone3, E2BIG);
    else if (!strcmp(name, "clone3-enosys"))
        whole_call(SYS_clone3, ENOSYS);
    else if (!strcmp(name, "close_range"))
        whole_call(SYS_close_range, ENOSYS);
    else if (!strcmp(name, "cloexec-flag")) {
        JEQ(SYS_close_range, 0, 3);
        LD(ARG(2));
        JSET(4, 0, 1); /* CLOSE_RANGE_CLOEXEC */
        FAIL(EINVAL);
        LD(NR);
    } else if (!strcmp(name, "openat2"))
        whole_call(SYS_openat2, ENOSYS);
    else if (!strcmp(name, "pidfd_open"))
        whole_call(SYS_pidfd_open, ENOSYS);
    else if (!strcmp(name, "pidfd-setns"))
        setns_pidfd();
    else if (!strcmp(name, "waitid-pidfd"))
        call_with_arg(SYS_waitid, 0, 3 /* P_PIDFD */, EINVAL);
    else if (!strcmp(name, "loop-configure"))
        call_with_arg(SYS_ioctl, 1, 0x4C0A /* LOOP_CONFIGURE */, EINVAL);
    else if (!strcmp(name, "mount_setattr"))
        whole_call(SYS_mount_setattr, ENOSYS);
    else if (!strcmp(name, "5.4")) {
        const char *all[] = {"clone3-e2big", "close_range", "openat2", "pidfd-setns", "loop-configure",
                             "mount_setattr"};
        for (unsigned i = 0; i < sizeof all / sizeof all[0]; i++)
            family(all[i]);
    } else
        return -1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: oldkernel FAMILY[,FAMILY...] PROGRAM [ARG...]\n");
        return 125;
    }
    LD(offsetof(struct seccomp_data, arch));
    JEQ(ARCH, 1, 0);
    RET(SECCOMP_RET_ALLOW);
    LD(NR);
    char *list = strdup(argv[1]);
    for (char *name = strtok(list, ","); name; name = strtok(NULL, ","))
        if (family(name) < 0) {
            fprintf(stderr, "oldkernel: unknown family %s\n", name);
            return 125;
        }
    RET(SECCOMP_RET_ALLOW);
    struct sock_fprog fprog = {.len = len, .filter = prog};
    /* Root may install a filter without no_new_privs, which would stop setuid helpers
     * (newuidmap) from working; others must set it. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
        if (errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
            perror("oldkernel: seccomp");
            return 125;
        }
    }
    execvp(argv[2], argv + 2);
    perror("oldkernel: exec");
    return 127;
}
