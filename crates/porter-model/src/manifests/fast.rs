//! A fast path for plain documents: serde straight from the YAML parser's events, for the
//! speaker's thin Services and EndpointSlices (the bulk of a large folder).
//!
//! Why by hand: serde-saphyr ([`super::yaml`]) spends more than half of its time above its own
//! parser (granit-parser): events buffered for replay, duplicate keys fingerprinted, budgets
//! observed. Reading 100k Services and their EndpointSlices costs it about 11 s of CPU, where
//! the parser's events alone take 5 s (docs/benchmarks.md, "Reading a manifests folder"); no
//! maintained crate deserialises from those events more cheaply. So this module reads the
//! events itself, but only for documents where the answer cannot differ from serde-saphyr's: no
//! anchors, aliases, tags, directives or merge keys, no duplicate keys, no scalar whose type a
//! YAML schema would have to resolve (`yes`, `0x1f`, `~`...). On anything else it *declines*
//! (returns `None`) and the caller parses the document with serde-saphyr, which also words
//! every error. Declining is always safe; accepting must give serde-saphyr's value, which the
//! tests and the `manifests` fuzz target check against serde-saphyr itself.

use std::borrow::Cow;

use granit_parser::{Event, Parser, ScalarStyle, StrInput};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Larger documents are left to serde-saphyr, whose budget bounds them.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Deeper nesting is left to serde-saphyr (its budget allows 64).
const MAX_DEPTH: usize = 32;

/// Parses one document (`---` at most, no other document in `text`) into `T`, or `None` when
/// the fast path declines it (see the module's documentation).
pub fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Option<T> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return None;
    }
    let mut events = Events {
        parser: Parser::new_from_str(text),
        peeked: None,
    };
    let Ok(Event::StreamStart) = events.next() else {
        return None;
    };
    // A `%YAML` directive could change how scalars resolve.
    let Ok(Event::DocumentStart(_, None)) = events.next() else {
        return None;
    };
    let value = T::deserialize(&mut Fast {
        events: &mut events,
        depth: 0,
    })
    .ok()?;
    let Ok(Event::DocumentEnd) = events.next() else {
        return None;
    };
    let Ok(Event::StreamEnd) = events.next() else {
        return None;
    };
    Some(value)
}

/// Why the fast path gave up; never shown (serde-saphyr's error is).
#[derive(Debug)]
pub struct Decline;

impl std::fmt::Display for Decline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("left to the full YAML reader")
    }
}

impl std::error::Error for Decline {}

impl de::Error for Decline {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Decline
    }
}

/// The parser's events with one of lookahead, presentation-only events (comments) skipped.
struct Events<'a> {
    parser: Parser<'a, StrInput<'a>>,
    peeked: Option<Event<'a>>,
}

impl<'a> Events<'a> {
    fn next(&mut self) -> Result<Event<'a>, Decline> {
        if let Some(event) = self.peeked.take() {
            return Ok(event);
        }
        loop {
            match self.parser.next_event() {
                Some(Ok((event, _))) => match event {
                    Event::StreamStart
                    | Event::StreamEnd
                    | Event::DocumentStart(..)
                    | Event::DocumentEnd
                    | Event::Alias(_)
                    | Event::UnresolvedAlias(_)
                    | Event::Scalar(..)
                    | Event::SequenceStart(..)
                    | Event::SequenceEnd
                    | Event::MappingStart(..)
                    | Event::MappingEnd => return Ok(event),
                    // Comments (and anchor names, which nodes carry as IDs anyway).
                    _ => {}
                },
                Some(Err(_)) | None => return Err(Decline),
            }
        }
    }

    fn peek(&mut self) -> Result<&Event<'a>, Decline> {
        if self.peeked.is_none() {
            self.peeked = Some(self.next()?);
        }
        self.peeked.as_ref().ok_or(Decline)
    }
}

/// The start of a node: a scalar, or a collection whose entries follow.
enum Node<'a> {
    Scalar(Cow<'a, str>, ScalarStyle),
    Sequence,
    Mapping,
}

