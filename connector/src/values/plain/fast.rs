//! The fast paths: plain values written as the raw JSON is read, for values already plain and
//! for the usual forms of text, people, attachments, links, URLs and multi-selects. A value in
//! another form makes a fast path fail ([`unusual`]) and the general path takes it.

use super::shape::Shape;
use super::time::write_utc;
use crate::read::scan::{ScanError, each_item, each_member, skip_ws, value_span};

/// How a value already in its plain form is written.
pub(super) enum AsIs {
    /// Copied byte for byte.
    Copy,
    /// Epoch milliseconds written as an ISO-8601 UTC string.
    Time(i64),
}

impl AsIs {
    pub(super) fn write(self, out: &mut Vec<u8>, raw: &[u8]) {
        match self {
            AsIs::Copy => out.extend_from_slice(raw),
            AsIs::Time(ms) => {
                out.push(b'"');
                write_utc(out, ms);
                out.push(b'"');
            }
        }
    }
}

/// A value in a form the fast paths do not take: the general path handles it.
fn unusual() -> ScanError {
    ScanError::Unexpected {
        offset: 0,
        found: ' ',
        expected: "the usual form",
    }
}

/// Runs a fast path writing into `out`: where its value ends, or None (and nothing written)
/// when the value is not in the form it takes.
pub(super) fn fast(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<usize, ScanError>,
) -> Option<usize> {
    let mark = out.len();
    let written = write(out);
    if written.is_err() {
        out.truncate(mark);
    }
    written.ok()
}

/// The raw values of some members of an object (None for a member it lacks).
type Members<'a, const N: usize> = [Option<&'a [u8]>; N];

/// A fast path writing the value at a position and returning where it ends.
type WriteAt = fn(&[u8], usize, &mut Vec<u8>) -> Result<usize, ScanError>;

/// The raw values of the members `keys` of the object at `at` (None for a key it lacks), and
/// where the object ends.
fn members<'a, const N: usize>(
    b: &'a [u8],
    at: usize,
    keys: [&[u8]; N],
) -> Result<(Members<'a, N>, usize), ScanError> {
    let mut found = [None; N];
    let end = each_member(b, at, |key, at| {
        let (start, end) = value_span(b, at)?;
        if let Some(i) = keys.iter().position(|k| *k == key) {
            found[i] = Some(&b[start..end]);
        }
        Ok(end)
    })?;
    Ok((found, end))
}

/// Writes a string member as it is, null when absent or null; `empty_null` makes `""` null.
fn write_string(
    out: &mut Vec<u8>,
    value: Option<&[u8]>,
    empty_null: bool,
) -> Result<(), ScanError> {
    match value {
        None | Some(b"null") => out.extend_from_slice(b"null"),
        Some(b"\"\"") if empty_null => out.extend_from_slice(b"null"),
        Some(s) if s.first() == Some(&b'"') => out.extend_from_slice(s),
        Some(_) => return Err(unusual()),
    }
    Ok(())
}

/// Writes each element of the array at `at` through `element`, as a JSON array; returns
/// where the array ends.
fn write_each(
    b: &[u8],
    at: usize,
    out: &mut Vec<u8>,
    element: WriteAt,
) -> Result<usize, ScanError> {
    out.push(b'[');
    let end = each_item(b, at, |i, at| {
        if i > 0 {
            out.push(b',');
        }
        element(b, at, out)
    })?;
    out.push(b']');
    Ok(end)
}

/// `{id, name, email}` of the person object at `at`, empty parts null: what [`person`](super::general::person)
/// makes of one.
pub(super) fn write_person(b: &[u8], at: usize, out: &mut Vec<u8>) -> Result<usize, ScanError> {
    let ([id, name, email], end) = members(b, at, [b"id", b"name", b"email"])?;
    out.extend_from_slice(b"{\"id\":");
    write_string(out, id, true)?;
    out.extend_from_slice(b",\"name\":");
    write_string(out, name, true)?;
    out.extend_from_slice(b",\"email\":");
    write_string(out, email, true)?;
    out.push(b'}');
    Ok(end)
}

