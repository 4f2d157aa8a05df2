//! Short names for regions, devices and backends, stored inline.
//!
//! This module owns the [`Name`] type and the rule for what a valid name is. Names live
//! inline (no heap) so that early declarations, errors and the allocation hot path can
//! carry them by value; it must never allocate.
#![forbid(unsafe_code)]

use core::fmt;

use crate::Error;

/// The longest name, in bytes.
pub const NAME_MAX: usize = 32;

/// What is wrong with a proposed name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`NAME_MAX`] bytes; `len` is its length.
    TooLong {
        /// Length of the rejected name in bytes.
        len: usize,
    },
    /// The name contains a character the region-map text form reserves
    /// (`=`, `,`, `;`, `*`), whitespace or a control character.
    ReservedChar {
        /// The offending character.
        ch: char,
    },
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Empty => f.write_str("is empty"),
            Self::TooLong { len } => write!(f, "is {len} bytes long (at most {NAME_MAX})"),
            Self::ReservedChar { ch } => write!(f, "contains the reserved character {ch:?}"),
        }
    }
}

/// The code point starting at `bytes[at]` and its length in bytes; `bytes` is valid
/// UTF-8 and `at` a character boundary inside it.
const fn decode(bytes: &[u8], at: usize) -> (u32, usize) {
    let lead = bytes[at] as u32;
    if lead < 0x80 {
        (lead, 1)
    } else if lead < 0xE0 {
        (((lead & 0x1F) << 6) | cont(bytes, at + 1), 2)
    } else if lead < 0xF0 {
        (
            ((lead & 0x0F) << 12) | (cont(bytes, at + 1) << 6) | cont(bytes, at + 2),
            3,
        )
    } else {
        (
            ((lead & 0x07) << 18)
                | (cont(bytes, at + 1) << 12)
                | (cont(bytes, at + 2) << 6)
                | cont(bytes, at + 3),
            4,
        )
    }
}

/// The six payload bits of the continuation byte `bytes[at]`.
const fn cont(bytes: &[u8], at: usize) -> u32 {
    (bytes[at] & 0x3F) as u32
}

/// `=`, `,`, `;`, `*`, whitespace (Unicode `White_Space`, as [`char::is_whitespace`])
/// or a control character (as [`char::is_control`]).
const fn is_reserved(code: u32) -> bool {
    matches!(
        code,
        0x3D | 0x2C | 0x3B | 0x2A // = , ; *
            | 0x00..=0x20 // controls, tab to carriage return, space
            | 0x7F..=0xA0 // delete, C1 controls (with next line), no-break space
            | 0x1680
            | 0x2000..=0x200A
            | 0x2028
            | 0x2029
            | 0x202F
            | 0x205F
            | 0x3000
    )
}

/// A validated name of at most [`NAME_MAX`] bytes, `Copy` and heap-free.
///
/// ```
/// use contig_cma::Name;
/// let n = Name::new("video").unwrap();
/// assert_eq!(n.as_str(), "video");
/// assert!(Name::new("a=b").is_err());
/// assert!(Name::new("").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name {
    bytes: [u8; NAME_MAX],
    len: u8,
}

impl Name {
    /// Validates `s` as a name; a `const fn`, so a `static` can be declared with one.
    ///
    /// # Errors
    ///
    /// [`Error::BadName`] naming the text (cut to [`NAME_MAX`] bytes) and the problem.
    pub const fn new(s: &str) -> Result<Self, Error> {
        match Self::problem(s) {
            None => Ok(Self::truncated(s)),
            Some(problem) => Err(Error::BadName {
                name: Self::truncated(s),
                problem,
            }),
        }
    }

