//! A structural JSON scanner: finds where values begin and end without building them.
//!
//! Record pages are large and their items are handed on verbatim, so the connector only needs
//! the envelope's few scalars and each item's byte span. The scanner skips strings (with
//! escapes) and nested containers; it does not check numbers or literals in depth; the host
//! validates every record it is handed.

/// A scanning failure at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// The text ends inside a value.
    Truncated,
    /// Something other than what the grammar allows here.
    Unexpected {
        offset: usize,
        found: char,
        expected: &'static str,
    },
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Truncated => f.write_str("the body ends inside this value"),
            ScanError::Unexpected {
                offset,
                found,
                expected,
            } => {
                write!(f, "expected {expected} at byte {offset}, found {found:?}")
            }
        }
    }
}

type Scan<T> = Result<T, ScanError>;

/// Index of the first non-whitespace byte at or after `pos`.
pub fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && matches!(b[pos], b' ' | b'\t' | b'\n' | b'\r') {
        pos += 1;
    }
    pos
}

fn unexpected(b: &[u8], pos: usize, expected: &'static str) -> ScanError {
    match b.get(pos) {
        None => ScanError::Truncated,
        Some(&c) => ScanError::Unexpected {
            offset: pos,
            found: c as char,
            expected,
        },
    }
}

