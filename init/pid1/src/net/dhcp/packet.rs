//! The DHCP message (RFC 2131 §2): the fixed BOOTP header, the magic cookie and
//! the options, with option overload into `sname`/`file` (RFC 2131 §4.1,
//! RFC 2132 §9.3).

use std::net::Ipv4Addr;

use super::error::PacketError;
use super::options::{code, parse_area, Options, RawOptions};

/// Where the fixed header ends and the magic cookie starts.
const HEADER_LEN: usize = 236;
/// The smallest well-formed message: header plus cookie.
const MIN_LEN: usize = HEADER_LEN + 4;
/// BOOTP's minimum message size; some relays and servers drop shorter requests.
const BOOTP_MIN_LEN: usize = 300;
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;

/// The `flags` bit asking the server to broadcast its reply: a client without an
/// address cannot receive unicast.
pub const FLAG_BROADCAST: u16 = 0x8000;
/// Hardware type Ethernet (ARP hardware type 1).
pub const HTYPE_ETHERNET: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Request = 1,
    Reply = 2,
}

/// One DHCP message. `sname` and `file` are not kept: this client never uses
/// them except as overflow space for options, which decoding folds in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub op: Op,
    pub htype: u8,
    pub hlen: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    pub options: Options,
}

impl Packet {
    /// A client message from an Ethernet interface with address `mac`.
    pub fn client(mac: [u8; 6], xid: u32, options: Options) -> Self {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&mac);
        Packet {
            op: Op::Request,
            htype: HTYPE_ETHERNET,
            hlen: 6,
            hops: 0,
            xid,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            options,
        }
    }

    /// The client hardware address as far as `hlen` says it reaches.
    pub fn hardware_address(&self) -> &[u8] {
        self.chaddr
            .get(..usize::from(self.hlen))
            .unwrap_or(&self.chaddr)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BOOTP_MIN_LEN + 64);
        out.extend_from_slice(&[self.op as u8, self.htype, self.hlen, self.hops]);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for address in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&address.octets());
        }
        out.extend_from_slice(&self.chaddr);
        out.resize(HEADER_LEN, 0); // sname and file stay empty
        out.extend_from_slice(&MAGIC_COOKIE);
        self.options.encode(&mut out);
        if out.len() < BOOTP_MIN_LEN {
            out.resize(BOOTP_MIN_LEN, code::PAD);
        }
        out
    }

    /// Decodes a received datagram. Never panics: every malformed input is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, PacketError> {
        let (header, options) = bytes
            .split_first_chunk::<MIN_LEN>()
            .ok_or(PacketError::TooShort(bytes.len()))?;
        let [op, htype, hlen, hops] = field(header, 0);
        let op = match op {
            1 => Op::Request,
            2 => Op::Reply,
            other => return Err(PacketError::BadOp(other)),
        };
        if field(header, HEADER_LEN) != MAGIC_COOKIE {
            return Err(PacketError::BadMagic);
        }

        let mut raw = RawOptions::new();
        parse_area(options, &mut raw)?;
        // Option overload: the options continue in `file`, then `sname`
        // (RFC 3396 §5 fixes that order for concatenation).
        if let Some(overload) = raw.remove(&code::OVERLOAD) {
            let [which] = overload[..] else {
                return Err(PacketError::BadOptionLength {
                    code: code::OVERLOAD,
                    len: overload.len(),
                });
            };
            if !(1..=3).contains(&which) {
                return Err(PacketError::BadOptionValue {
                    code: code::OVERLOAD,
                });
            }
            if which & 1 != 0 {
                parse_area(header.get(FILE).unwrap_or_default(), &mut raw)?;
            }
            if which & 2 != 0 {
                parse_area(header.get(SNAME).unwrap_or_default(), &mut raw)?;
            }
        }

        Ok(Packet {
            op,
            htype,
            hlen,
            hops,
            xid: u32::from_be_bytes(field(header, 4)),
            secs: u16::from_be_bytes(field(header, 8)),
            flags: u16::from_be_bytes(field(header, 10)),
            ciaddr: Ipv4Addr::from(field::<4>(header, 12)),
            yiaddr: Ipv4Addr::from(field::<4>(header, 16)),
            siaddr: Ipv4Addr::from(field::<4>(header, 20)),
            giaddr: Ipv4Addr::from(field::<4>(header, 24)),
            chaddr: field(header, 28),
            options: Options::from_raw(raw)?,
        })
    }
}

