//! DHCP options (RFC 2132): the typed ones this client uses, and the codec of an
//! option area with padding, End, and long options split across several
//! instances of one code (RFC 3396).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::error::PacketError;

/// Option codes this client reads or writes.
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST: u8 = 55;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const CLIENT_ID: u8 = 61;
    pub const END: u8 = 255;
}

/// DHCP message type (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

impl MessageType {
    fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            _ => return None,
        })
    }
}

/// The options of one message. Known options are typed; any other is kept as
/// raw bytes so a message decodes and encodes back to the same options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub message_type: Option<MessageType>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub hostname: Option<String>,
    pub requested_ip: Option<Ipv4Addr>,
    /// Seconds; 0xffff_ffff means infinite.
    pub lease_time: Option<u32>,
    pub server_id: Option<Ipv4Addr>,
    pub parameter_request: Vec<u8>,
    pub max_message_size: Option<u16>,
    pub renewal_time: Option<u32>,
    pub rebinding_time: Option<u32>,
    pub client_id: Option<Vec<u8>>,
    /// Every other option, by code.
    pub other: BTreeMap<u8, Vec<u8>>,
}

/// Option values by code, each the concatenation of every instance of that code
/// in the order met (RFC 3396 §7).
pub type RawOptions = BTreeMap<u8, Vec<u8>>;

/// Parses one option area (the options field, or `file`/`sname` when overloaded)
/// into `raw`. Stops at End; an area that runs out without End is accepted, as
/// many servers pad that way. An option whose length runs past the area is an error.
pub fn parse_area(area: &[u8], raw: &mut RawOptions) -> Result<(), PacketError> {
    let mut at = 0usize;
    while let Some(&code) = area.get(at) {
        match code {
            code::PAD => at += 1,
            code::END => return Ok(()),
            _ => {
                let len = usize::from(
                    *area
                        .get(at + 1)
                        .ok_or(PacketError::TruncatedOption { code })?,
                );
                let value = area
                    .get(at + 2..at + 2 + len)
                    .ok_or(PacketError::TruncatedOption { code })?;
                raw.entry(code).or_default().extend_from_slice(value);
                at += 2 + len;
            }
        }
    }
    Ok(())
}

fn bad_length(code: u8, value: &[u8]) -> PacketError {
    PacketError::BadOptionLength {
        code,
        len: value.len(),
    }
}

fn one_ip(code: u8, value: &[u8]) -> Result<Ipv4Addr, PacketError> {
    let octets: [u8; 4] = value.try_into().map_err(|_| bad_length(code, value))?;
    Ok(Ipv4Addr::from(octets))
}

fn ip_list(code: u8, value: &[u8]) -> Result<Vec<Ipv4Addr>, PacketError> {
    let addresses = value.chunks_exact(4);
    if value.is_empty() || !addresses.remainder().is_empty() {
        return Err(bad_length(code, value));
    }
    addresses.map(|address| one_ip(code, address)).collect()
}

fn seconds(code: u8, value: &[u8]) -> Result<u32, PacketError> {
    let bytes: [u8; 4] = value.try_into().map_err(|_| bad_length(code, value))?;
    Ok(u32::from_be_bytes(bytes))
}