    /// What is wrong with `s` as a name, if anything.
    #[must_use]
    pub const fn problem(s: &str) -> Option<NameProblem> {
        if s.is_empty() {
            return Some(NameProblem::Empty);
        }
        if s.len() > NAME_MAX {
            return Some(NameProblem::TooLong { len: s.len() });
        }
        // `str::chars` is not usable in a `const fn`: decode the (valid) UTF-8 by hand.
        let bytes = s.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let (code, len) = decode(bytes, at);
            if is_reserved(code) {
                if let Some(ch) = char::from_u32(code) {
                    return Some(NameProblem::ReservedChar { ch });
                }
            }
            at += len;
        }
        None
    }

    /// The first [`NAME_MAX`] bytes of `s` (cut at a character boundary), unvalidated:
    /// for quoting arbitrary input in errors.
    #[must_use]
    pub const fn truncated(s: &str) -> Self {
        let src = s.as_bytes();
        let mut len = if src.len() < NAME_MAX {
            src.len()
        } else {
            NAME_MAX
        };
        // Back off to a UTF-8 character boundary (continuation bytes are 0b10xx_xxxx).
        while len > 0 && len < src.len() && (src[len] & 0xC0) == 0x80 {
            len -= 1;
        }
        let mut bytes = [0u8; NAME_MAX];
        let mut i = 0;
        while i < len {
            bytes[i] = src[i];
            i += 1;
        }
        #[allow(clippy::cast_possible_truncation)] // len <= NAME_MAX = 32
        Self {
            bytes,
            len: len as u8,
        }
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        let used = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        // Built from a `&str` cut at a character boundary, so this is always valid.
        core::str::from_utf8(used).unwrap_or("")
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Ordered as the text is, so a sorted list of names can be searched with a `&str`.
impl Ord for Name {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn validates_names() {
        assert_eq!(Name::new("common").map(|n| n == "common"), Ok(true));
        let bad = |s: &str| match Name::new(s) {
            Err(Error::BadName { problem, .. }) => problem,
            other => panic!("{s:?} gave {other:?}"),
        };
        assert_eq!(bad(""), NameProblem::Empty);
        assert_eq!(bad(&"x".repeat(33)), NameProblem::TooLong { len: 33 });
        assert_eq!(bad("a b"), NameProblem::ReservedChar { ch: ' ' });
        assert_eq!(bad("a;b"), NameProblem::ReservedChar { ch: ';' });
        assert_eq!(bad("*"), NameProblem::ReservedChar { ch: '*' });
        assert_eq!(bad("a\0"), NameProblem::ReservedChar { ch: '\0' });
        assert!(Name::new(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn orders_like_text() {
        let mut names = ["b", "ab", "a", "abc", "a-b"].map(|s| Name::new(s).unwrap());
        names.sort();
        let text: alloc::vec::Vec<&str> = names.iter().map(Name::as_str).collect();
        assert_eq!(text, ["a", "a-b", "ab", "abc", "b"]);
    }

    #[test]
    fn truncates_at_char_boundary() {
        let s = "é".repeat(20); // 40 bytes, 2 per char
        let t = Name::truncated(&s);
        assert_eq!(t.as_str(), "é".repeat(16));
        let s = format!("a{}", "é".repeat(20)); // boundary falls inside a char at 32
        assert_eq!(Name::truncated(&s).as_str().len(), 31);
    }

    /// The hand-decoding `const` check agrees with the `char` rule it replaced on every
    /// character, in every UTF-8 length, alone and after an ASCII prefix.
    #[test]
    fn const_check_matches_the_char_rule_on_every_char() {
        let mut buf = [0u8; 8];
        for ch in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let reserved =
                matches!(ch, '=' | ',' | ';' | '*') || ch.is_whitespace() || ch.is_control();
            let expected = reserved.then_some(NameProblem::ReservedChar { ch });
            buf[0] = b'x';
            let len = ch.encode_utf8(&mut buf[1..]).len();
            let with_prefix = core::str::from_utf8(&buf[..=len]).unwrap();
            assert_eq!(Name::problem(with_prefix), expected, "{ch:?}");
            assert_eq!(Name::problem(&with_prefix[1..]), expected, "{ch:?}");
        }
    }

    #[test]
    fn names_are_validated_in_const_context() {
        const GOOD: Result<Name, Error> = Name::new("dsp-carveout");
        const BAD: Result<Name, Error> = Name::new("a\u{3000}b");
        assert_eq!(GOOD.map(|n| n.len), Ok(12));
        assert!(matches!(
            BAD,
            Err(Error::BadName {
                problem: NameProblem::ReservedChar { ch: '\u{3000}' },
                ..
            })
        ));
    }
}