/// The `N` header bytes at offset `at` (every offset used lies inside the header).
fn field<const N: usize>(header: &[u8; MIN_LEN], at: usize) -> [u8; N] {
    header
        .get(at..at.saturating_add(N))
        .and_then(|bytes| bytes.try_into().ok())
        .unwrap_or([0; N])
}

#[cfg(test)]
mod tests {
    use super::super::options::MessageType;
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    /// An OFFER as QEMU's user-mode network sends it, byte by byte per RFC 2131 §2:
    /// yiaddr 10.0.2.15, siaddr 10.0.2.2, server id 10.0.2.2, mask /24,
    /// router 10.0.2.2, dns 10.0.2.3, lease 86400 s.
    fn captured_offer() -> Vec<u8> {
        let mut bytes = vec![
            0x02, 0x01, 0x06, 0x00, // op reply, htype ethernet, hlen 6, hops 0
            0x3c, 0x1d, 0x9a, 0x07, // xid
            0x00, 0x00, 0x80, 0x00, // secs 0, flags broadcast
            0x00, 0x00, 0x00, 0x00, // ciaddr
            0x0a, 0x00, 0x02, 0x0f, // yiaddr 10.0.2.15
            0x0a, 0x00, 0x02, 0x02, // siaddr 10.0.2.2
            0x00, 0x00, 0x00, 0x00, // giaddr
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x00, 0x00, // chaddr
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        bytes.extend_from_slice(&[0u8; 64]); // sname
        bytes.extend_from_slice(&[0u8; 128]); // file
        bytes.extend_from_slice(&[
            0x63, 0x82, 0x53, 0x63, // magic cookie
            0x35, 0x01, 0x02, // message type: offer
            0x36, 0x04, 0x0a, 0x00, 0x02, 0x02, // server id 10.0.2.2
            0x01, 0x04, 0xff, 0xff, 0xff, 0x00, // subnet mask
            0x03, 0x04, 0x0a, 0x00, 0x02, 0x02, // router
            0x06, 0x04, 0x0a, 0x00, 0x02, 0x03, // dns
            0x33, 0x04, 0x00, 0x01, 0x51, 0x80, // lease time 86400
            0xff, // end
        ]);
        bytes.resize(300 + 48, 0x00); // trailing padding as sent on the wire
        bytes
    }

    #[test]
    fn decodes_a_captured_offer() {
        let offer = Packet::decode(&captured_offer()).unwrap();
        assert_eq!(offer.op, Op::Reply);
        assert_eq!(offer.xid, 0x3c1d_9a07);
        assert_eq!(offer.flags, FLAG_BROADCAST);
        assert_eq!(offer.yiaddr, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(offer.siaddr, Ipv4Addr::new(10, 0, 2, 2));
        assert_eq!(offer.hardware_address(), &MAC);
        let o = &offer.options;
        assert_eq!(o.message_type, Some(MessageType::Offer));
        assert_eq!(o.server_id, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(o.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(o.routers, vec![Ipv4Addr::new(10, 0, 2, 2)]);
        assert_eq!(o.dns, vec![Ipv4Addr::new(10, 0, 2, 3)]);
        assert_eq!(o.lease_time, Some(86400));
        assert_eq!(o.renewal_time, None);
        assert!(o.other.is_empty());
    }

    #[test]
    fn a_decoded_offer_encodes_to_the_same_message() {
        let offer = Packet::decode(&captured_offer()).unwrap();
        let again = Packet::decode(&offer.encode()).unwrap();
        assert_eq!(again, offer);
    }

    #[test]
    fn encodes_a_discover_to_the_rfc_layout() {
        let options = Options {
            message_type: Some(MessageType::Discover),
            parameter_request: vec![1, 3, 6, 12, 51, 58, 59],
            client_id: Some([&[1u8][..], &MAC].concat()),
            ..Options::default()
        };
        let mut discover = Packet::client(MAC, 0xdead_beef, options);
        discover.flags = FLAG_BROADCAST;
        discover.secs = 3;
        let bytes = discover.encode();
        assert_eq!(bytes.len(), 300, "padded to the bootp minimum");
        assert_eq!(
            &bytes[..12],
            &[1, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef, 0, 3, 0x80, 0]
        );
        assert!(bytes[12..28].iter().all(|b| *b == 0), "no addresses yet");
        assert_eq!(&bytes[28..34], &MAC);
        assert!(bytes[34..236].iter().all(|b| *b == 0));
        assert_eq!(&bytes[236..240], &MAGIC_COOKIE);
        assert_eq!(&bytes[240..243], &[53, 1, 1]);
        assert_eq!(&bytes[243..252], &[55, 7, 1, 3, 6, 12, 51, 58, 59]);
        assert_eq!(
            &bytes[252..261],
            &[61, 7, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56]
        );
        assert_eq!(bytes[261], 255);
        assert_eq!(Packet::decode(&bytes).unwrap(), discover);
    }

    #[test]
    fn short_or_foreign_datagrams_are_rejected() {
        let offer = captured_offer();
        for len in [0, 1, 100, 239] {
            assert_eq!(
                Packet::decode(&offer[..len]).unwrap_err(),
                PacketError::TooShort(len)
            );
        }
        let mut bad_op = offer.clone();
        bad_op[0] = 3;
        assert_eq!(Packet::decode(&bad_op).unwrap_err(), PacketError::BadOp(3));
        let mut bad_magic = offer.clone();
        bad_magic[238] = 0;
        assert_eq!(
            Packet::decode(&bad_magic).unwrap_err(),
            PacketError::BadMagic
        );
    }

    #[test]
    fn a_message_cut_inside_an_option_is_rejected() {
        let offer = captured_offer();
        // Cut inside the lease-time option (its code sits at 240 + 27).
        let cut = &offer[..240 + 27 + 4];
        assert_eq!(
            Packet::decode(cut).unwrap_err(),
            PacketError::TruncatedOption { code: 51 }
        );
        // Cut right after the cookie: no options at all is still a message.
        let bare = Packet::decode(&offer[..240]).unwrap();
        assert_eq!(bare.options, Options::default());
    }

    #[test]
    fn overloaded_options_are_read_from_file_then_sname() {
        let mut bytes = captured_offer();
        bytes.truncate(240);
        // Options field: type ack, overload both, end.
        bytes.extend_from_slice(&[53, 1, 5, 52, 1, 3, 255]);
        // file: the first DNS server and the lease time, then end.
        bytes[108..119].copy_from_slice(&[6, 4, 10, 0, 2, 3, 51, 4, 0, 0, 1]);
        bytes[119] = 44;
        bytes[120] = 255;
        // sname: a second DNS server (concatenated after file's), then end.
        bytes[44..51].copy_from_slice(&[0, 6, 4, 8, 8, 8, 8]);
        bytes[51] = 255;
        let ack = Packet::decode(&bytes).unwrap();
        assert_eq!(ack.options.message_type, Some(MessageType::Ack));
        assert_eq!(ack.options.lease_time, Some(300));
        assert_eq!(
            ack.options.dns,
            vec![Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(8, 8, 8, 8)]
        );
        assert!(!ack.options.other.contains_key(&code::OVERLOAD));
    }

    #[test]
    fn a_bad_overload_option_is_rejected() {
        let mut bytes = captured_offer();
        bytes.truncate(240);
        bytes.extend_from_slice(&[53, 1, 5, 52, 1, 4, 255]);
        assert_eq!(
            Packet::decode(&bytes).unwrap_err(),
            PacketError::BadOptionValue { code: 52 }
        );
        bytes.truncate(240);
        bytes.extend_from_slice(&[52, 2, 1, 1, 255]);
        assert_eq!(
            Packet::decode(&bytes).unwrap_err(),
            PacketError::BadOptionLength { code: 52, len: 2 }
        );
        // Overloaded into an unterminated, truncated option in `file`.
        bytes.truncate(240);
        bytes.extend_from_slice(&[52, 1, 1, 255]);
        bytes[234] = 6;
        bytes[235] = 4;
        assert_eq!(
            Packet::decode(&bytes).unwrap_err(),
            PacketError::TruncatedOption { code: 6 }
        );
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics() {
        // A cheap deterministic fuzz: mutate a real message and random tails.
        let base = captured_offer();
        let mut state = 0x2545_f491_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for _ in 0..20_000 {
            let mut bytes = base.clone();
            if next() % 2 == 0 {
                // Overload both fields and scribble over them too.
                bytes[240..243].copy_from_slice(&[52, 1, 3]);
                for _ in 0..(next() % 16) {
                    bytes[SNAME.start + next() as usize % (FILE.end - SNAME.start)] = next() as u8;
                }
            }
            let len = 241 + (next() as usize % 200);
            bytes.resize(len, 0);
            for _ in 0..(next() % 8) {
                let at = 240 + next() as usize % (len - 240);
                bytes[at] = next() as u8;
            }
            let _ = Packet::decode(&bytes);
        }
    }
}
