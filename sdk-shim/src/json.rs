//! A fast reader for the one document every evaluation reads: the `validate` payload.
//!
//! The views ([`crate::view`]) read a handful of strings and skip the rest of an object
//! (`managedFields`, `last-applied-configuration`: most of a request as `kubectl apply` sends
//! it). serde_json skips byte by byte; this reader is a `serde::Deserializer` for the same views
//! that skips strings eight bytes at a time, checking the grammar as serde_json's `ignore_value`
//! does (structure, escapes, control characters, number syntax).
//!
//! It is only ever a shortcut. It stops ([`Fallback`]) at whatever it does not read exactly as
//! serde_json does: a string with escapes that a visitor reads, a raw value, an enum, invalid
//! UTF-8 anywhere, nesting deeper than [`MAX_DEPTH`] (serde_json allows 128) or
//! [`MAX_SKIP_DEPTH`], and every error. [`crate::request::ValidationPayload::decode`] then
//! decodes the payload again with serde_json, which decides and words the error. So where this
//! reader succeeds, it gives what serde_json gives: the same visits with the same values (numbers
//! are parsed by serde_json itself).

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use std::fmt;

/// Why the fast reader stopped: serde_json reads the payload instead.
#[derive(Debug, PartialEq)]
pub struct Fallback;

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to serde_json")
    }
}

impl std::error::Error for Fallback {}

impl de::Error for Fallback {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Fallback
    }
}

type Result<T> = std::result::Result<T, Fallback>;

/// Containers a visitor may enter, nested (serde_json's limit is 128).
const MAX_DEPTH: usize = 96;
/// Containers a skipped value may hold, nested (serde_json skips any depth).
const MAX_SKIP_DEPTH: usize = 256;

/// Decodes `bytes` (a whole JSON document), or stops.
pub fn from_slice<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
    from_slice_seed(bytes, std::marker::PhantomData::<T>).map(|(value, _)| value)
}

/// Whether serde_json reads every part of a document as a tree ([`crate::tree`]), skipped parts
/// included: true when the reader saw no `\u` escape in the surrogate range, no number with an
/// exponent or of 300 characters or more, and no nesting deeper than [`READABLE_DEPTH`]. The
/// text of an object of such a payload, changed by mutations that add nothing deep, needs no
/// [`crate::patch::check_readable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readable(pub bool);

/// Nesting below which a mutated object stays within serde_json's limit with room to spare (the
/// check allows 126 levels inside an object; patches add a few, near the pod spec).
const READABLE_DEPTH: usize = 100;

/// Reads `bytes` (a whole JSON document) with `seed`, or stops; and whether all of it is
/// [`Readable`].
pub fn from_slice_seed<'de, T: DeserializeSeed<'de>>(
    bytes: &'de [u8],
    seed: T,
) -> Result<(T::Value, Readable)> {
    let text = std::str::from_utf8(bytes).map_err(|_| Fallback)?;
    let mut reader = Reader {
        text,
        bytes,
        at: 0,
        depth: 0,
        unusual: false,
    };
    let value = seed.deserialize(&mut reader)?;
    reader.skip_whitespace();
    match reader.at == bytes.len() {
        true => Ok((value, Readable(!reader.unusual))),
        false => Err(Fallback),
    }
}

/// The text of the value after a map member's key in `rest`, which starts at the key's closing
/// quote (`" ws : ws VALUE`), checked as [`Reader::skip_value`] checks it; `None` if there is
/// none.
pub(crate) fn member_value(rest: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(rest).ok()?;
    let mut reader = Reader {
        text,
        bytes: rest,
        at: 0,
        depth: 0,
        unusual: false,
    };
    reader.eat(b'"').ok()?;
    reader.eat(b':').ok()?;
    reader.skip_whitespace();
    let start = reader.at;
    reader.skip_value().ok()?;
    text.get(start..reader.at)
}

