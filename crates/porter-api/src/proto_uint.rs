//! [`ProtoUint`]: an unsigned integer that OpenELB writes as a string.
//!
//! OpenELB's BgpPeer timers are gobgp proto `uint64` fields, and the proto JSON mapping writes 64-bit integers
//! as strings (`holdTime: "90"`). People also write plain integers (`holdTime: 90`). Porter accepts both, keeps
//! the form it was given (so a round trip changes nothing), and leaves the range check to validation so a bad
//! value becomes a field error instead of a failure to load the whole object.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An unsigned integer written either as a JSON integer or as a string of decimal digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProtoUint {
    /// Written as a JSON integer (`90`).
    Int(i64),
    /// Written as a string (`"90"`), as OpenELB does. May not be a number at all; see [`ProtoUint::value`].
    String(String),
}

impl ProtoUint {
    /// The integer value, or a message saying why the text is not an unsigned integer. The message quotes the
    /// value and is meant to follow a field path (`spec.timers.config.holdTime: "abc" is not an integer`).
    pub fn value(&self) -> Result<u64, String> {
        match self {
            ProtoUint::Int(v) => u64::try_from(*v).map_err(|_| format!("{v} is negative")),
            ProtoUint::String(s) => {
                let t = s.trim();
                if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                    t.parse::<u64>()
                        .map_err(|_| format!("\"{s}\" is too large"))
                } else if t
                    .strip_prefix('-')
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                {
                    Err(format!("\"{s}\" is negative"))
                } else {
                    Err(format!("\"{s}\" is not an integer"))
                }
            }
        }
    }
}

impl From<u32> for ProtoUint {
    fn from(v: u32) -> Self {
        ProtoUint::String(v.to_string())
    }
}

impl fmt::Display for ProtoUint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoUint::Int(v) => write!(f, "{v}"),
            ProtoUint::String(s) => write!(f, "\"{s}\""),
        }
    }
}

impl Serialize for ProtoUint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ProtoUint::Int(v) => serializer.serialize_i64(*v),
            ProtoUint::String(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for ProtoUint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ProtoUint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string of digits")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ProtoUint, E> {
                Ok(ProtoUint::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ProtoUint, E> {
                // Beyond i64 the integer form cannot be kept; the digits are, so nothing is lost.
                Ok(i64::try_from(v)
                    .map_or_else(|_| ProtoUint::String(v.to_string()), ProtoUint::Int))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ProtoUint, E> {
                Ok(ProtoUint::String(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ProtoUint, E> {
                Ok(ProtoUint::String(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl JsonSchema for ProtoUint {
    fn schema_name() -> Cow<'static, str> {
        "ProtoUint".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Structural: no `type`, the int-or-string extension lets the apiserver accept both forms.
        json_schema!({ "x-kubernetes-int-or-string": true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_forms_and_keeps_them() {
        let s: ProtoUint = serde_json::from_str("\"90\"").unwrap();
        assert_eq!(s, ProtoUint::String("90".into()));
        assert_eq!(s.value(), Ok(90));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"90\"");

        let i: ProtoUint = serde_json::from_str("30").unwrap();
        assert_eq!(i, ProtoUint::Int(30));
        assert_eq!(i.value(), Ok(30));
        assert_eq!(serde_json::to_string(&i).unwrap(), "30");
    }

    #[test]
    fn bad_values_load_but_do_not_validate() {
        let v: ProtoUint = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(v.value(), Err("\"abc\" is not an integer".to_string()));
        let v: ProtoUint = serde_json::from_str("-3").unwrap();
        assert_eq!(v.value(), Err("-3 is negative".to_string()));
        let v: ProtoUint = serde_json::from_str("\"-3\"").unwrap();
        assert_eq!(v.value(), Err("\"-3\" is negative".to_string()));
        let v: ProtoUint = serde_json::from_str("\"\"").unwrap();
        assert_eq!(v.value(), Err("\"\" is not an integer".to_string()));
        let v: ProtoUint = serde_json::from_str("\"99999999999999999999999\"").unwrap();
        assert!(v.value().unwrap_err().contains("too large"));
        assert!(serde_json::from_str::<ProtoUint>("1.5").is_err());
        assert!(serde_json::from_str::<ProtoUint>("true").is_err());
    }
}
