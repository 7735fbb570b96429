//! Why a received datagram is not a usable DHCP message; shared by the
//! message and the option codecs.

/// Why a received datagram is not a usable DHCP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("dhcp message too short ({0} bytes)")]
    TooShort(usize),
    #[error("bootp op {0} is neither request nor reply")]
    BadOp(u8),
    #[error("dhcp magic cookie missing")]
    BadMagic,
    #[error("dhcp option {code} runs past the end of the message")]
    TruncatedOption { code: u8 },
    #[error("dhcp option {code} has invalid length {len}")]
    BadOptionLength { code: u8, len: usize },
    #[error("dhcp option {code} has an invalid value")]
    BadOptionValue { code: u8 },
}
