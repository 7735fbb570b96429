//! The port guard's eBPF program, assembled by hand.
//!
//! The program is small enough that a compiler toolchain would be the larger
//! risk: eight bytes per instruction, four kinds of instruction.
//!
//! ```text
//!     r2 = *(u32 *)(r1 + 24)    ; ctx->user_port, network byte order
//!     r0 = 1                    ; allow
//!     if r2 == 0 goto out       ; port 0: the kernel picks an ephemeral port
//!     if r2 == P1 goto out      ; one test per allowed port
//!     ...
//!     r0 = 0                    ; deny: bind() fails with EPERM
//! out:
//!     exit
//! ```

/// One eBPF instruction (`struct bpf_insn`): opcode, destination register in
/// the low nibble and source register in the high nibble of `regs`, a signed
/// 16-bit offset and a signed 32-bit immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// The most ports one guard allows: far more than any app declares, few
/// enough that the linear chain of tests stays trivial for the verifier.
pub const MAX_PORTS: usize = 64;

/// `offsetof(struct bpf_sock_addr, user_port)`.
pub const USER_PORT_OFFSET: i16 = 24;

// Opcode parts from linux/bpf_common.h and linux/bpf.h.
const BPF_LDX: u8 = 0x01;
const BPF_JMP: u8 = 0x05;
const BPF_ALU64: u8 = 0x07;
const BPF_W: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_MOV: u8 = 0xb0;
const BPF_JEQ: u8 = 0x10;
const BPF_EXIT: u8 = 0x90;

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;

impl Insn {
    /// `dst = *(u32 *)(src + off)`
    pub const fn load_u32(dst: u8, src: u8, off: i16) -> Insn {
        Insn {
            code: BPF_LDX | BPF_MEM | BPF_W,
            regs: (src << 4) | dst,
            off,
            imm: 0,
        }
    }

    /// `dst = imm`
    pub const fn mov_imm(dst: u8, imm: i32) -> Insn {
        Insn {
            code: BPF_ALU64 | BPF_MOV | BPF_K,
            regs: dst,
            off: 0,
            imm,
        }
    }

    /// `if dst == imm goto pc + 1 + off`
    pub const fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
        Insn {
            code: BPF_JMP | BPF_JEQ | BPF_K,
            regs: dst,
            off,
            imm,
        }
    }

    /// `return r0`
    pub const fn exit() -> Insn {
        Insn {
            code: BPF_JMP | BPF_EXIT,
            regs: 0,
            off: 0,
            imm: 0,
        }
    }

    /// The instruction as the kernel reads it (little-endian host).
    pub fn to_bytes(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code, self.regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }
}

/// The ports `allowed` as the guard tests them: without 0 (always allowed),
/// without duplicates, in ascending order.
pub fn normalize(allowed: &[u16]) -> Vec<u16> {
    let mut ports: Vec<u16> = allowed.iter().copied().filter(|&p| p != 0).collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The program that lets `bind()` succeed only on port 0 and on the ports in
/// `allowed` (at most [`MAX_PORTS`] after [`normalize`]; the caller checks).
pub fn program(allowed: &[u16]) -> Vec<Insn> {
    let ports = normalize(allowed);
    let tests: Vec<u32> = std::iter::once(0)
        .chain(ports.iter().map(|&p| u32::from(p.to_be())))
        .collect();
    let mut insns = Vec::with_capacity(tests.len() + 4);
    insns.push(Insn::load_u32(R2, R1, USER_PORT_OFFSET));
    insns.push(Insn::mov_imm(R0, 1));
    let count = tests.len();
    for (i, port) in tests.into_iter().enumerate() {
        // Skip the remaining tests and the `r0 = 0`, landing on `exit`. At
        // most MAX_PORTS + 1 tests, so the offset fits easily; a port in
        // network byte order fits in an i32.
        let skip = (count - i) as i16;
        insns.push(Insn::jeq_imm(R2, port as i32, skip));
    }
    insns.push(Insn::mov_imm(R0, 0));
    insns.push(Insn::exit());
    insns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_instructions_like_the_kernel_expects() {
        // Reference encodings as printed by `llvm-objdump -d` for the same
        // instructions.
        assert_eq!(
            Insn::load_u32(2, 1, 24).to_bytes(),
            [0x61, 0x12, 0x18, 0, 0, 0, 0, 0]
        );
        assert_eq!(Insn::mov_imm(0, 1).to_bytes(), [0xb7, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(
            Insn::jeq_imm(2, 0x901f, 3).to_bytes(),
            [0x15, 0x02, 3, 0, 0x1f, 0x90, 0, 0]
        );
        assert_eq!(Insn::exit().to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(std::mem::size_of::<Insn>(), 8);
    }

    #[test]
    fn normalizes_the_port_list() {
        assert_eq!(normalize(&[443, 80, 0, 443, 8080]), vec![80, 443, 8080]);
        assert!(normalize(&[0]).is_empty());
    }

    #[test]
    fn compares_ports_in_network_byte_order() {
        let insns = program(&[8080]);
        // 8080 = 0x1f90, stored big-endian in the low 16 bits: 0x901f.
        assert_eq!(insns[3].imm, 0x901f);
        assert_eq!(insns[2].imm, 0);
    }

    #[test]
    fn every_jump_lands_on_the_final_exit() {
        for allowed in [
            &[][..],
            &[80],
            &[80, 443, 8080],
            &(1..=64).collect::<Vec<u16>>(),
        ] {
            let insns = program(allowed);
            let last = insns.len() - 1;
            assert_eq!(insns[last], Insn::exit());
            assert_eq!(insns[last - 1], Insn::mov_imm(0, 0));
            assert_eq!(insns[0], Insn::load_u32(2, 1, 24));
            assert_eq!(insns[1], Insn::mov_imm(0, 1));
            let jumps: Vec<usize> = (0..insns.len())
                .filter(|&pc| insns[pc].code == 0x15)
                .collect();
            assert_eq!(jumps.len(), normalize(allowed).len() + 1);
            for pc in jumps {
                let target = pc as i64 + 1 + i64::from(insns[pc].off);
                assert_eq!(target, last as i64, "jump at {pc} of {allowed:?}");
            }
        }
    }

    /// Runs the program on a `user_port` value with a minimal evaluator of
    /// the four opcodes it uses.
    fn run(insns: &[Insn], user_port: u32) -> u64 {
        let mut regs = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let insn = insns[pc];
            let dst = usize::from(insn.regs & 0x0f);
            pc += 1;
            match insn.code {
                0x61 => {
                    assert_eq!(insn.off, USER_PORT_OFFSET);
                    regs[dst] = u64::from(user_port);
                }
                0xb7 => regs[dst] = insn.imm as i64 as u64,
                0x15 => {
                    if regs[dst] == insn.imm as i64 as u64 {
                        pc = (pc as i64 + i64::from(insn.off)) as usize;
                    }
                }
                0x95 => return regs[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn allows_declared_ports_and_port_zero_only() {
        let insns = program(&[80, 8080, 65535]);
        let be = |p: u16| u32::from(p.to_be());
        for allowed in [0, 80, 8080, 65535] {
            assert_eq!(run(&insns, be(allowed)), 1, "port {allowed}");
        }
        for denied in [1, 22, 81, 443, 8081, 20480] {
            assert_eq!(run(&insns, be(denied)), 0, "port {denied}");
        }
        let none = program(&[]);
        assert_eq!(run(&none, 0), 1);
        assert_eq!(run(&none, be(80)), 0);
    }
}