/// The index of the first `"`, `\` or control character from `i` on (or the end): where a
/// string's plain run stops. Eight bytes at a time, since most of a request is inside strings.
#[inline]
pub(crate) fn string_stop(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH_BITS: u64 = ONES << 7;
    while let Some(Ok(chunk)) = bytes.get(i..i + 8).map(<[u8; 8]>::try_from) {
        let word = u64::from_le_bytes(chunk);
        // A byte of `word ^ ONES * b` is zero where `word` holds `b`, and `x - ONES * n` borrows
        // into the high bit of each byte below `n`: the lowest high bit left marks the first.
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let found = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | word.wrapping_sub(ONES * 0x20) & !word)
            & HIGH_BITS;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && !matches!(bytes[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    i
}

/// The payload being read: `text` and `bytes` are the same memory.
pub struct Reader<'de> {
    text: &'de str,
    bytes: &'de [u8],
    at: usize,
    depth: usize,
    /// Something serde_json might refuse in a `Value` was seen: see [`Readable`].
    unusual: bool,
}

impl<'de> Reader<'de> {
    #[inline]
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace.
    #[inline]
    fn peek(&mut self) -> Result<u8> {
        self.skip_whitespace();
        self.bytes.get(self.at).copied().ok_or(Fallback)
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Result<()> {
        match self.peek()? == byte {
            true => {
                self.at += 1;
                Ok(())
            }
            false => Err(Fallback),
        }
    }

    /// From just after an opening quote to just after the closing one; whether it had escapes.
    #[inline]
    fn scan_string(&mut self) -> Result<bool> {
        let mut escaped = false;
        loop {
            self.at = string_stop(self.bytes, self.at);
            match self.bytes.get(self.at) {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.skip_escape()?;
                }
                _ => return Err(Fallback), // a control character, or the end
            }
        }
    }

    /// One escape, as serde_json accepts it (`\u` with any four hex digits).
    #[inline]
    fn skip_escape(&mut self) -> Result<()> {
        let length = match self.bytes.get(self.at + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
            Some(b'u') => {
                let digits = self.bytes.get(self.at + 2..self.at + 6).ok_or(Fallback)?;
                if !digits.iter().all(u8::is_ascii_hexdigit) {
                    return Err(Fallback);
                }
                // U+D800 to U+DFFF: a surrogate, which may be alone.
                if digits[0].eq_ignore_ascii_case(&b'd') && !matches!(digits[1], b'0'..=b'7') {
                    self.unusual = true;
                }
                6
            }
            _ => return Err(Fallback),
        };
        self.at += length;
        Ok(())
    }

    /// The string that starts here: borrowed when written without escapes (serde_json's
    /// `visit_borrowed_str`), else unescaped (its `visit_str`).
    fn string(&mut self) -> Result<Text<'de>> {
        self.eat(b'"')?;
        let start = self.at;
        let escaped = self.scan_string()?;
        let raw = self.text.get(start..self.at - 1).ok_or(Fallback)?;
        match escaped {
            false => Ok(Text::Borrowed(raw)),
            true => unescape(raw).map(Text::Owned),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        match self.bytes[self.at..].starts_with(word) {
            true => {
                self.at += word.len();
                Ok(())
            }
            false => Err(Fallback),
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, as serde_json checks it.
    fn skip_number(&mut self) -> Result<()> {
        let bytes = self.bytes;
        let digits_from = |mut i: usize| {
            while let Some(b'0'..=b'9') = bytes.get(i) {
                i += 1;
            }
            i
        };
        let mut i = self.at + usize::from(bytes.get(self.at) == Some(&b'-'));
        // A digit after a leading 0 ends the number here, and the value after it is refused
        // where a `,`, `]` or `}` is expected: `01` fails as in serde_json.
        i = match bytes.get(i) {
            Some(b'0') => i + 1,
            Some(b'1'..=b'9') => digits_from(i),
            _ => return Err(Fallback),
        };
        if bytes.get(i) == Some(&b'.') {
            let end = digits_from(i + 1);
            if end == i + 1 {
                return Err(Fallback);
            }
            i = end;
        }
        if let Some(b'e' | b'E') = bytes.get(i) {
            i += 1 + usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
            let end = digits_from(i);
            if end == i {
                return Err(Fallback);
            }
            i = end;
            self.unusual = true;
        }
        // Without an exponent, fewer than 309 digits always fit an f64.
        if i - self.at >= 300 {
            self.unusual = true;
        }
        self.at = i;
        Ok(())
    }

    /// A member's key and colon, in a skipped object.
    #[inline]
    fn skip_key(&mut self) -> Result<()> {
        self.eat(b'"')?;
        self.scan_string()?;
        self.eat(b':')
    }

    /// Skips one value, checking it as serde_json's `ignore_value` does, without recursion.
    fn skip_value(&mut self) -> Result<()> {
        let mut open = [0u8; MAX_SKIP_DEPTH];
        let mut depth = 0;
        'value: loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    self.scan_string()?;
                }
                bracket @ (b'{' | b'[') => {
                    self.at += 1;
                    let close = if bracket == b'{' { b'}' } else { b']' };
                    if self.peek()? == close {
                        self.at += 1;
                    } else {
                        *open.get_mut(depth).ok_or(Fallback)? = bracket;
                        depth += 1;
                        if self.depth + depth > READABLE_DEPTH {
                            self.unusual = true;
                        }
                        if bracket == b'{' {
                            self.skip_key()?;
                        }
                        continue 'value;
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.skip_number()?,
                _ => return Err(Fallback),
            }
            // A value ended: close what it completes, up to the next member or element.
            while depth > 0 {
                let bracket = open[depth - 1];
                match (self.peek()?, bracket) {
                    (b',', _) => {
                        self.at += 1;
                        if bracket == b'{' {
                            self.skip_key()?;
                        }
                        continue 'value;
                    }
                    (b'}', b'{') | (b']', b'[') => {
                        self.at += 1;
                        depth -= 1;
                    }
                    _ => return Err(Fallback),
                }
            }
            return Ok(());
        }
    }

    /// The next value's first token (a container is entered by [`Self::container`]). Not
    /// generic, so that each visitor's `deserialize_*` stays a small dispatch.
    #[inline(never)]
    fn token(&mut self) -> Result<Token<'de>> {
        Ok(match self.peek()? {
            bracket @ (b'{' | b'[') => Token::Open(bracket),
            b'"' => Token::Str(self.string()?),
            b't' => {
                self.literal(b"true")?;
                Token::Bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                Token::Bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                Token::Null
            }
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                self.skip_number()?;
                // serde_json parses it, so the value is the one it would give.
                let text = &self.text[start..self.at];
                Token::Number(serde_json::from_slice(text.as_bytes()).map_err(|_| Fallback)?)
            }
            _ => return Err(Fallback),
        })
    }

    /// Visits a value whose first token is `token`, as serde_json's `deserialize_any` does.
    fn visit<V: Visitor<'de>>(&mut self, token: Token<'de>, visitor: V) -> Result<V::Value> {
        match token {
            Token::Open(bracket) => self.container(bracket, visitor),
            Token::Str(text) => text.visit(visitor),
            Token::Bool(value) => visitor.visit_bool(value),
            Token::Null => visitor.visit_unit(),
            Token::Number(number) => {
                if let Some(n) = number.as_u64() {
                    visitor.visit_u64(n)
                } else if let Some(n) = number.as_i64() {
                    visitor.visit_i64(n)
                } else {
                    visitor.visit_f64(number.as_f64().ok_or(Fallback)?)
                }
            }
        }
    }

    /// Enters `{` or `[` (already seen), visits, and expects its end, as serde_json does.
    fn container<V: Visitor<'de>>(&mut self, bracket: u8, visitor: V) -> Result<V::Value> {
        self.enter()?;
        let value = match bracket {
            b'{' => visitor.visit_map(Members {
                reader: self,
                first: true,
            })?,
            _ => visitor.visit_seq(Elements {
                reader: self,
                first: true,
            })?,
        };
        self.leave(bracket)?;
        Ok(value)
    }

    #[inline(never)]
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        self.at += 1;
        match self.depth > MAX_DEPTH {
            true => Err(Fallback),
            false => Ok(()),
        }
    }

    #[inline(never)]
    fn leave(&mut self, bracket: u8) -> Result<()> {
        self.depth -= 1;
        self.eat(if bracket == b'{' { b'}' } else { b']' })
    }

    /// Whether the next value is `null` (then read).
    #[inline(never)]
    fn null_next(&mut self) -> Result<bool> {
        if self.peek()? != b'n' {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    /// The next value's first byte, for `deserialize_*` that accept only some types.
    #[inline(never)]
    fn next_is(&mut self, expected: &[u8]) -> Result<u8> {
        let byte = self.peek()?;
        match expected.contains(&byte) {
            true => Ok(byte),
            false => Err(Fallback),
        }
    }

    /// Before a member or element: a comma unless it is the first; `None` at the end.
    #[inline(never)]
    fn next_item(&mut self, first: &mut bool, close: u8) -> Result<Option<u8>> {
        match (self.peek()?, *first) {
            (byte, _) if byte == close => return Ok(None),
            (b',', false) => self.at += 1,
            (_, true) => {}
            _ => return Err(Fallback),
        }
        *first = false;
        self.peek().map(Some)
    }
}

/// The first token of a value.
enum Token<'de> {
    Open(u8),
    Str(Text<'de>),
    Bool(bool),
    Null,
    Number(serde_json::Number),
}

/// serde_json's token for `RawValue`, which only serde_json's own deserializer can produce.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// A newtype struct of this name is given its value's text, checked as [`Reader::skip_value`]
/// checks it (`visit_borrowed_str`), if serde_json reads that text as a tree ([`Readable`]);
/// other deserializers visit it as a newtype (see [`crate::settings::SettingsSource`]).
pub(crate) const RAW_TEXT: &str = "$sdk_shim::json::RawText";

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = Fallback;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let token = self.token()?;
        self.visit(token, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.null_next()? {
            true => visitor.visit_none(),
            false => visitor.visit_some(self),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.skip_value()?;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        match name {
            RAW_VALUE => Err(Fallback),
            RAW_TEXT => {
                // Only text serde_json reads as a tree too ([`Readable`]): whoever reads it
                // later may need to.
                let before = std::mem::replace(&mut self.unusual, false);
                self.skip_whitespace();
                let start = self.at;
                self.skip_value()?;
                if self.unusual {
                    return Err(Fallback);
                }
                self.unusual = before;
                visitor.visit_borrowed_str(&self.text[start..self.at])
            }
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.next_is(b"\"")?;
        self.deserialize_any(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let bracket = self.next_is(b"{")?;
        self.container(bracket, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let bracket = self.next_is(b"{[")?;
        self.container(bracket, visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let bracket = self.next_is(b"[")?;
        self.container(bracket, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value> {
        Err(Fallback)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Fallback)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Fallback)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char unit unit_struct
    }
}

/// A string as read: borrowed from the payload, or unescaped.
enum Text<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Text<'de> {
    fn visit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self {
            Text::Borrowed(text) => visitor.visit_borrowed_str(text),
            Text::Owned(text) => visitor.visit_str(&text),
        }
    }
}

/// The text of a string written with escapes (already checked by [`Reader::scan_string`]), as
/// serde_json unescapes it; a lone surrogate (which serde_json refuses) stops.
fn unescape(raw: &str) -> Result<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = rest.as_bytes().get(at + 1).copied().ok_or(Fallback)?;
        rest = &rest[at + 2..];
        let plain = match escape {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = hex4(rest)?;
                rest = &rest[4..];
                let code = match unit {
                    0xD800..=0xDBFF => {
                        let low = rest.strip_prefix("\\u").map(hex4).ok_or(Fallback)??;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(Fallback);
                        }
                        rest = &rest[6..];
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(Fallback),
                    unit => unit,
                };
                char::from_u32(code).ok_or(Fallback)?
            }
            _ => return Err(Fallback),
        };
        out.push(plain);
    }
    out.push_str(rest);
    Ok(out)
}

