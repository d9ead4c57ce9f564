/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RuntimeDefault profile (see seccomp_default.h), in the spirit of the
 * container ecosystem's default profile: an allow list, so a syscall added to
 * the kernel later stays blocked until it is reviewed. Every name is checked
 * with libseccomp so the runtime never sees a name it would reject.
 */
#include "io/seccomp_default.h"

#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <string.h>

static const char *const allowed[] = {
        "accept",
        "accept4",
        "access",
        "adjtimex",
        "alarm",
        "bind",
        "brk",
        "capget",
        "capset",
        "chdir",
        "chmod",
        "chown",
        "chown32",
        "clock_adjtime",
        "clock_adjtime64",
        "clock_getres",
        "clock_getres_time64",
        "clock_gettime",
        "clock_gettime64",
        "clock_nanosleep",
        "clock_nanosleep_time64",
        "close",
        "close_range",
        "connect",
        "copy_file_range",
        "creat",
        "dup",
        "dup2",
        "dup3",
        "epoll_create",
        "epoll_create1",
        "epoll_ctl",
        "epoll_ctl_old",
        "epoll_pwait",
        "epoll_pwait2",
        "epoll_wait",
        "epoll_wait_old",
        "eventfd",
        "eventfd2",
        "execve",
        "execveat",
        "exit",
        "exit_group",
        "faccessat",
        "faccessat2",
        "fadvise64",
        "fadvise64_64",
        "fallocate",
        "fanotify_mark",
        "fchdir",
        "fchmod",
        "fchmodat",
        "fchown",
        "fchown32",
        "fchownat",
        "fcntl",
        "fcntl64",
        "fdatasync",
        "fgetxattr",
        "flistxattr",
        "flock",
        "fork",
        "fremovexattr",
        "fsetxattr",
        "fstat",
        "fstat64",
        "fstatat64",
        "fstatfs",
        "fstatfs64",
        "fsync",
        "ftruncate",
        "ftruncate64",
        "futex",
        "futex_time64",
        "futex_waitv",
        "futimesat",
        "getcpu",
        "getcwd",
        "getdents",
        "getdents64",
        "getegid",
        "getegid32",
        "geteuid",
        "geteuid32",
        "getgid",
        "getgid32",
        "getgroups",
        "getgroups32",
        "getitimer",
        "getpeername",
        "getpgid",
        "getpgrp",
        "getpid",
        "getppid",
        "getpriority",
        "getrandom",
        "getresgid",
        "getresgid32",
        "getresuid",
        "getresuid32",
        "getrlimit",
        "get_robust_list",
        "getrusage",
        "getsid",
        "getsockname",
        "getsockopt",
        "get_thread_area",
        "gettid",
        "gettimeofday",
        "getuid",
        "getuid32",
        "getxattr",
        "inotify_add_watch",
        "inotify_init",
        "inotify_init1",
        "inotify_rm_watch",
        "io_cancel",
        "ioctl",
        "io_destroy",
        "io_getevents",
        "io_pgetevents",
        "io_pgetevents_time64",
        "ioprio_get",
        "ioprio_set",
        "io_setup",
        "io_submit",
        "io_uring_enter",
        "io_uring_register",
        "io_uring_setup",
        "ipc",
        "kill",
        "landlock_add_rule",
        "landlock_create_ruleset",
        "landlock_restrict_self",
        "lchown",
        "lchown32",
        "lgetxattr",
        "link",
        "linkat",
        "listen",
        "listxattr",
        "llistxattr",
        "_llseek",
        "lremovexattr",
        "lseek",
        "lsetxattr",
        "lstat",
        "lstat64",
        "madvise",
        "membarrier",
        "memfd_create",
        "memfd_secret",
        "mincore",
        "mkdir",
        "mkdirat",
        "mknod",
        "mknodat",
        "mlock",
        "mlock2",
        "mlockall",
        "mmap",
        "mmap2",
        "mprotect",
        "mq_getsetattr",
        "mq_notify",
        "mq_open",
        "mq_timedreceive",
        "mq_timedreceive_time64",
        "mq_timedsend",
        "mq_timedsend_time64",
        "mq_unlink",
        "mremap",
        "msgctl",
        "msgget",
        "msgrcv",
        "msgsnd",
        "msync",
        "munlock",
        "munlockall",
        "munmap",
        "name_to_handle_at",
        "nanosleep",
        "newfstatat",
        "_newselect",
        "open",
        "openat",
        "openat2",
        "pause",
        "pidfd_open",
        "pidfd_send_signal",
        "pipe",
        "pipe2",
        "pkey_alloc",
        "pkey_free",
        "pkey_mprotect",
        "poll",
        "ppoll",
        "ppoll_time64",
        "prctl",
        "pread64",
        "preadv",
        "preadv2",
        "prlimit64",
        "process_mrelease",
        "pselect6",
        "pselect6_time64",
        "pwrite64",
        "pwritev",
        "pwritev2",
        "read",
        "readahead",
        "readlink",
        "readlinkat",
        "readv",
        "recv",
        "recvfrom",
        "recvmmsg",
        "recvmmsg_time64",
        "recvmsg",
        "remap_file_pages",
        "removexattr",
        "rename",
        "renameat",
        "renameat2",
        "restart_syscall",
        "rmdir",
        "rseq",
        "rt_sigaction",
        "rt_sigpending",
        "rt_sigprocmask",
        "rt_sigqueueinfo",
        "rt_sigreturn",
        "rt_sigsuspend",
        "rt_sigtimedwait",
        "rt_sigtimedwait_time64",
        "rt_tgsigqueueinfo",
        "sched_getaffinity",
        "sched_getattr",
        "sched_getparam",
        "sched_get_priority_max",
        "sched_get_priority_min",
        "sched_getscheduler",
        "sched_rr_get_interval",
        "sched_rr_get_interval_time64",
        "sched_setaffinity",
        "sched_setattr",
        "sched_setparam",
        "sched_setscheduler",
        "sched_yield",
        "seccomp",
        "select",
        "semctl",
        "semget",
        "semop",
        "semtimedop",
        "semtimedop_time64",
        "send",
        "sendfile",
        "sendfile64",
        "sendmmsg",
        "sendmsg",
        "sendto",
        "setfsgid",
        "setfsgid32",
        "setfsuid",
        "setfsuid32",
        "setgid",
        "setgid32",
        "setgroups",
        "setgroups32",
        "setitimer",
        "setpgid",
        "setpriority",
        "setregid",
        "setregid32",
        "setresgid",
        "setresgid32",
        "setresuid",
        "setresuid32",
        "setreuid",
        "setreuid32",
        "setrlimit",
        "set_robust_list",
        "setsid",
        "setsockopt",
        "set_thread_area",
        "set_tid_address",
        "setuid",
        "setuid32",
        "setxattr",
        "shmat",
        "shmctl",
        "shmdt",
        "shmget",
        "shutdown",
        "sigaltstack",
        "signalfd",
        "signalfd4",
        "sigprocmask",
        "sigreturn",
        "socketcall",
        "socketpair",
        "splice",
        "stat",
        "stat64",
        "statfs",
        "statfs64",
        "statx",
        "symlink",
        "symlinkat",
        "sync",
        "sync_file_range",
        "syncfs",
        "sysinfo",
        "tee",
        "tgkill",
        "time",
        "timer_create",
        "timer_delete",
        "timer_getoverrun",
        "timer_gettime",
        "timer_gettime64",
        "timer_settime",
        "timer_settime64",
        "timerfd_create",
        "timerfd_gettime",
        "timerfd_gettime64",
        "timerfd_settime",
        "timerfd_settime64",
        "times",
        "tkill",
        "truncate",
        "truncate64",
        "ugetrlimit",
        "umask",
        "uname",
        "unlink",
        "unlinkat",
        "utime",
        "utimensat",
        "utimensat_time64",
        "utimes",
        "vfork",
        "vmsplice",
        "wait4",
        "waitid",
        "waitpid",
        "write",
        "writev",
        "arch_prctl",
        "modify_ldt",
        "socket",
};

