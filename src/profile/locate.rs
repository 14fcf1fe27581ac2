//! Line numbers for profile files. serde_yaml's `Value` keeps no positions, but it stamps an
//! error raised while a scalar is read with that scalar's position: walking the text to a key
//! and failing on it gives the key's line without a second parser.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The 1-based line of a position serde_yaml reported, as an editor counts lines: libyaml
/// also breaks lines at CR, NEL, U+2028 and U+2029, which editors mostly show inline.
pub fn line_at(text: &str, at: serde_yaml::Location) -> usize {
    let i = at.index().min(text.len());
    if text.is_char_boundary(i) {
        text[..i].matches('\n').count() + 1
    } else {
        at.line()
    }
}

/// The 1-based line of the key at `path` (each element one mapping key) in `text`.
pub fn line_of_key(text: &str, path: &[String]) -> Option<usize> {
    if path.is_empty() {
        return None;
    }
    let de = serde_yaml::Deserializer::from_str(text);
    match Walk(path).deserialize(de) {
        Err(e) => e.location().map(|l| line_at(text, l)),
        Ok(()) => None,
    }
}

/// The 1-based line where the second document of `text` starts, if it has one.
pub fn line_of_second_document(text: &str) -> Option<usize> {
    let second = serde_yaml::Deserializer::from_str(text).nth(1)?;
    match de::Deserializer::deserialize_any(second, Stop) {
        Err(e) => e.location().map(|l| line_at(text, l)),
        Ok(()) => None,
    }
}

/// Walks mappings along the path; fails on its last key.
struct Walk<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.0.split_first() else {
            return IgnoredAny.visit_map(map).map(drop);
        };
        while let Some(hit) = map.next_key_seed(Key {
            want: first,
            stop: rest.is_empty(),
        })? {
            if hit {
                map.next_value_seed(Walk(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        IgnoredAny.visit_seq(seq).map(drop)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        IgnoredAny.visit_enum(data).map(drop)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A mapping key: is it the one wanted? Fails (stamping its position) if it is the last one.
struct Key<'a> {
    want: &'a str,
    stop: bool,
}

impl Key<'_> {
    fn found<E: de::Error>(&self, key: &str) -> Result<bool, E> {
        match (key == self.want, self.stop) {
            (true, true) => Err(E::custom("found")),
            (hit, _) => Ok(hit),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.found(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.found(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.found(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.found(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.found(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        self.found("null")
    }
    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        self.found("null")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        IgnoredAny.visit_map(map).map(|_| false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| false)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<bool, A::Error> {
        IgnoredAny.visit_enum(data).map(|_| false)
    }
}

/// Fails on the first thing it sees, whatever it is.
struct Stop;

impl<'de> Visitor<'de> for Stop {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("nothing")
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom("here"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom("here"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(String::from).collect()
    }

    #[test]
    fn finds_the_line_of_a_nested_key() {
        let text = "# c\nimage: x\ndisk:\n  fsType: ext4\n  sizeGB: 3\nnode: {settings: {a: 1}}\n";
        assert_eq!(line_of_key(text, &path("image")), Some(2));
        assert_eq!(line_of_key(text, &path("disk.sizeGB")), Some(5));
        assert_eq!(line_of_key(text, &path("node.settings.a")), Some(6));
        assert_eq!(line_of_key(text, &path("disk.nope")), None);
        assert_eq!(line_of_key("1: x\n2: y\n", &path("2")), Some(2));
    }

    #[test]
    fn lines_are_counted_as_editors_do() {
        let text = "a: 1\u{85}\u{2028}b: 2\nc: 3\n---\nd: 4\n";
        assert_eq!(line_of_key(text, &path("c")), Some(2));
        assert_eq!(line_of_second_document(text), Some(4));
    }

    #[test]
    fn finds_the_second_document() {
        assert_eq!(line_of_second_document("a: 1\nb: 2\n---\nc: 3\n"), Some(4));
        assert_eq!(line_of_second_document("a: 1\n"), None);
    }
}
