//! Namespaced object identity.

use std::fmt;

/// `namespace/name` of a namespaced object: the key Porter uses for Services everywhere
/// (IPAM owners, Eip `status.used` values, status files), so that one spelling is shared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
}

impl ObjectKey {
    /// Builds a key; an empty namespace means `default`, as the API server would default it.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        let namespace = namespace.into();
        let namespace = if namespace.is_empty() {
            "default".to_owned()
        } else {
            namespace
        };
        Self {
            namespace,
            name: name.into(),
        }
    }

    /// Key of an object from its metadata (`None` when it has no name).
    pub fn of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<Self> {
        Some(Self::new(
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone()?,
        ))
    }

    /// Parses `namespace/name` (or a bare name, meaning namespace `default`).
    pub fn parse(s: &str) -> Self {
        match s.split_once('/') {
            Some((ns, name)) => Self::new(ns, name),
            None => Self::new("default", s),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// An object's `metadata.uid`, held as its 128 bits when it is a UUID written as the API
/// server writes them (lowercase, hyphenated), as text otherwise: 24 bytes inline instead of a
/// 48-byte allocation per Service for the controller. `Display` gives the text back as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uid {
    /// A canonical UUID's bits.
    Uuid([u64; 2]),
    /// Anything else, as it was.
    Text(Box<str>),
}

impl Uid {
    /// The uid `text`.
    pub fn of(text: &str) -> Self {
        Self::uuid(text).unwrap_or_else(|| Self::Text(text.into()))
    }

    fn uuid(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return None;
        }
        let mut bits: u128 = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let digit = match (i, b) {
                (8 | 13 | 18 | 23, b'-') => continue,
                (8 | 13 | 18 | 23, _) => return None,
                (_, b'0'..=b'9') => b - b'0',
                (_, b'a'..=b'f') => b - b'a' + 10,
                _ => return None,
            };
            bits = (bits << 4) | u128::from(digit);
        }
        Some(Self::Uuid([(bits >> 64) as u64, bits as u64]))
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => f.write_str(text),
            Self::Uuid([high, low]) => {
                let bits = (u128::from(*high) << 64) | u128::from(*low);
                let hex = format!("{bits:032x}");
                write!(
                    f,
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Uid;

    #[test]
    fn a_uid_reads_back_as_it_was_written() {
        for text in [
            "11111111-0000-0000-0000-000000000042",
            "0f8e2a3c-9b1d-4e5f-a6b7-c8d9e0f1a2b3",
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "0F8E2A3C-9B1D-4E5F-A6B7-C8D9E0F1A2B3",
            "0f8e2a3c9b1d4e5fa6b7c8d9e0f1a2b3xxxx",
            "0f8e2a3c-9b1d-4e5f-a6b7-c8d9e0f1a2b",
            "uid-1",
            "",
        ] {
            assert_eq!(Uid::of(text).to_string(), text);
        }
        assert!(matches!(
            Uid::of("0f8e2a3c-9b1d-4e5f-a6b7-c8d9e0f1a2b3"),
            Uid::Uuid(_)
        ));
        assert!(matches!(
            Uid::of("0F8E2A3C-9B1D-4E5F-A6B7-C8D9E0F1A2B3"),
            Uid::Text(_)
        ));
    }
}