/// A plain scalar every YAML schema serde-saphyr follows reads as a string: it starts with a
/// letter and is none of the words that may mean null, a boolean or a special float.
fn plain_is_string(s: &str) -> bool {
    const WORDS: [&str; 12] = [
        "null", "true", "false", "yes", "no", "on", "off", "y", "n", "inf", "nan", "infinity",
    ];
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && !WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// A plain scalar that is an integer in every schema: decimal digits, no sign but `-`, no
/// leading zero, no underscore.
fn plain_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

struct Fast<'p, 'a> {
    events: &'p mut Events<'a>,
    depth: usize,
}

impl<'a> Fast<'_, 'a> {
    /// The next node's start; anchored, aliased and tagged nodes are declined.
    fn node(&mut self) -> Result<Node<'a>, Decline> {
        match self.events.next()? {
            Event::Scalar(value, style, 0, None) => Ok(Node::Scalar(value, style)),
            Event::SequenceStart(_, 0, None) => Ok(Node::Sequence),
            Event::MappingStart(_, 0, None) => Ok(Node::Mapping),
            _ => Err(Decline),
        }
    }

    fn enter(&mut self) -> Result<(), Decline> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Decline);
        }
        Ok(())
    }

    /// A scalar that is a string whatever the schema, as `Cow`.
    fn string(&mut self) -> Result<Cow<'a, str>, Decline> {
        match self.node()? {
            Node::Scalar(s, ScalarStyle::Plain) if plain_is_string(&s) => Ok(s),
            Node::Scalar(_, ScalarStyle::Plain) => Err(Decline),
            Node::Scalar(s, _) => Ok(s),
            Node::Sequence | Node::Mapping => Err(Decline),
        }
    }

    /// Skips a node, checking what serde-saphyr would check (no duplicate keys).
    fn skip(&mut self) -> Result<(), Decline> {
        match self.node()? {
            Node::Scalar(..) => Ok(()),
            Node::Sequence => {
                self.enter()?;
                while !matches!(self.events.peek()?, Event::SequenceEnd) {
                    self.skip()?;
                }
                self.events.next()?;
                self.depth -= 1;
                Ok(())
            }
            Node::Mapping => {
                self.enter()?;
                let mut keys = Keys::default();
                while !matches!(self.events.peek()?, Event::MappingEnd) {
                    let key = self.string()?;
                    keys.insert(key)?;
                    self.skip()?;
                }
                self.events.next()?;
                self.depth -= 1;
                Ok(())
            }
        }
    }
}

/// The keys of one mapping so far: a repeated key is declined (serde-saphyr refuses it), and
/// so is a merge key (`<<`), which serde-saphyr expands.
#[derive(Default)]
struct Keys<'a>(Vec<Cow<'a, str>>);

impl<'a> Keys<'a> {
    fn insert(&mut self, key: Cow<'a, str>) -> Result<(), Decline> {
        // Kubernetes objects' mappings are small: a linear scan beats hashing.
        if key == "<<" || self.0.contains(&key) {
            return Err(Decline);
        }
        self.0.push(key);
        Ok(())
    }
}

fn visit_cow<'de, V: Visitor<'de>>(s: Cow<'de, str>, visitor: V) -> Result<V::Value, Decline> {
    match s {
        Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
        Cow::Owned(s) => visitor.visit_string(s),
    }
}

/// A [`plain_integer`]; one too large for 64 bits is declined (serde-saphyr may read it as a
/// float).
fn visit_integer<'de, V: Visitor<'de>>(s: &str, visitor: V) -> Result<V::Value, Decline> {
    if s.starts_with('-') {
        visitor.visit_i64(s.parse().map_err(|_| Decline)?)
    } else {
        visitor.visit_u64(s.parse().map_err(|_| Decline)?)
    }
}

/// Integers of every width read as `deserialize_i64` reads them; the visitor checks the range.
macro_rules! integers {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
            self.deserialize_i64(visitor)
        })*
    };
}

/// Types the fast path does not read (floats, bytes, enums, tuples...): declined.
macro_rules! decline {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Decline> {
            Err(Decline)
        })*
    };
}

