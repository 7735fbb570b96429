//! The filter as a classic BPF program, built by hand (see
//! docs/isolation.md for why not with a crate): the architecture is
//! checked, x32 numbers are refused, then the call number is found by a
//! binary search over the rules' numbers, down to runs of a few rules,
//! each a block of its own that either returns or falls through to the
//! next. A search keeps the path of every call short: the kernel runs the
//! filter for each call number when it is installed (to cache the calls it
//! always allows), and for every call it cannot cache, so the length of
//! the path is paid at every start and on every such call.

use std::collections::BTreeMap;

use super::policy::Rule;

/// One instruction, as the kernel reads it (`struct sock_filter`).
pub type Insn = libc::sock_filter;

// Instruction classes and fields of classic BPF (linux/bpf_common.h):
// BPF_LD | BPF_W | BPF_ABS (the first two are zero), BPF_JMP | BPF_JEQ
// | BPF_K and so on.
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x05 | 0x10;
const JGE_K: u16 = 0x05 | 0x30;
const JSET_K: u16 = 0x05 | 0x40;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;

/// Where the kernel's `struct seccomp_data` holds what the filter reads.
const NR: u32 = 0;
const ARCH: u32 = 4;
/// The low half of the first argument (x86_64 is little-endian): every
/// flag and personality the rules test lives there.
const ARG0_LOW: u32 = 16;

/// `AUDIT_ARCH_X86_64`: EM_X86_64 | 64-bit | little-endian.
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// x32 system calls arrive with this bit in their number and the x86_64
/// architecture: refused, or every rule could be bypassed by it.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const ALLOW: u32 = 0x7fff_0000;
const KILL_PROCESS: u32 = 0x8000_0000;

