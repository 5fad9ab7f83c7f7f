//! The seccomp filter: a deny list over the native syscall table, written as a small classic-BPF
//! program by hand.
//!
//! Why by hand and not seccompiler: a deny list (default allow) must also refuse every syscall
//! that reaches the kernel through another table. On x86_64 the x32 ABI shares the
//! AUDIT_ARCH_X86_64 architecture value but numbers its syscalls with bit 30 set
//! (`__X32_SYSCALL_BIT`), so an exact-number deny list would miss `0x40000000 | SYS_ptrace`;
//! this needs a range check that seccompiler's rule model does not express. The i386 table
//! (`int 0x80`) arrives with a different arch value (AUDIT_ARCH_I386) and is killed by the arch
//! check, like every other foreign ABI.
//!
//! The filter is compiled once (in the supervisor, before fork) and installed with
//! SECCOMP_SET_MODE_FILTER by the command's process as the last step before execve.

use std::io;

// struct seccomp_data offsets (include/uapi/linux/seccomp.h).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// Low 32 bits of argument `i` (the machines cordon supports are little-endian).
const fn off_arg_lo(i: u32) -> u32 {
    16 + 8 * i
}

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
const BPF_JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K: u16 = 0x05 | 0x30; // BPF_JMP | BPF_JGE | BPF_K
const BPF_JSET_K: u16 = 0x05 | 0x40; // BPF_JMP | BPF_JSET | BPF_K
const BPF_RET_K: u16 = 0x06;

const RET_ALLOW: u32 = 0x7fff_0000; // SECCOMP_RET_ALLOW
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ERRNO: u32 = 0x0005_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_NATIVE: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

/// Namespace-creating flags. CLONE_NEWTIME (0x80) only exists for unshare/clone3: in clone()'s
/// first argument the low byte is the exit signal.
const CLONE_NS_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;
const CLONE_NEWTIME: u32 = 0x80;

/// The syscalls refused outright (EPERM), with the reason each is on the list.
pub fn denied_syscalls() -> Vec<(i64, &'static str)> {
    use libc::*;
    let mut v: Vec<(i64, &'static str)> = vec![
        (
            SYS_io_uring_setup,
            "io_uring: a second syscall path that seccomp cannot see",
        ),
        (SYS_io_uring_enter, "io_uring"),
        (SYS_io_uring_register, "io_uring"),
        (SYS_ptrace, "tracing other processes"),
        (SYS_process_vm_readv, "reading other processes' memory"),
        (SYS_process_vm_writev, "writing other processes' memory"),
        (
            SYS_pidfd_getfd,
            "stealing other processes' file descriptors",
        ),
        (SYS_process_madvise, "acting on other processes' memory"),
        (SYS_bpf, "kernel attack surface"),
        (SYS_perf_event_open, "kernel attack surface, side channels"),
        (SYS_userfaultfd, "used to widen kernel race windows"),
        (SYS_keyctl, "kernel keyring: credentials of the session"),
        (SYS_add_key, "kernel keyring"),
        (SYS_request_key, "kernel keyring"),
        (SYS_mount, "changing the sandbox's file system view"),
        (SYS_umount2, "uncovering hidden paths"),
        (SYS_pivot_root, "changing the root"),
        (SYS_chroot, "changing the root"),
        (SYS_open_tree, "new mount API"),
        (SYS_move_mount, "new mount API"),
        (SYS_fsopen, "new mount API"),
        (SYS_fsconfig, "new mount API"),
        (SYS_fsmount, "new mount API"),
        (SYS_fspick, "new mount API"),
        (SYS_mount_setattr, "new mount API"),
        (SYS_setns, "joining other namespaces"),
        (SYS_kexec_load, "replacing the kernel"),
        (SYS_kexec_file_load, "replacing the kernel"),
        (SYS_init_module, "loading kernel modules"),
        (SYS_finit_module, "loading kernel modules"),
        (SYS_delete_module, "unloading kernel modules"),
        (
            SYS_open_by_handle_at,
            "opening files by handle, around path checks",
        ),
        (SYS_acct, "host administration"),
        (SYS_swapon, "host administration"),
        (SYS_swapoff, "host administration"),
        (SYS_reboot, "host administration"),
        (SYS_syslog, "kernel log"),
        (SYS_quotactl, "host administration"),
        (SYS_fanotify_init, "watching the file system"),
        (SYS_vhangup, "terminal hijacking"),
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        (SYS_iopl, "I/O port access"),
        (SYS_ioperm, "I/O port access"),
        (SYS_uselib, "obsolete loader"),
        (SYS_lookup_dcookie, "kernel profiling"),
    ]);
    v
}