/// The four hex digits `text` starts with.
fn hex4(text: &str) -> Result<u32> {
    let digits = text.get(..4).ok_or(Fallback)?;
    u32::from_str_radix(digits, 16).map_err(|_| Fallback)
}

/// A map key: always a string, visited as serde_json visits its keys.
struct Key<'r, 'de>(&'r mut Reader<'de>);

impl<'de> de::Deserializer<'de> for Key<'_, 'de> {
    type Error = Fallback;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.0.string()?.visit(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.0.eat(b'"')?;
        self.0.scan_string()?;
        visitor.visit_unit()
    }

    // serde_json reads these from a key's text (numbers, booleans) or wraps it; no view asks.
    fn deserialize_option<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Fallback)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value> {
        Err(Fallback)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value> {
        Err(Fallback)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Fallback)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Fallback)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Fallback)
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u32 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// An object's members.
struct Members<'r, 'de> {
    reader: &'r mut Reader<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Members<'_, 'de> {
    type Error = Fallback;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.reader.next_item(&mut self.first, b'}')? {
            None => Ok(None),
            Some(b'"') => seed.deserialize(Key(self.reader)).map(Some),
            Some(_) => Err(Fallback),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        self.reader.eat(b':')?;
        seed.deserialize(&mut *self.reader)
    }
}