/// `{file_token, name, size, mime_type, url}` of the attachment at `at` (Feishu's `type` as
/// `mime_type`): what [`attachment`](super::general::attachment) makes of one.
fn write_attachment(b: &[u8], at: usize, out: &mut Vec<u8>) -> Result<usize, ScanError> {
    let keys = [&b"file_token"[..], b"name", b"size", b"type", b"url"];
    let ([token, name, size, kind, url], end) = members(b, at, keys)?;
    out.extend_from_slice(b"{\"file_token\":");
    write_string(out, token, false)?;
    out.extend_from_slice(b",\"name\":");
    write_string(out, name, false)?;
    out.extend_from_slice(b",\"size\":");
    match size {
        None => out.extend_from_slice(b"null"),
        Some(n) if n == b"null" || n.iter().all(u8::is_ascii_digit) => out.extend_from_slice(n),
        Some(_) => return Err(unusual()),
    }
    out.extend_from_slice(b",\"mime_type\":");
    write_string(out, kind, false)?;
    out.extend_from_slice(b",\"url\":");
    write_string(out, url, false)?;
    out.push(b'}');
    Ok(end)
}

/// Writes the plain value of the common shapes as it reads the raw JSON at `at`, copying
/// strings as they are (text segments, people, attachments, links, URLs, multi-selects);
/// returns where the value ends, or Err when it is not in the usual form (the general path
/// then handles it).
pub(super) fn write_fast(
    shape: &Shape,
    b: &[u8],
    at: usize,
    out: &mut Vec<u8>,
) -> Result<usize, ScanError> {
    match shape {
        Shape::Text => write_text(b, at, out),
        Shape::People => write_each(b, at, out, write_person),
        Shape::Attachments => write_each(b, at, out, write_attachment),
        Shape::Links => {
            let ([ids], end) = members(b, at, [b"link_record_ids"])?;
            let ids = ids.ok_or_else(unusual)?;
            strings_only(ids, 0)?;
            out.extend_from_slice(ids);
            Ok(end)
        }
        Shape::Url => {
            let ([link], end) = members(b, at, [b"link"])?;
            write_string(out, link, false)?;
            Ok(end)
        }
        Shape::Strings => {
            let start = skip_ws(b, at);
            let end = strings_only(b, start)?;
            out.extend_from_slice(&b[start..end]);
            Ok(end)
        }
        _ => Err(unusual()),
    }
}

/// Rich-text segments' `text` joined into one JSON string (the escaped contents of each
/// copied as they are: joined escaped text is the escaped joined text).
fn write_text(b: &[u8], at: usize, out: &mut Vec<u8>) -> Result<usize, ScanError> {
    out.push(b'"');
    let end = each_item(b, at, |_, at| {
        let ([text], end) = members(b, at, [b"text"])?;
        match text {
            None | Some(b"null") => {}
            Some(s) if s.first() == Some(&b'"') => out.extend_from_slice(&s[1..s.len() - 1]),
            Some(_) => return Err(unusual()),
        }
        Ok(end)
    })?;
    out.push(b'"');
    Ok(end)
}

/// Where the array of strings at `at` ends; Err when it is not one.
fn strings_only(b: &[u8], at: usize) -> Result<usize, ScanError> {
    each_item(b, at, |_, at| {
        let (start, end) = value_span(b, at)?;
        if b[start] == b'"' {
            Ok(end)
        } else {
            Err(unusual())
        }
    })
}

/// Whether `raw` (a value of shape `shape`) can be written without parsing it, and how.
pub(super) fn already_plain(shape: &Shape, raw: &[u8]) -> Option<AsIs> {
    let first = *raw.first()?;
    let is_number = first == b'-' || first.is_ascii_digit();
    let plain = match shape {
        Shape::Opaque | Shape::Unknown => true,
        Shape::String => first == b'"',
        Shape::Number => is_number,
        Shape::Checkbox => first == b't' || first == b'f',
        Shape::Time if is_number => {
            // Integers only: a fraction or exponent goes the parsed way, as does a time
            // outside the years 1 to 9999 (a misfit there).
            return integer(raw)
                .filter(|&ms| super::time::in_range(ms))
                .map(AsIs::Time);
        }
        _ => false,
    };
    plain.then_some(AsIs::Copy)
}

/// The integer `raw` spells (an optional minus and up to 18 digits), if it is one.
fn integer(raw: &[u8]) -> Option<i64> {
    let (negative, digits) = match raw.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, raw),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut value = 0i64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(d - b'0');
    }
    Some(if negative { -value } else { value })
}