/// Refused in the fallback only, where the sandbox has no IPC namespace of its own: System V
/// IPC objects and POSIX message queues are named by a key, a number or a name in the host's
/// namespace, so these reach the segments, queues and semaphores of every other program of the
/// user (an X11 client's shared images, a database's buffers). With namespaces the sandbox's
/// IPC namespace is empty and its own.
pub fn fallback_denied_syscalls() -> Vec<(i64, &'static str)> {
    use libc::*;
    let ipc = "System V IPC: the host's objects, without an IPC namespace";
    vec![
        (SYS_shmget, ipc),
        (SYS_shmat, ipc),
        (SYS_shmctl, ipc),
        (SYS_msgget, ipc),
        (SYS_msgsnd, ipc),
        (SYS_msgrcv, ipc),
        (SYS_msgctl, ipc),
        (SYS_semget, ipc),
        (SYS_semop, ipc),
        (SYS_semtimedop, ipc),
        (SYS_semctl, ipc),
        (
            SYS_mq_open,
            "POSIX message queues: the host's, without an IPC namespace",
        ),
        (SYS_mq_unlink, "POSIX message queues"),
    ]
}

/// Refused in the fallback unless they name the caller itself (argument values that must be
/// 0, or PRIO_PROCESS / IOPRIO_WHO_PROCESS): without a PID namespace these act on any process
/// of the user by its pid, process group or uid, and Landlock does not fence them. cordon's own
/// supervisor is such a process: a lowered descriptor limit (or a CPU limit, which kills it)
/// would stop the check after the run.
/// (syscall, [(argument index, required value)]).
const FALLBACK_SELF_ONLY: &[(i64, &[(u32, u32)])] = &[
    (libc::SYS_prlimit64, &[(0, 0)]),
    (libc::SYS_setpriority, &[(0, PRIO_PROCESS), (1, 0)]),
    (libc::SYS_ioprio_set, &[(0, IOPRIO_WHO_PROCESS), (1, 0)]),
    (libc::SYS_sched_setscheduler, &[(0, 0)]),
    (libc::SYS_sched_setparam, &[(0, 0)]),
    (libc::SYS_sched_setattr, &[(0, 0)]),
];
/// (`libc::PRIO_PROCESS` is a u32 or a c_int depending on the libc.)
const PRIO_PROCESS: u32 = 0;
const IOPRIO_WHO_PROCESS: u32 = 1;

/// The set-user-ID and set-group-ID bits. A program the sandbox leaves with them runs with its
/// owner's rights for whoever executes it later outside (the sandbox's nosuid mounts hold only
/// inside; the fallback has none): run as root, a command could leave a root shell in the
/// workspace for every local user. So no mode the command sets may carry them (in both modes):
/// the syscalls that set a mode are checked below, openat2 (its mode is in a struct seccomp
/// cannot read) answers ENOSYS, and the libcs fall back to openat.
const SET_ID_BITS: u32 = 0o6000; // S_ISUID | S_ISGID (mode_t differs between libcs)