/* Only with the capability that makes them meaningful (as in the
 * ecosystem's profile): without it the kernel would refuse most of them
 * anyway, and the filter closes the rest of their attack surface. */
static const struct {
    const char *cap;
    const char *names[16];
} by_cap[] = {
        {"CAP_SYS_ADMIN",
         {"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
          "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
          "quotactl", "setdomainname"}},
        {"CAP_SYS_ADMIN",
         {"sethostname", "setns", "syslog", "umount", "umount2", "unshare", "pivot_root",
          "quotactl_fd"}},
        {"CAP_SYS_BOOT", {"reboot"}},
        {"CAP_SYS_CHROOT", {"chroot"}},
        {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module"}},
        {"CAP_SYS_PACCT", {"acct"}},
        {"CAP_SYS_PTRACE",
         {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
          "ptrace"}},
        {"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
        {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
        {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
        {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy"}},
        {"CAP_SYSLOG", {"syslog"}},
        {"CAP_BPF", {"bpf"}},
        {"CAP_PERFMON", {"perf_event_open"}},
};

static bool has_cap(const char *const *caps, size_t n, const char *cap)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(caps[i], cap) == 0)
            return true;
    return false;
}

static bool known(const char *name)
{
    return seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR;
}

static json_t *rule(json_t *names, const char *action)
{
    json_t *r = json_object();
    json_object_set_new(r, "names", names);
    json_object_set_new(r, "action", json_string(action));
    return r;
}

static json_t *arg_cond(unsigned index, uint64_t value, uint64_t value2, const char *op)
{
    json_t *a = json_object();
    json_object_set_new(a, "index", json_integer(index));
    json_object_set_new(a, "value", json_integer((json_int_t)value));
    json_object_set_new(a, "valueTwo", json_integer((json_int_t)value2));
    json_object_set_new(a, "op", json_string(op));
    return a;
}

static json_t *one_name(const char *name)
{
    json_t *a = json_array();
    json_array_append_new(a, json_string(name));
    return a;
}

static const char *arch_name(uint32_t arch)
{
    switch (arch) {
    case SCMP_ARCH_X86_64:
        return "SCMP_ARCH_X86_64";
    case SCMP_ARCH_AARCH64:
        return "SCMP_ARCH_AARCH64";
    case SCMP_ARCH_PPC64LE:
        return "SCMP_ARCH_PPC64LE";
    case SCMP_ARCH_S390X:
        return "SCMP_ARCH_S390X";
    case SCMP_ARCH_RISCV64:
        return "SCMP_ARCH_RISCV64";
    default:
        return NULL;
    }
}

json_t *berth_seccomp_default_profile(const char *const *caps, size_t ncaps)
{
    json_t *p = json_object();
    json_object_set_new(p, "defaultAction", json_string("SCMP_ACT_ERRNO"));
    json_object_set_new(p, "defaultErrnoRet", json_integer(1)); /* EPERM */
    json_t *arches = json_array();
    uint32_t native = seccomp_arch_native();
    if (arch_name(native) != NULL)
        json_array_append_new(arches, json_string(arch_name(native)));
    if (native == SCMP_ARCH_X86_64) {
        json_array_append_new(arches, json_string("SCMP_ARCH_X86"));
        json_array_append_new(arches, json_string("SCMP_ARCH_X32"));
    } else if (native == SCMP_ARCH_AARCH64) {
        json_array_append_new(arches, json_string("SCMP_ARCH_ARM"));
    }
    json_object_set_new(p, "architectures", arches);

    json_t *rules = json_array();
    json_t *names = json_array();
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (known(allowed[i]))
            json_array_append_new(names, json_string(allowed[i]));
    bool sys_admin = has_cap(caps, ncaps, "CAP_SYS_ADMIN");
    for (size_t i = 0; i < sizeof(by_cap) / sizeof(by_cap[0]); i++) {
        if (!has_cap(caps, ncaps, by_cap[i].cap))
            continue;
        for (size_t j = 0; j < 16 && by_cap[i].names[j] != NULL; j++)
            if (known(by_cap[i].names[j]))
                json_array_append_new(names, json_string(by_cap[i].names[j]));
    }
    json_array_append_new(rules, rule(names, "SCMP_ACT_ALLOW"));

    /* personality: only the harmless personas (Linux, UNAME26, query). */
    static const uint64_t personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
    for (size_t i = 0; i < sizeof(personas) / sizeof(personas[0]); i++) {
        json_t *r = rule(one_name("personality"), "SCMP_ACT_ALLOW");
        json_t *args = json_array();
        json_array_append_new(args, arg_cond(0, personas[i], 0, "SCMP_CMP_EQ"));
        json_object_set_new(r, "args", args);
        json_array_append_new(rules, r);
    }
    if (!sys_admin) {
        /* clone without any CLONE_NEW* flag: threads and fork stay possible,
         * namespaces (a user namespace above all) do not. The flag sits in
         * arg 0 on x86 and arm, in arg 1 on s390x. */
        uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                            CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
        unsigned idx = native == SCMP_ARCH_S390X ? 1 : 0;
        json_t *r = rule(one_name("clone"), "SCMP_ACT_ALLOW");
        json_t *args = json_array();
        json_array_append_new(args, arg_cond(idx, ns_flags, 0, "SCMP_CMP_MASKED_EQ"));
        json_object_set_new(r, "args", args);
        json_array_append_new(rules, r);
        /* unshare of anything but a user namespace fails for lack of
         * CAP_SYS_ADMIN anyway; a user namespace would not, so filter it. */
        r = rule(one_name("unshare"), "SCMP_ACT_ALLOW");
        args = json_array();
        json_array_append_new(args, arg_cond(0, CLONE_NEWUSER, 0, "SCMP_CMP_MASKED_EQ"));
        json_object_set_new(r, "args", args);
        json_array_append_new(rules, r);
        /* clone3 hides its flags in memory the filter cannot read: ENOSYS
         * makes libc fall back to clone, which is filtered above. */
        r = rule(one_name("clone3"), "SCMP_ACT_ERRNO");
        json_object_set_new(r, "errnoRet", json_integer(38)); /* ENOSYS */
        json_array_append_new(rules, r);
    }
    json_object_set_new(p, "syscalls", rules);
    return p;
}