impl<'de> de::Deserializer<'de> for &mut Fast<'_, 'de> {
    type Error = Decline;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self.node()? {
            Node::Mapping => self.read_mapping(visitor),
            Node::Sequence => self.read_sequence(visitor),
            Node::Scalar(s, ScalarStyle::Plain) => match &*s {
                "true" => visitor.visit_bool(true),
                "false" => visitor.visit_bool(false),
                "" | "~" | "null" => visitor.visit_unit(),
                _ if plain_is_string(&s) => visit_cow(s, visitor),
                _ if plain_integer(&s) => visit_integer(&s, visitor),
                _ => Err(Decline),
            },
            Node::Scalar(s, _) => visit_cow(s, visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self.node()? {
            Node::Scalar(s, ScalarStyle::Plain) if s == "true" => visitor.visit_bool(true),
            Node::Scalar(s, ScalarStyle::Plain) if s == "false" => visitor.visit_bool(false),
            _ => Err(Decline),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self.node()? {
            Node::Scalar(s, ScalarStyle::Plain) if plain_integer(&s) => visit_integer(&s, visitor),
            _ => Err(Decline),
        }
    }

    integers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_u8 deserialize_u16
        deserialize_u32 deserialize_u64
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        let s = self.string()?;
        visit_cow(s, visitor)
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        self.deserialize_str(visitor)
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self.events.peek()? {
            Event::Scalar(s, ScalarStyle::Plain, 0, None) => match &**s {
                "" | "~" | "null" => {
                    self.events.next()?;
                    visitor.visit_none()
                }
                other if other.eq_ignore_ascii_case("null") => Err(Decline),
                _ => visitor.visit_some(self),
            },
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Decline> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self.node()? {
            Node::Sequence => self.read_sequence(visitor),
            _ => Err(Decline),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self.node()? {
            Node::Mapping => self.read_mapping(visitor),
            _ => Err(Decline),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Decline> {
        self.deserialize_map(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        self.skip()?;
        visitor.visit_unit()
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Decline> {
        Err(Decline)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, Decline> {
        Err(Decline)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Decline> {
        Err(Decline)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, Decline> {
        Err(Decline)
    }

    decline! {
        deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes deserialize_byte_buf
        deserialize_unit deserialize_i128 deserialize_u128
    }
}

impl<'de> Fast<'_, 'de> {
    /// Hands a sequence's entries to `visitor`, which must read them all.
    fn read_sequence<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Decline> {
        self.enter()?;
        let value = visitor.visit_seq(Entries {
            fast: self,
            keys: Keys::default(),
        })?;
        // A visitor that stopped early would leave entries serde-saphyr would have refused.
        let Event::SequenceEnd = self.events.next()? else {
            return Err(Decline);
        };
        self.depth -= 1;
        Ok(value)
    }

    /// Hands a mapping's entries to `visitor`, which must read them all.
    fn read_mapping<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Decline> {
        self.enter()?;
        let value = visitor.visit_map(Entries {
            fast: self,
            keys: Keys::default(),
        })?;
        let Event::MappingEnd = self.events.next()? else {
            return Err(Decline);
        };
        self.depth -= 1;
        Ok(value)
    }
}

/// The entries of one collection; the end event is left for [`Fast::read_sequence`] /
/// [`Fast::read_mapping`] to take.
struct Entries<'f, 'p, 'a> {
    fast: &'f mut Fast<'p, 'a>,
    keys: Keys<'a>,
}

impl<'de> SeqAccess<'de> for Entries<'_, '_, 'de> {
    type Error = Decline;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Decline> {
        match self.fast.events.peek()? {
            Event::SequenceEnd => Ok(None),
            _ => seed.deserialize(&mut *self.fast).map(Some),
        }
    }
}

impl<'de> MapAccess<'de> for Entries<'_, '_, 'de> {
    type Error = Decline;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Decline> {
        if let Event::MappingEnd = self.fast.events.peek()? {
            return Ok(None);
        }
        let key = self.fast.string()?;
        self.keys.insert(key.clone())?;
        seed.deserialize(de::value::CowStrDeserializer::<Decline>::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Decline> {
        seed.deserialize(&mut *self.fast)
    }
}

#[cfg(test)]
mod tests {
    //! The fast path against serde-saphyr: where it takes a document, the value is the same;
    //! where the answer depends on a schema or a YAML feature, it declines.

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::manifests::yaml;
    use crate::thin::{ThinEndpointSlice, ThinService};

    /// Both readers on `text`: the fast one's value, after checking it is serde-saphyr's.
    fn agreed<'a, T>(text: &'a str) -> Option<T>
    where
        T: Deserialize<'a> + PartialEq + std::fmt::Debug,
    {
        let fast = parse::<T>(text)?;
        let full = yaml::parse::<T>(text, 1);
        assert_eq!(full.as_ref(), Ok(&fast), "{text}");
        Some(fast)
    }

    fn check_all(
        text: &str,
    ) -> (
        Option<Value>,
        Option<ThinService>,
        Option<ThinEndpointSlice>,
    ) {
        (agreed(text), agreed(text), agreed(text))
    }

    const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  annotations:
    lb.kubesphere.io/v1alpha1: porter
    eip.openelb.kubesphere.io/v1alpha2: \"pool\"
  labels: {app: web, tier: 'front'}
  name: web   # a comment
  namespace: shop
  resourceVersion: \"42\"
spec:
  clusterIP: \"10.96.0.1\"
  externalTrafficPolicy: Local
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30001}
  type: LoadBalancer
status:
  loadBalancer:
    ingress:
    - ip: \"198.18.0.1\"
      ipMode: VIP
      ports: [{port: 80, protocol: TCP}]
";

    const SLICE: &str = "\
---
addressType: IPv4
apiVersion: discovery.k8s.io/v1
endpoints:
- addresses: [\"10.244.1.1\"]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: n1
- addresses:
  - \"10.244.2.1\"
  conditions:
    ready: false
  nodeName: null
kind: EndpointSlice
metadata:
  labels:
    kubernetes.io/service-name: web
  name: web-x1
  namespace: shop
ports: ~
";

    #[test]
    fn realistic_documents_take_the_fast_path() {
        let (value, service, _) = check_all(SERVICE);
        assert!(value.is_some(), "as a value");
        let service = service.expect("as a thin Service").into_service();
        assert_eq!(service.metadata.name.as_deref(), Some("web"));
        let ingress = service
            .status
            .and_then(|s| s.load_balancer?.ingress)
            .unwrap();
        assert_eq!(ingress[0].ip.as_deref(), Some("198.18.0.1"));
        assert_eq!(ingress[0].ports.as_ref().unwrap()[0].port, 80);
        let (value, _, slice) = check_all(SLICE);
        assert!(value.is_some(), "as a value");
        let slice = slice.expect("as a thin EndpointSlice").into_slice();
        assert_eq!(slice.endpoints.len(), 2);
        assert_eq!(
            slice.endpoints[0].conditions.as_ref().unwrap().ready,
            Some(true)
        );
        assert_eq!(slice.endpoints[1].node_name, None);
    }

    #[test]
    fn what_a_schema_or_a_yaml_feature_decides_is_declined() {
        let declined = [
            // anchors, aliases, tags, merge keys, directives
            "a: &x b\nc: *x\n",
            "a: !!str b\n",
            "a: !custom b\n",
            "base: {x: y}\nm:\n  <<: {x: z}\n",
            "%YAML 1.1\n---\na: b\n",
            // duplicate keys, even in what is skipped
            "a: b\na: c\n",
            "metadata: {name: a}\nspec: {x: 1, x: 2}\n",
            // scalars a schema resolves
            "a: yes\n",
            "a: No\n",
            "a: ~x\n",
            "a: 0x1f\n",
            "a: 1.5\n",
            "a: .inf\n",
            "a: 012\n",
            "a: +1\n",
            "a: 1_000\n",
            "a: Null\n",
            "80: http\n",
            // not one document
            "a: b\n---\nc: d\n",
            "",
        ];
        for text in declined {
            assert_eq!(parse::<Value>(text), None, "{text:?}");
        }
        // A field the thin types read, written in a way the fast path declines.
        assert_eq!(parse::<ThinService>("metadata:\n  name: 0123\n"), None);
        assert_eq!(
            parse::<ThinEndpointSlice>("endpoints:\n- conditions: {ready: yes}\n"),
            None
        );
    }

    #[test]
    fn malformed_documents_are_left_to_serde_saphyr() {
        for text in [
            "a: [b\n",
            "a: b\n c: d\n",
            "a:\n\t- b\n",
            "\"a\n",
            "a: 'b\n",
            "- a\nb: c\n",
        ] {
            assert_eq!(parse::<Value>(text), None, "{text:?}");
            assert!(yaml::parse::<Value>(text, 1).is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_wrong_type_is_left_to_serde_saphyr() {
        // The visitor's error (a mapping where a string goes) declines; the full reader words it.
        let text = "metadata:\n  name: {a: b}\n";
        assert!(parse::<ThinService>(text).is_none());
        assert!(yaml::parse::<ThinService>(text, 1).is_err());
    }

    /// Strings that test the line between plain strings and everything else.
    fn tricky_string() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            proptest::sample::select(vec![
                "yes",
                "no",
                "on",
                "Off",
                "y",
                "N",
                "true",
                "False",
                "null",
                "NULL",
                "~",
                "0",
                "-1",
                "007",
                "0x1F",
                "0o17",
                "1e3",
                "1.5",
                ".inf",
                "-.Inf",
                ".NaN",
                "1_000",
                "12:30",
                "2024-01-01",
                "a: b",
                "a #b",
                "#a",
                "- a",
                "[a]",
                "{a}",
                "a,b",
                "&a",
                "*a",
                "!a",
                "|",
                ">",
                "'a'",
                "\"a\"",
                "%a",
                "@a",
                "`a",
                " a",
                "a ",
                "a\nb",
                "<<",
                "=",
                "web",
                "svc-000001",
                "kubernetes.io/service-name",
                "LoadBalancer",
                "198.18.0.1",
                "fe80::1",
                "é",
                "\u{a0}a",
            ])
            .prop_map(str::to_owned),
            "[a-zA-Z0-9 .:#/_-]{0,8}",
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            tricky_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 24, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(tricky_string(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn plain_value() -> impl Strategy<Value = Value> {
        let word = "[a-z][a-z0-9./-]{0,8}".prop_filter("a plain string", |s| plain_is_string(s));
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            word.clone().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 24, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..4).prop_map(Value::Array),
                proptest::collection::btree_map(word.clone(), inner, 1..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever serde-saphyr writes, the fast path reads as serde-saphyr does, or declines.
        #[test]
        fn written_values_read_back_the_same(v in value()) {
            let text = serde_saphyr::to_string(&v).unwrap();
            check_all(&text);
        }

        /// Values with nothing a schema resolves take the fast path (so the agreement above is
        /// not only ever about declining).
        #[test]
        fn plain_values_take_the_fast_path(v in plain_value()) {
            let text = serde_saphyr::to_string(&v).unwrap();
            prop_assert_eq!(agreed::<Value>(&text), Some(v), "{}", text);
        }

        /// A realistic Service with one field replaced by any value, block or flow.
        #[test]
        fn a_service_with_any_field_reads_the_same(
            path in proptest::sample::select(vec![
                "/metadata/name", "/metadata/annotations", "/metadata/labels/app",
                "/spec/type", "/spec/ports", "/status/loadBalancer/ingress",
                "/status/loadBalancer/ingress/0/ip", "/spec/externalTrafficPolicy",
            ]),
            v in value(),
            flow in any::<bool>(),
        ) {
            let mut service: Value = yaml::parse(SERVICE, 1).unwrap();
            if let Some(slot) = service.pointer_mut(path) {
                *slot = v;
            }
            let text = if flow {
                serde_json::to_string(&service).unwrap()
            } else {
                serde_saphyr::to_string(&service).unwrap()
            };
            check_all(&text);
        }
    }

    #[test]
    fn json_text_reads_the_same() {
        let v = json!({"metadata": {"name": "web", "annotations": {"a": "yes", "b": ""}},
                       "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}});
        let text = serde_json::to_string_pretty(&v).unwrap();
        let (value, service, _) = check_all(&text);
        assert_eq!(value, Some(v));
        assert!(service.is_some());
    }
}