/// `(syscall, mode argument)`: the mode is always applied (chmod and its kin, creat, mknod).
fn mode_setters() -> Vec<(i64, u32)> {
    let mut v = vec![
        (libc::SYS_fchmod, 1),
        (libc::SYS_fchmodat, 2),
        (SYS_FCHMODAT2, 2),
        (libc::SYS_mknodat, 2),
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        (libc::SYS_chmod, 1),
        (libc::SYS_creat, 1),
        (libc::SYS_mknod, 1),
    ]);
    v
}

/// fchmodat2 (Linux 6.6): the same number on every architecture; not in every libc crate.
const SYS_FCHMODAT2: i64 = 452;

/// `(syscall, flags argument, mode argument)`: the mode applies only when the file is created
/// (O_CREAT, O_TMPFILE).
fn creating_opens() -> Vec<(i64, u32, u32)> {
    let mut v = vec![(libc::SYS_openat, 2, 3)];
    #[cfg(target_arch = "x86_64")]
    v.push((libc::SYS_open, 1, 2));
    v
}

/// O_CREAT and O_TMPFILE without its O_DIRECTORY part (which plain directory opens carry).
const CREATING: u32 = (libc::O_CREAT | (libc::O_TMPFILE & !libc::O_DIRECTORY)) as u32;

/// TIOCSTI pushes bytes into the terminal's input queue (the shell outside would run them);
/// TIOCLINUX can do the same on a virtual console.
const TIOCSTI: u32 = 0x5412;
const TIOCLINUX: u32 = 0x541c;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Allowed socket families: `None` = all but AF_VSOCK (namespaces mode: the network namespace
    /// isolates the rest); `Some(list)` = only those (fallback mode: no network namespace).
    pub socket_families: Option<&'static [i32]>,
    /// No namespaces (the fallback): also refuse [`fallback_denied_syscalls`] and act on no
    /// other process ([`FALLBACK_SELF_ONLY`]).
    pub fallback: bool,
}

/// A compiled filter, ready to install.
pub struct Filter {
    prog: Vec<libc::sock_filter>,
}

struct Asm {
    prog: Vec<libc::sock_filter>,
    /// (instruction index, label) for jumps whose true branch goes to a label.
    fixups: Vec<(usize, Label)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Deny,
    Enosys,
}

impl Asm {
    fn stmt(&mut self, code: u16, k: u32) {
        self.prog.push(libc::sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        });
    }
    fn jump(&mut self, code: u16, k: u32, jt: u8, jf: u8) {
        self.prog.push(libc::sock_filter { code, jt, jf, k });
    }
    /// if (A op k) goto label; else fall through.
    fn jump_to(&mut self, code: u16, k: u32, label: Label) {
        self.fixups.push((self.prog.len(), label));
        self.jump(code, k, 0, 0);
    }
}