/// Expects byte `c` at `pos` (after whitespace); returns the index after it.
pub fn expect(b: &[u8], pos: usize, c: u8, expected: &'static str) -> Scan<usize> {
    let pos = skip_ws(b, pos);
    if b.get(pos) == Some(&c) {
        Ok(pos + 1)
    } else {
        Err(unexpected(b, pos, expected))
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Non-zero when some byte of `word` equals `byte` (the classic "has zero byte" trick).
fn has_byte(word: u64, byte: u8) -> u64 {
    let v = word ^ (ONES * u64::from(byte));
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// End (exclusive) of the string whose opening quote is at `pos`. Eight bytes at a time: the
/// lowest flagged byte of a word is the first quote or backslash in it (the trick's false
/// positives only sit above a true one), so the scan jumps straight to it.
fn skip_string(b: &[u8], pos: usize) -> Scan<usize> {
    let mut i = pos + 1;
    loop {
        while let Some(chunk) = b.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            let hits = has_byte(word, b'"') | has_byte(word, b'\\');
            if hits != 0 {
                i += (hits.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match b.get(i) {
            None => return Err(ScanError::Truncated),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
        }
    }
}

/// Span `(start, end)` of the value at `pos` (after whitespace).
pub fn value_span(b: &[u8], pos: usize) -> Scan<(usize, usize)> {
    let start = skip_ws(b, pos);
    let end = match b.get(start) {
        None => return Err(ScanError::Truncated),
        Some(b'"') => skip_string(b, start)?,
        Some(b'{' | b'[') => skip_container(b, start)?,
        Some(c) if c.is_ascii_alphanumeric() || *c == b'-' => {
            let mut i = start;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b'+' | b'.'))
            {
                i += 1;
            }
            if i == b.len() {
                return Err(ScanError::Truncated);
            }
            i
        }
        Some(_) => return Err(unexpected(b, start, "a value")),
    };
    Ok((start, end))
}

/// End (exclusive) of the object or array opening at `pos`.
fn skip_container(b: &[u8], pos: usize) -> Scan<usize> {
    let mut depth = 0usize;
    let mut i = pos;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = skip_string(b, i)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(ScanError::Truncated)
}

/// Calls `member(key, value_start)` for each member of the object at `pos`; `member` returns
/// where the value ends. Keys are compared raw (object keys here need no unescaping). Returns
/// the index after the closing brace.
pub fn each_member(
    b: &[u8],
    pos: usize,
    mut member: impl FnMut(&[u8], usize) -> Scan<usize>,
) -> Scan<usize> {
    let mut pos = expect(b, pos, b'{', "`{`")?;
    if b.get(skip_ws(b, pos)) == Some(&b'}') {
        return Ok(skip_ws(b, pos) + 1);
    }
    loop {
        let key_start = skip_ws(b, pos);
        if b.get(key_start) != Some(&b'"') {
            return Err(unexpected(b, key_start, "a key"));
        }
        let key_end = skip_string(b, key_start)?;
        let value = expect(b, key_end, b':', "`:`")?;
        pos = member(&b[key_start + 1..key_end - 1], value)?;
        pos = skip_ws(b, pos);
        match b.get(pos) {
            Some(b',') => pos += 1,
            Some(b'}') => return Ok(pos + 1),
            _ => return Err(unexpected(b, pos, "`,` or `}`")),
        }
    }
}

/// Calls `item(index, value_start)` for each element of the array at `pos`; `item` returns
/// where the element ends (so it can read the element as it goes). Returns the index after the
/// closing bracket.
pub fn each_item(
    b: &[u8],
    pos: usize,
    mut item: impl FnMut(usize, usize) -> Scan<usize>,
) -> Scan<usize> {
    let mut pos = expect(b, pos, b'[', "`[`")?;
    if b.get(skip_ws(b, pos)) == Some(&b']') {
        return Ok(skip_ws(b, pos) + 1);
    }
    let mut index = 0;
    loop {
        pos = skip_ws(b, item(index, pos)?);
        index += 1;
        match b.get(pos) {
            Some(b',') => pos += 1,
            Some(b']') => return Ok(pos + 1),
            _ => return Err(unexpected(b, pos, "`,` or `]`")),
        }
    }
}

/// Calls `element(index, start, end)` for each element of the array at `pos`; returns the
/// index after the closing bracket.
pub fn each_element(
    b: &[u8],
    pos: usize,
    mut element: impl FnMut(usize, usize, usize) -> Scan<()>,
) -> Scan<usize> {
    each_item(b, pos, |index, at| {
        let (start, end) = value_span(b, at)?;
        element(index, start, end)?;
        Ok(end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(text: &str) -> Scan<&str> {
        value_span(text.as_bytes(), 0).map(|(s, e)| &text[s..e])
    }

    #[test]
    fn spans_of_each_kind() {
        assert_eq!(span(r#" "a\"b" ,"#), Ok(r#""a\"b""#));
        assert_eq!(
            span(r#"{"a":[1,{"b":"}]"}],"c":"\\"} tail"#),
            Ok(r#"{"a":[1,{"b":"}]"}],"c":"\\"}"#)
        );
        assert_eq!(span("-1.5e+3,"), Ok("-1.5e+3"));
        assert_eq!(span("true}"), Ok("true"));
        assert_eq!(span("[]"), Ok("[]"));
    }

    #[test]
    fn long_strings_with_escapes_anywhere() {
        for at in 0..20 {
            let inner = format!("{}\\\"{}", "x".repeat(at), "é".repeat(20 - at));
            let text = format!("\"{inner}\" ,");
            assert_eq!(span(&text), Ok(&text[..text.len() - 2]), "{at}");
        }
        assert_eq!(
            span(&format!("\"{}", "a".repeat(30))),
            Err(ScanError::Truncated)
        );
    }

    #[test]
    fn truncation_is_reported() {
        for cut in [r#"{"a":"#, r#"{"a":"b"#, r#"["x\"#, "12", r#""abc"#] {
            assert_eq!(span(cut), Err(ScanError::Truncated), "{cut}");
        }
        assert!(matches!(
            span(":"),
            Err(ScanError::Unexpected { offset: 0, .. })
        ));
    }

    #[test]
    fn members_and_elements() {
        let text = br#"{ "k" : [ {"x":1} , 2 ,"s"] , "e":{} }"#;
        let mut keys = Vec::new();
        let mut items = Vec::new();
        let end = each_member(text, 0, |key, at| {
            keys.push(String::from_utf8_lossy(key).into_owned());
            if key == b"k" {
                each_element(text, at, |i, s, e| {
                    items.push((i, String::from_utf8_lossy(&text[s..e]).into_owned()));
                    Ok(())
                })
            } else {
                value_span(text, at).map(|(_, e)| e)
            }
        })
        .unwrap();
        assert_eq!(end, text.len());
        assert_eq!(keys, ["k", "e"]);
        assert_eq!(
            items,
            [
                (0, r#"{"x":1}"#.to_string()),
                (1, "2".into()),
                (2, r#""s""#.into())
            ]
        );
        assert!(each_member(br#"{"a" 1}"#, 0, |_, at| Ok(at)).is_err());
        assert!(each_element(b"[1 2]", 0, |_, _, _| Ok(())).is_err());
    }
}