impl Options {
    /// Types the options of `raw`. The overload option (52) has already done its
    /// work by the time this runs and is not kept.
    pub fn from_raw(raw: RawOptions) -> Result<Self, PacketError> {
        let mut options = Options::default();
        for (code, value) in raw {
            match code {
                code::MESSAGE_TYPE => {
                    let [kind] = value[..] else {
                        return Err(bad_length(code, &value));
                    };
                    options.message_type = Some(
                        MessageType::from_u8(kind).ok_or(PacketError::BadOptionValue { code })?,
                    );
                }
                code::SUBNET_MASK => options.subnet_mask = Some(one_ip(code, &value)?),
                code::ROUTER => options.routers = ip_list(code, &value)?,
                code::DNS => options.dns = ip_list(code, &value)?,
                code::HOSTNAME => {
                    options.hostname = Some(String::from_utf8_lossy(&value).into_owned());
                }
                code::REQUESTED_IP => options.requested_ip = Some(one_ip(code, &value)?),
                code::LEASE_TIME => options.lease_time = Some(seconds(code, &value)?),
                code::SERVER_ID => options.server_id = Some(one_ip(code, &value)?),
                code::PARAMETER_REQUEST => options.parameter_request = value,
                code::MAX_MESSAGE_SIZE => {
                    let bytes: [u8; 2] =
                        value[..].try_into().map_err(|_| bad_length(code, &value))?;
                    options.max_message_size = Some(u16::from_be_bytes(bytes));
                }
                code::RENEWAL_TIME => options.renewal_time = Some(seconds(code, &value)?),
                code::REBINDING_TIME => options.rebinding_time = Some(seconds(code, &value)?),
                code::CLIENT_ID => options.client_id = Some(value),
                code::OVERLOAD => {}
                _ => {
                    options.other.insert(code, value);
                }
            }
        }
        Ok(options)
    }

    /// Appends the options and the End option. The message type comes first,
    /// as servers expect; the rest follow in code order.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some(kind) = self.message_type {
            put(out, code::MESSAGE_TYPE, &[kind as u8]);
        }
        let mut fields: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut add = |code: u8, value: Vec<u8>| fields.push((code, value));
        if let Some(mask) = self.subnet_mask {
            add(code::SUBNET_MASK, mask.octets().to_vec());
        }
        if !self.routers.is_empty() {
            add(
                code::ROUTER,
                self.routers.iter().flat_map(|a| a.octets()).collect(),
            );
        }
        if !self.dns.is_empty() {
            add(
                code::DNS,
                self.dns.iter().flat_map(|a| a.octets()).collect(),
            );
        }
        if let Some(name) = &self.hostname {
            add(code::HOSTNAME, name.as_bytes().to_vec());
        }
        if let Some(ip) = self.requested_ip {
            add(code::REQUESTED_IP, ip.octets().to_vec());
        }
        if let Some(secs) = self.lease_time {
            add(code::LEASE_TIME, secs.to_be_bytes().to_vec());
        }
        if let Some(ip) = self.server_id {
            add(code::SERVER_ID, ip.octets().to_vec());
        }
        if !self.parameter_request.is_empty() {
            add(code::PARAMETER_REQUEST, self.parameter_request.clone());
        }
        if let Some(size) = self.max_message_size {
            add(code::MAX_MESSAGE_SIZE, size.to_be_bytes().to_vec());
        }
        if let Some(secs) = self.renewal_time {
            add(code::RENEWAL_TIME, secs.to_be_bytes().to_vec());
        }
        if let Some(secs) = self.rebinding_time {
            add(code::REBINDING_TIME, secs.to_be_bytes().to_vec());
        }
        if let Some(id) = &self.client_id {
            add(code::CLIENT_ID, id.clone());
        }
        for (code, value) in &self.other {
            add(*code, value.clone());
        }
        fields.sort_by_key(|(code, _)| *code);
        for (code, value) in fields {
            put(out, code, &value);
        }
        out.push(code::END);
    }
}