impl Filter {
    pub fn compile(opts: Options) -> io::Result<Filter> {
        let mut a = Asm {
            prog: Vec::new(),
            fixups: Vec::new(),
        };
        // 1. Architecture: anything but the native ABI (i386 `int 0x80` on x86_64, aarch32 on
        //    arm64) is killed before the syscall number is even looked at, since numbers differ
        //    between tables.
        a.stmt(BPF_LD_W_ABS, OFF_ARCH);
        a.jump(BPF_JEQ_K, AUDIT_ARCH_NATIVE, 1, 0);
        a.stmt(BPF_RET_K, RET_KILL_PROCESS);
        a.stmt(BPF_LD_W_ABS, OFF_NR);
        // 2. x32: same arch value, syscall numbers offset by bit 30. Refuse the whole table.
        #[cfg(target_arch = "x86_64")]
        a.jump_to(BPF_JGE_K, 0x4000_0000, Label::Deny);
        // 3. The plain deny list.
        for (nr, _) in denied_syscalls() {
            a.jump_to(BPF_JEQ_K, nr as u32, Label::Deny);
        }
        if opts.fallback {
            for (nr, _) in fallback_denied_syscalls() {
                a.jump_to(BPF_JEQ_K, nr as u32, Label::Deny);
            }
        }
        // 4. clone3 passes its flags in a struct seccomp cannot read: answer ENOSYS so that libc
        //    falls back to clone(), whose flags are checked below.
        a.jump_to(BPF_JEQ_K, libc::SYS_clone3 as u32, Label::Enosys);
        //    openat2 likewise: its mode is in a struct (see SET_ID_BITS).
        a.jump_to(BPF_JEQ_K, libc::SYS_openat2 as u32, Label::Enosys);
        // 5. Syscalls allowed depending on an argument. Each block: if nr matches, load the
        //    argument, check it, and return; otherwise skip the block.
        type Check = (u16, u32);
        let arg_blocks: [(i64, u32, &[Check]); 3] = [
            // clone(flags, ...): no new namespaces.
            (libc::SYS_clone, 0, &[(BPF_JSET_K, CLONE_NS_FLAGS)]),
            // unshare(flags): no new namespaces (CLONE_FILES / CLONE_FS stay allowed).
            (
                libc::SYS_unshare,
                0,
                &[(BPF_JSET_K, CLONE_NS_FLAGS | CLONE_NEWTIME)],
            ),
            // ioctl(fd, cmd): the kernel takes cmd as unsigned int, so comparing the low 32
            // bits catches every encoding of it.
            (
                libc::SYS_ioctl,
                1,
                &[(BPF_JEQ_K, TIOCSTI), (BPF_JEQ_K, TIOCLINUX)],
            ),
        ];
        for (nr, arg, checks) in arg_blocks {
            // jeq nr ? next : skip(load + checks + ret allow)
            a.jump(BPF_JEQ_K, nr as u32, 0, (checks.len() + 2) as u8);
            a.stmt(BPF_LD_W_ABS, off_arg_lo(arg));
            for &(code, k) in checks {
                a.jump_to(code, k, Label::Deny);
            }
            a.stmt(BPF_RET_K, RET_ALLOW);
        }
        Self::mode_blocks(&mut a);
        if opts.fallback {
            Self::self_only_blocks(&mut a);
        }
        Self::socket_block(&mut a, opts);
        a.stmt(BPF_RET_K, RET_ALLOW);
        let deny_at = a.prog.len();
        a.stmt(BPF_RET_K, RET_ERRNO | libc::EPERM as u32);
        let enosys_at = a.prog.len();
        a.stmt(BPF_RET_K, RET_ERRNO | libc::ENOSYS as u32);
        for (i, label) in std::mem::take(&mut a.fixups) {
            let target = if label == Label::Deny {
                deny_at
            } else {
                enosys_at
            };
            let off = target - i - 1;
            a.prog[i].jt = u8::try_from(off)
                .map_err(|_| io::Error::other("seccomp filter too long for a BPF jump"))?;
        }
        Ok(Filter { prog: a.prog })
    }

    /// No mode with the set-user-ID or set-group-ID bit (see [`SET_ID_BITS`]).
    fn mode_blocks(a: &mut Asm) {
        for (nr, mode) in mode_setters() {
            // jeq nr ? next : skip(load + jset + ret allow)
            a.jump(BPF_JEQ_K, nr as u32, 0, 3);
            a.stmt(BPF_LD_W_ABS, off_arg_lo(mode));
            a.jump_to(BPF_JSET_K, SET_ID_BITS, Label::Deny);
            a.stmt(BPF_RET_K, RET_ALLOW);
        }
        for (nr, flags, mode) in creating_opens() {
            // jeq nr ? next : skip(5)
            a.jump(BPF_JEQ_K, nr as u32, 0, 5);
            a.stmt(BPF_LD_W_ABS, off_arg_lo(mode));
            // no set-ID bit in the mode: allow (skip the flags check)
            a.jump(BPF_JSET_K, SET_ID_BITS, 0, 2);
            a.stmt(BPF_LD_W_ABS, off_arg_lo(flags));
            a.jump_to(BPF_JSET_K, CREATING, Label::Deny);
            a.stmt(BPF_RET_K, RET_ALLOW);
        }
    }

