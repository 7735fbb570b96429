//! Who is calling: the Common Name and the Organization (the role) of the
//! client certificate the handshake verified.

use std::fmt;

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::names::printable;

/// What a caller may do; each role may do what the one before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Reader,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "reader" => Some(Role::Reader),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// The caller of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The certificate's CN, printable, for logs and PID 1's records.
    pub name: String,
    /// `None` when the certificate names no role, an unknown one, or two.
    pub role: Option<Role>,
}

impl Identity {
    /// Reads the leaf certificate (DER). The handshake already checked that
    /// the CA signed it; this only reads what it says.
    pub fn from_certificate(der: &[u8]) -> Identity {
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            return Identity::unknown();
        };
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map_or_else(|| "?".to_owned(), |cn| printable(cn, 64));
        let mut roles = subject.iter_organization().map(|o| o.as_str().ok());
        let role = match (roles.next(), roles.next()) {
            (Some(Some(o)), None) => Role::parse(o),
            _ => None,
        };
        Identity { name, role }
    }

    pub fn unknown() -> Identity {
        Identity {
            name: "?".into(),
            role: None,
        }
    }
}

impl fmt::Display for Identity {
    /// `alice (admin)`, as the request log shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.role {
            Some(role) => write!(f, "{} ({})", self.name, role.as_str()),
            None => write!(f, "{} (no role)", self.name),
        }
    }
}