/// Writes one option; a value longer than 255 bytes becomes several instances
/// of the same code (RFC 3396), an empty one a single zero-length instance.
fn put(out: &mut Vec<u8>, code: u8, value: &[u8]) {
    if value.is_empty() {
        out.extend_from_slice(&[code, 0]);
        return;
    }
    for chunk in value.chunks(255) {
        out.push(code);
        out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(area: &[u8]) -> Result<Options, PacketError> {
        let mut raw = RawOptions::new();
        parse_area(area, &mut raw)?;
        Options::from_raw(raw)
    }

    #[test]
    fn padding_is_skipped_and_end_stops_parsing() {
        let area = [0, 0, 53, 1, 2, 0, 51, 4, 0, 0, 0x0e, 0x10, 255, 53, 1, 5];
        let options = parse(&area).unwrap();
        assert_eq!(options.message_type, Some(MessageType::Offer));
        assert_eq!(options.lease_time, Some(3600));
    }

    #[test]
    fn a_missing_end_is_tolerated() {
        let options = parse(&[53, 1, 5, 54, 4, 10, 0, 2, 2]).unwrap();
        assert_eq!(options.message_type, Some(MessageType::Ack));
        assert_eq!(options.server_id, Some(Ipv4Addr::new(10, 0, 2, 2)));
    }

    #[test]
    fn truncated_options_are_errors() {
        assert_eq!(
            parse(&[53]).unwrap_err(),
            PacketError::TruncatedOption { code: 53 }
        );
        assert_eq!(
            parse(&[53, 1, 5, 6, 8, 10, 0, 2, 3]).unwrap_err(),
            PacketError::TruncatedOption { code: 6 }
        );
    }

    #[test]
    fn wrong_lengths_and_values_are_errors() {
        assert_eq!(
            parse(&[53, 2, 5, 5, 255]).unwrap_err(),
            PacketError::BadOptionLength { code: 53, len: 2 }
        );
        assert_eq!(
            parse(&[53, 1, 9, 255]).unwrap_err(),
            PacketError::BadOptionValue { code: 53 }
        );
        assert_eq!(
            parse(&[54, 3, 10, 0, 2, 255]).unwrap_err(),
            PacketError::BadOptionLength { code: 54, len: 3 }
        );
        assert_eq!(
            parse(&[6, 6, 10, 0, 2, 3, 1, 1, 255]).unwrap_err(),
            PacketError::BadOptionLength { code: 6, len: 6 }
        );
        assert_eq!(
            parse(&[3, 0, 255]).unwrap_err(),
            PacketError::BadOptionLength { code: 3, len: 0 }
        );
        assert_eq!(
            parse(&[51, 2, 1, 1, 255]).unwrap_err(),
            PacketError::BadOptionLength { code: 51, len: 2 }
        );
    }

    #[test]
    fn repeated_codes_are_concatenated() {
        // RFC 3396: two DNS instances form one list.
        let area = [6, 4, 10, 0, 2, 3, 6, 4, 1, 1, 1, 1, 255];
        let options = parse(&area).unwrap();
        assert_eq!(
            options.dns,
            vec![Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(1, 1, 1, 1)]
        );
    }

    #[test]
    fn long_values_split_and_join_back() {
        let options = Options {
            other: BTreeMap::from([(224, (0..=255u8).cycle().take(600).collect())]),
            ..Options::default()
        };
        let mut out = Vec::new();
        options.encode(&mut out);
        // 600 bytes in three instances: 255 + 255 + 90, then End.
        assert_eq!(out.len(), 3 * 2 + 600 + 1);
        assert_eq!(&out[..2], &[224, 255]);
        assert_eq!(&out[257..259], &[224, 255]);
        assert_eq!(&out[514..516], &[224, 90]);
        assert_eq!(parse(&out).unwrap(), options);
    }

    #[test]
    fn every_typed_option_round_trips() {
        let options = Options {
            message_type: Some(MessageType::Request),
            subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            routers: vec![Ipv4Addr::new(10, 0, 2, 2)],
            dns: vec![Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(9, 9, 9, 9)],
            hostname: Some("edge-01".into()),
            requested_ip: Some(Ipv4Addr::new(10, 0, 2, 15)),
            lease_time: Some(86400),
            server_id: Some(Ipv4Addr::new(10, 0, 2, 2)),
            parameter_request: vec![1, 3, 6, 12, 51, 58, 59],
            max_message_size: Some(1500),
            renewal_time: Some(43200),
            rebinding_time: Some(75600),
            client_id: Some(vec![1, 0x52, 0x54, 0, 0x12, 0x34, 0x56]),
            other: BTreeMap::from([(15, b"example.net".to_vec())]),
        };
        let mut out = Vec::new();
        options.encode(&mut out);
        assert_eq!(&out[..3], &[53, 1, 3], "message type leads");
        assert_eq!(out.last(), Some(&255));
        assert_eq!(parse(&out).unwrap(), options);
    }
}