/// A list's elements.
struct Elements<'r, 'de> {
    reader: &'r mut Reader<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Fallback;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.reader.next_item(&mut self.first, b']')? {
            None => Ok(None),
            Some(_) => seed.deserialize(&mut *self.reader).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IgnoredAny;
    use serde::Deserialize;
    use serde_json::Value;
    use std::marker::PhantomData;

    /// Documents read whole: where the reader succeeds, it gives serde_json's value.
    #[test]
    fn values_are_serde_jsons() {
        let read = [
            r#"{"a": [1, -2, 3.5, -0, 1e3, 18446744073709551615, 18446744073709551616, -9223372036854775809], "b": {"c": null, "d": true, "e": false}}"#,
            r#" [ "x" , { } , [ ] , "" , 0 ] "#,
            r#"{"a": 1, "a": 2}"#,
            "\t{\n\"k\"\r: \"v\" }\n",
            r#"{"ünïcödé": "✓ 𝄞"}"#,
            r#"{"a\u0062": "x\ny \"q\" \\ \/ \b\f\r\t \u00e9 \ud83d\ude00 \uD834\uDD1E"}"#,
        ];
        for text in read {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(from_slice::<Value>(text.as_bytes()), Ok(expected), "{text}");
        }
        // Left to serde_json: lone surrogates, numbers out of range, invalid UTF-8, trailing
        // text, deep nesting (serde_json decides whether they are errors).
        let left = [
            &br#"{"a": "\ud83d"}"#[..],
            br#"{"a": "\ude00\ud83d"}"#,
            br#"{"a": "\ud83d\u0041"}"#,
            br#"{"a": 1e400}"#,
            b"{\"a\": \"\xff\"}",
            br#"{"a": 1} x"#,
        ];
        for bytes in left {
            assert_eq!(from_slice::<Value>(bytes), Err(Fallback), "{bytes:?}");
            assert!(serde_json::from_slice::<Value>(bytes).is_err(), "{bytes:?}");
        }
        let deep = |levels| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        assert_eq!(
            from_slice::<Value>(deep(MAX_DEPTH + 1).as_bytes()),
            Err(Fallback)
        );
        assert!(from_slice::<Value>(deep(MAX_DEPTH).as_bytes()).is_ok());
        // Depth counts nesting, not containers: many siblings are read.
        let siblings = format!("[{}[]]", "[],".repeat(3 * MAX_DEPTH));
        assert!(from_slice::<Value>(siblings.as_bytes()).is_ok());
        // `null` for an option is read as serde_json reads it, not left to it.
        assert_eq!(from_slice::<Option<String>>(b" null"), Ok(None));
        assert_eq!(
            from_slice::<Option<String>>(br#""x""#),
            Ok(Some("x".to_string()))
        );
        assert_eq!(Fallback.to_string(), "left to serde_json");
    }

    /// (document, whether the reader calls it readable): where it does, serde_json reads it as
    /// a `Value` and the patch check passes it.
    #[test]
    fn readable_documents_are_readable() {
        let nested = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        let cases = [
            (
                r#"{"a": [1, -2.5, "x\"\u00e9\u20ac\u08a0", {"b": null}]}"#.to_string(),
                true,
            ),
            // Nesting up to 100 levels (the object's own included).
            (format!(r#"{{"a": {}}}"#, nested(99)), true),
            (format!(r#"{{"a": {}}}"#, nested(100)), false),
            (format!(r#"{{"a": {}}}"#, "9".repeat(299)), true),
            // Conservative: a valid pair, an exponent in range, nesting allowed by serde_json.
            (r#"{"a": "\ud83d\ude00"}"#.to_string(), false),
            (r#"{"a": "\uDBFF\uDFFF"}"#.to_string(), false),
            (r#"{"a": 1e3}"#.to_string(), false),
            (format!(r#"{{"a": {}}}"#, "9".repeat(300)), false),
            (format!(r#"{{"a": {}}}"#, nested(101)), false),
        ];
        for (text, readable) in cases {
            let (_, found) = from_slice_seed(text.as_bytes(), PhantomData::<IgnoredAny>).unwrap();
            assert_eq!(found, Readable(readable), "{text}");
            if readable {
                assert!(serde_json::from_str::<Value>(&text).is_ok(), "{text}");
                assert!(crate::patch::check_readable(&text).is_ok(), "{text}");
            }
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Kept {
        keep: u64,
    }

    /// (skipped JSON, whether serde_json accepts it): skipping agrees with `ignore_value`.
    #[test]
    fn skipping_checks_what_serde_json_checks() {
        let deep = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        let cases = [
            (
                r#"{"a": [1, {"b": "c\"\\\/\b\f\n\r\t\u00e9\uD800"}], "d": -0.5e-3}"#.to_string(),
                true,
            ),
            (
                r#""a long string with { brackets } and [ more ] inside, past eight bytes""#
                    .to_string(),
                true,
            ),
            ("[]".to_string(), true),
            ("{}".to_string(), true),
            (" [ 1 , 2 ] ".to_string(), true),
            ("0".to_string(), true),
            ("-0".to_string(), true),
            ("1E+2".to_string(), true),
            ("123456789012345678901234567890e999".to_string(), true),
            (deep(200), true),
            ("01".to_string(), false),
            ("-".to_string(), false),
            ("1.".to_string(), false),
            (".5".to_string(), false),
            ("1e".to_string(), false),
            ("1e+".to_string(), false),
            ("+1".to_string(), false),
            ("tru".to_string(), false),
            ("nul".to_string(), false),
            ("[1,]".to_string(), false),
            ("[,1]".to_string(), false),
            ("[1 2]".to_string(), false),
            (r#"{"a":1,}"#.to_string(), false),
            (r#"{"a" 1}"#.to_string(), false),
            (r#"{a:1}"#.to_string(), false),
            (r#"{"a":1]"#.to_string(), false),
            ("[1}".to_string(), false),
            ("[".to_string(), false),
            (r#""\x""#.to_string(), false),
            (r#""\u12g4""#.to_string(), false),
            (r#""\u12""#.to_string(), false),
            ("\"a\tb\"".to_string(), false),
            ("\"a\u{1}bcdefghijk\"".to_string(), false),
            (r#""unterminated"#.to_string(), false),
        ];
        for (skipped, valid) in cases {
            let text = format!(r#"{{"skip": {skipped}, "keep": 7}}"#);
            let by_serde_json = serde_json::from_str::<Kept>(&text);
            assert_eq!(by_serde_json.is_ok(), valid, "serde_json on {skipped}");
            let fast = from_slice::<Kept>(text.as_bytes());
            assert_eq!(fast.is_ok(), valid, "{skipped}");
            // Also as an ignored element and an ignored object's member.
            for text in [
                format!(r#"{{"keep": 7, "x": [{skipped}]}}"#),
                format!(r#"{{"keep": 7, "x": {{"y": {skipped}}}}}"#),
            ] {
                let agrees = serde_json::from_str::<Kept>(&text).is_ok();
                assert_eq!(
                    from_slice::<Kept>(text.as_bytes()).is_ok(),
                    agrees,
                    "{text}"
                );
            }
        }
        // Deeper than the skip stack: left to serde_json, which skips any depth.
        let text = format!(r#"{{"keep": 7, "skip": {}}}"#, deep(MAX_SKIP_DEPTH + 1));
        assert!(serde_json::from_str::<Kept>(&text).is_ok());
        assert_eq!(from_slice::<Kept>(text.as_bytes()), Err(Fallback));
    }

    /// The text of a value read as [`RAW_TEXT`]: what `SettingsSource` is given.
    #[derive(Debug, PartialEq)]
    struct RawText<'a>(&'a str);

    impl<'de: 'a, 'a> Deserialize<'de> for RawText<'a> {
        fn deserialize<D: de::Deserializer<'de>>(
            deserializer: D,
        ) -> std::result::Result<Self, D::Error> {
            struct Text;
            impl<'de> Visitor<'de> for Text {
                type Value = RawText<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("text")
                }
                fn visit_borrowed_str<E>(
                    self,
                    text: &'de str,
                ) -> std::result::Result<Self::Value, E> {
                    Ok(RawText(text))
                }
            }
            deserializer.deserialize_newtype_struct(RAW_TEXT, Text)
        }
    }

    #[test]
    fn a_raw_text_is_its_values_text_when_serde_json_reads_it() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Doc<'a> {
            #[serde(borrow)]
            raw: RawText<'a>,
            after: bool,
        }
        let cases = [
            (
                r#"{"raw": {"a": [1, {"b": "c\n"}], "d": null} , "after": true}"#,
                r#"{"a": [1, {"b": "c\n"}], "d": null}"#,
            ),
            (r#"{"raw":"x","after":true}"#, r#""x""#),
            (r#"{"raw": -1.5 ,"after":true}"#, "-1.5"),
            (r#"{"raw":[],"after":true}"#, "[]"),
        ];
        for (document, raw) in cases {
            let doc = from_slice::<Doc>(document.as_bytes()).unwrap();
            assert_eq!(
                doc,
                Doc {
                    raw: RawText(raw),
                    after: true
                },
                "{document}"
            );
        }
        // Invalid, or what serde_json might not read as a tree (an exponent, a surrogate
        // escape, deep nesting): left to serde_json.
        let deep = format!("{}1{}", "[".repeat(101), "]".repeat(101));
        for raw in ["{\"a\":}", "1e5", r#""\ud800""#, deep.as_str()] {
            let document = format!(r#"{{"raw": {raw}, "after": true}}"#);
            assert_eq!(
                from_slice::<Doc>(document.as_bytes()),
                Err(Fallback),
                "{raw}"
            );
        }
        // A raw text does not hide what was unusual before it.
        let (_, readable) = from_slice_seed(
            br#"[1e5, {"raw": 1, "after": true}]"#,
            PhantomData::<(Value, Doc)>,
        )
        .unwrap();
        assert_eq!(readable, Readable(false));
        let (_, readable) = from_slice_seed(
            br#"[1, {"raw": 1, "after": true}]"#,
            PhantomData::<(Value, Doc)>,
        )
        .unwrap();
        assert_eq!(readable, Readable(true));
    }

    #[test]
    fn the_word_scan_stops_at_quotes_backslashes_and_control_characters() {
        let text = b"0123456789\"abc\\def\x1fghijklmnopqrstu\\\"vwxyz_0123456789\x7f\x80\xff";
        for start in 0..=text.len() {
            let expected = text[start..]
                .iter()
                .position(|b| matches!(b, b'"' | b'\\' | 0..=0x1f))
                .map_or(text.len(), |n| start + n);
            assert_eq!(string_stop(text, start), expected, "from {start}");
        }
        // Bytes just beside '"', '\\' and 0x20 (and with the high bit set) are not stops.
        let near = [
            b'!', b'#', b'[', b']', b' ', 0xA2, 0xDC, 0xA0, 0x7F, 0x80, b'a',
        ];
        assert_eq!(string_stop(&near, 0), near.len());
    }
}