    /// Each block: if nr matches, every listed argument must equal its value (low 32 bits: each
    /// is an int for the kernel), else EPERM; then allow.
    fn self_only_blocks(a: &mut Asm) {
        for &(nr, required) in FALLBACK_SELF_ONLY {
            // jeq nr ? next : skip (3 instructions per argument + ret allow)
            a.jump(BPF_JEQ_K, nr as u32, 0, (required.len() * 3 + 1) as u8);
            for &(arg, value) in required {
                a.stmt(BPF_LD_W_ABS, off_arg_lo(arg));
                // equal: skip the jump to deny
                a.jump(BPF_JEQ_K, value, 1, 0);
                // "A >= 0" is always true: an unconditional jump to the deny label.
                a.jump_to(BPF_JGE_K, 0, Label::Deny);
            }
            a.stmt(BPF_RET_K, RET_ALLOW);
        }
    }

    fn socket_block(a: &mut Asm, opts: Options) {
        let families: Vec<u32> = match opts.socket_families {
            Some(list) => list.iter().map(|&f| f as u32).collect(),
            None => Vec::new(),
        };
        match opts.socket_families {
            // Deny AF_VSOCK only: it reaches the hypervisor host and ignores network namespaces.
            None => {
                a.jump(BPF_JEQ_K, libc::SYS_socket as u32, 0, 3);
                a.stmt(BPF_LD_W_ABS, off_arg_lo(0));
                a.jump_to(BPF_JEQ_K, libc::AF_VSOCK as u32, Label::Deny);
                a.stmt(BPF_RET_K, RET_ALLOW);
            }
            // Allow-list: each allowed family returns ALLOW, anything else is denied.
            Some(_) => {
                let n = families.len();
                // block after the jeq: load, n checks, jump-to-deny, ret allow
                a.jump(BPF_JEQ_K, libc::SYS_socket as u32, 0, (n + 3) as u8);
                a.stmt(BPF_LD_W_ABS, off_arg_lo(0));
                for (i, f) in families.iter().enumerate() {
                    // on match, skip the remaining checks and the jump-to-deny: land on ALLOW.
                    a.jump(BPF_JEQ_K, *f, (n - i) as u8, 0);
                }
                // "A >= 0" is always true: an unconditional jump to the deny label.
                a.jump_to(BPF_JGE_K, 0, Label::Deny);
                a.stmt(BPF_RET_K, RET_ALLOW);
            }
        }
    }

    /// Installs the filter on the calling thread. `no_new_privs` must already be set.
    pub fn install(&self) -> io::Result<()> {
        crate::sys::process::install_seccomp(&self.prog)
    }

    pub fn len(&self) -> usize {
        self.prog.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prog.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_in_both_modes() {
        let f = Filter::compile(Options {
            socket_families: None,
            fallback: false,
        })
        .unwrap();
        assert!(f.len() > 40);
        let g = Filter::compile(Options {
            socket_families: Some(&[libc::AF_UNIX]),
            fallback: true,
        })
        .unwrap();
        assert!(g.len() > f.len() + fallback_denied_syscalls().len());
        // The first jumps to the deny label cross the whole program: room is left under 255.
        assert!(g.len() < 230, "{} instructions", g.len());
        // every jump lands inside the program
        for prog in [&f.prog, &g.prog] {
            for (i, ins) in prog.iter().enumerate() {
                if ins.code & 0x07 == 0x05 {
                    assert!(i + 1 + (ins.jt as usize) < prog.len());
                    assert!(i + 1 + (ins.jf as usize) < prog.len());
                }
            }
            assert_eq!(prog.last().unwrap().code, BPF_RET_K);
        }
    }
}