fn errno(code: i32) -> u32 {
    0x0005_0000 | (u32::try_from(code).unwrap_or(1) & 0xffff)
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

/// The block of one rule: if the call is `nr`, it decides; else it falls
/// through to what follows it.
fn block(nr: u32, rule: Rule) -> Vec<Insn> {
    let body = match rule {
        Rule::Fail(code) => vec![stmt(RET_K, errno(code))],
        Rule::FailWithFlags(mask) => vec![
            stmt(LD_W_ABS, ARG0_LOW),
            jump(JSET_K, mask, 0, 1),
            stmt(RET_K, errno(libc::EPERM)),
            stmt(RET_K, ALLOW),
        ],
        Rule::AllowOnly(values) => {
            let mut body = vec![stmt(LD_W_ABS, ARG0_LOW)];
            let count = values.len();
            for (i, value) in values.iter().enumerate() {
                // To the ALLOW after the EPERM below.
                let to_allow = u8::try_from(count - i).unwrap_or(u8::MAX);
                body.push(jump(JEQ_K, *value, to_allow, 0));
            }
            body.push(stmt(RET_K, errno(libc::EPERM)));
            body.push(stmt(RET_K, ALLOW));
            body
        }
    };
    let skip = u8::try_from(body.len()).unwrap_or(u8::MAX);
    let mut block = vec![jump(JEQ_K, nr, 0, skip)];
    block.extend(body);
    block
}

/// Rules at most this many are tried one after another.
const RUN: usize = 4;

/// The search over `rules` (sorted by number, the number in the
/// accumulator): every path through it returns.
fn search(rules: &[(u32, Rule)]) -> Vec<Insn> {
    if rules.len() <= RUN {
        let mut run = Vec::new();
        for (nr, rule) in rules {
            // A block that loads an argument ends in returns only, so the
            // next block still finds the number in the accumulator.
            run.extend(block(*nr, *rule));
        }
        run.push(stmt(RET_K, ALLOW));
        return run;
    }
    let (low, high) = rules.split_at(rules.len() / 2);
    let pivot = high.first().map_or(0, |(nr, _)| *nr);
    let low = search(low);
    let high = search(high);
    // At or above the pivot: jump over the lower half, however long it is
    // (a conditional jump reaches 255 instructions at most).
    let mut tree = vec![
        jump(JGE_K, pivot, 0, 1),
        stmt(JA, u32::try_from(low.len()).unwrap_or(u32::MAX)),
    ];
    tree.extend(low);
    tree.extend(high);
    tree
}

/// The whole program for `rules`: anything they do not name is allowed.
pub fn program(rules: &BTreeMap<u32, Rule>) -> Vec<Insn> {
    let mut program = vec![
        stmt(LD_W_ABS, ARCH),
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, KILL_PROCESS),
        stmt(LD_W_ABS, NR),
        jump(JGE_K, X32_SYSCALL_BIT, 0, 1),
        stmt(RET_K, errno(libc::EPERM)),
    ];
    let rules: Vec<(u32, Rule)> = rules.iter().map(|(nr, rule)| (*nr, *rule)).collect();
    program.extend(search(&rules));
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic BPF interpreter for what `program` emits, over
    /// `seccomp_data` (nr, arch, ip, args).
    fn run(program: &[Insn], nr: u32, arch: u32, arg0: u64) -> u32 {
        let word = |offset: u32| match offset {
            NR => nr,
            ARCH => arch,
            ARG0_LOW => arg0 as u32,
            other => panic!("load of offset {other}"),
        };
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let insn = program[pc];
            pc += 1;
            match insn.code {
                LD_W_ABS => a = word(insn.k),
                RET_K => return insn.k,
                JA => pc += insn.k as usize,
                JEQ_K | JGE_K | JSET_K => {
                    let taken = match insn.code {
                        JEQ_K => a == insn.k,
                        JGE_K => a >= insn.k,
                        _ => a & insn.k != 0,
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                other => panic!("unexpected code {other:#x}"),
            }
        }
    }

    fn default_program() -> Vec<Insn> {
        program(&super::super::policy::rules(&Default::default()))
    }

    const X86_64: u32 = AUDIT_ARCH_X86_64;
    const NEWUSER: u64 = libc::CLONE_NEWUSER as u64;

    #[test]
    fn denies_with_eperm_and_allows_the_rest() {
        let p = default_program();
        assert_eq!(run(&p, 250, X86_64, 0), errno(libc::EPERM), "keyctl");
        assert_eq!(run(&p, 425, X86_64, 0), errno(libc::EPERM), "io_uring");
        assert_eq!(run(&p, 323, X86_64, 0), errno(libc::EPERM), "userfaultfd");
        assert_eq!(run(&p, 0, X86_64, 0), ALLOW, "read");
        assert_eq!(run(&p, 39, X86_64, 0), ALLOW, "getpid");
        assert_eq!(run(&p, 449, X86_64, 0), ALLOW, "futex_waitv");
    }

    #[test]
    fn clone3_is_enosys_and_new_user_namespaces_are_refused() {
        let p = default_program();
        assert_eq!(run(&p, 435, X86_64, 0), errno(libc::ENOSYS), "clone3");
        let fork = libc::SIGCHLD as u64;
        assert_eq!(run(&p, 56, X86_64, fork), ALLOW, "clone as fork");
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        assert_eq!(run(&p, 56, X86_64, thread), ALLOW, "clone a thread");
        assert_eq!(run(&p, 56, X86_64, NEWUSER | fork), errno(libc::EPERM));
        assert_eq!(run(&p, 272, X86_64, NEWUSER), errno(libc::EPERM), "unshare");
        let files = libc::CLONE_FILES as u64;
        assert_eq!(run(&p, 272, X86_64, files), ALLOW, "unshare(CLONE_FILES)");
    }

    #[test]
    fn only_harmless_personalities() {
        let p = default_program();
        for allowed in PERSONALITIES_FOR_TEST {
            assert_eq!(run(&p, 135, X86_64, *allowed), ALLOW, "{allowed:#x}");
        }
        // PER_LINUX32, ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC.
        assert_eq!(run(&p, 135, X86_64, 0x0008), errno(libc::EPERM));
        assert_eq!(run(&p, 135, X86_64, 0x0040000), errno(libc::EPERM));
        assert_eq!(run(&p, 135, X86_64, 0x0400000), errno(libc::EPERM));
    }

    const PERSONALITIES_FOR_TEST: &[u64] = &[0, 0xffff_ffff];

    #[test]
    fn every_call_number_gets_its_rules_verdict_in_few_steps() {
        let rules = super::super::policy::rules(&Default::default());
        let p = program(&rules);
        for nr in 0..500u32 {
            let expected = match rules.get(&nr) {
                None => ALLOW,
                Some(Rule::Fail(code)) => errno(*code),
                Some(Rule::FailWithFlags(_)) => ALLOW, // arg0 = 0 below
                Some(Rule::AllowOnly(_)) => ALLOW,
            };
            assert_eq!(run(&p, nr, X86_64, 0), expected, "call {nr}");
        }
    }

    #[test]
    fn a_filter_denying_every_call_is_still_valid() {
        let rules: BTreeMap<u32, Rule> = (0..451).map(|nr| (nr, Rule::Fail(libc::EPERM))).collect();
        let p = program(&rules);
        assert!(p.len() < 4096, "{}", p.len());
        for nr in [0, 1, 200, 450] {
            assert_eq!(run(&p, nr, X86_64, 0), errno(libc::EPERM), "call {nr}");
        }
        assert_eq!(run(&p, 451, X86_64, 0), ALLOW);
    }

    #[test]
    fn other_architectures_and_x32_are_refused() {
        let p = default_program();
        // AUDIT_ARCH_I386: a 32-bit call through int 0x80.
        assert_eq!(run(&p, 0, 3 | 0x4000_0000, 0), KILL_PROCESS);
        assert_eq!(
            run(&p, X32_SYSCALL_BIT | 250, X86_64, 0),
            errno(libc::EPERM)
        );
        assert_eq!(run(&p, X32_SYSCALL_BIT, X86_64, 0), errno(libc::EPERM));
    }
}
