//! The set of record ids a stream's state remembers, to tell which records were deleted.
//!
//! Feishu record ids are `rec` and a few letters or digits (`recuVhZ9lw`). Each such id packs
//! into a 64-bit key that unpacks to the same id (bijective base 62 of what follows `rec`, up
//! to 10 characters), so the state can name a deleted record, which a hash could not. The keys
//! are kept sorted and saved as their differences in LEB128 varints, base64-encoded: about
//! 7 bytes a record for ids spread over the whole key space, so 100k records fit in well
//! under 1 MB of state. An id of another form is kept as it is, beside the keys.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PREFIX: &str = "rec";
/// Characters after `rec` that still pack into 64 bits (62^10 + ... + 62 < 2^64).
const MAX_PACKED: usize = 10;

/// The 64-bit key of a record id, when it has the usual form.
fn pack(id: &str) -> Option<u64> {
    let rest = id.strip_prefix(PREFIX)?;
    if rest.is_empty() || rest.len() > MAX_PACKED {
        return None;
    }
    rest.bytes().try_fold(0u64, |key, c| {
        let digit = DIGITS.iter().position(|&d| d == c)? as u64;
        Some(key * 62 + digit + 1)
    })
}

/// The record id a key was packed from.
fn unpack(mut key: u64) -> String {
    let mut rest = Vec::new();
    while key > 0 {
        let digit = (key - 1) % 62;
        rest.push(DIGITS[digit as usize]);
        key = (key - 1) / 62;
    }
    rest.reverse();
    format!("{PREFIX}{}", String::from_utf8_lossy(&rest))
}

/// A 64-bit FNV-1a hash of `bytes`: stable across runs and platforms, not reversible.
pub fn hash64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A set of record ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordIds {
    keys: BTreeSet<u64>,
    others: BTreeSet<String>,
}

impl RecordIds {
    pub fn insert(&mut self, id: &str) {
        match pack(id) {
            Some(key) => {
                self.keys.insert(key);
            }
            None => {
                self.others.insert(id.to_string());
            }
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        match pack(id) {
            Some(key) => self.keys.contains(&key),
            None => self.others.contains(id),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every id, in key order (packed ids first).
    pub fn ids(&self) -> impl Iterator<Item = String> + '_ {
        self.keys
            .iter()
            .map(|&k| unpack(k))
            .chain(self.others.iter().cloned())
    }

    /// The ids of `self` that `other` lacks.
    pub fn missing_from(&self, other: &RecordIds) -> Vec<String> {
        let keys = self.keys.difference(&other.keys).map(|&k| unpack(k));
        let others = self.others.difference(&other.others).cloned();
        keys.chain(others).collect()
    }

    /// Every id of `other` added to `self`.
    pub fn extend(&mut self, other: &RecordIds) {
        self.keys.extend(other.keys.iter().copied());
        self.others.extend(other.others.iter().cloned());
    }

    /// The state's form: `{"count", "keys" (base64 varint deltas), "others"}`.
    pub fn to_state(&self) -> Value {
        let mut state = json!({"count": self.len(), "keys": encode_keys(&self.keys)});
        if !self.others.is_empty() {
            state["others"] = json!(self.others);
        }
        state
    }

    /// Reads the state's form back; the error says what is wrong with it.
    pub fn from_state(state: &Value) -> Result<Self, String> {
        let keys = decode_keys(state)?;
        let others = match state.get("others") {
            None | Some(Value::Null) => BTreeSet::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or("`others` must be an array of strings")?,
            Some(_) => return Err("`others` must be an array of strings".into()),
        };
        Ok(Self { keys, others })
    }
}

/// Sorted keys as base64 of their differences in LEB128 varints.
fn encode_keys(keys: &BTreeSet<u64>) -> String {
    let mut bytes = Vec::with_capacity(keys.len() * 7);
    let mut previous = 0u64;
    for &key in keys {
        let mut delta = key - previous;
        previous = key;
        loop {
            let low = (delta & 0x7f) as u8;
            delta >>= 7;
            if delta == 0 {
                bytes.push(low);
                break;
            }
            bytes.push(low | 0x80);
        }
    }
    BASE64.encode(bytes)
}

/// The keys a state's `keys` member holds ([`encode_keys`]'s form).
fn decode_keys(state: &Value) -> Result<BTreeSet<u64>, String> {
    let text = state
        .get("keys")
        .and_then(Value::as_str)
        .ok_or("has no `keys` string")?;
    let bytes = BASE64
        .decode(text)
        .map_err(|e| format!("`keys` is not base64: {e}"))?;
    let mut keys = BTreeSet::new();
    let (mut previous, mut delta, mut shift) = (0u64, 0u64, 0u32);
    for byte in bytes {
        if shift > 63 {
            return Err("`keys` holds a number too large".into());
        }
        delta |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            previous = previous
                .checked_add(delta)
                .ok_or("`keys` holds a number too large")?;
            keys.insert(previous);
            (delta, shift) = (0, 0);
        }
    }
    if shift != 0 {
        return Err("`keys` ends inside a number".into());
    }
    Ok(keys)
}

/// A set of names (file tokens) kept as their 64-bit hashes: about 9 bytes a name in the
/// state whatever its length. Two names with one hash would pass for one (about 3e-8 for a
/// million names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet(BTreeSet<u64>);

impl NameSet {
    /// Adds `name`; false when it was there already.
    pub fn insert(&mut self, name: &str) -> bool {
        self.0.insert(hash64(name.as_bytes()))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&hash64(name.as_bytes()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The state's form: `{"count", "keys"}`.
    pub fn to_state(&self) -> Value {
        json!({"count": self.len(), "keys": encode_keys(&self.0)})
    }

    pub fn from_state(state: &Value) -> Result<Self, String> {
        decode_keys(state).map(Self)
    }
}

impl<'a> FromIterator<&'a str> for RecordIds {
    fn from_iter<I: IntoIterator<Item = &'a str>>(ids: I) -> Self {
        let mut set = RecordIds::default();
        for id in ids {
            set.insert(id);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_ids_pack_and_unpack_to_themselves() {
        for id in [
            "rec0",
            "reczzzzzzzzzz",
            "recuVhZ9lw",
            "rec000",
            "rec0000a1b2c3",
        ] {
            let key = pack(id).unwrap_or_else(|| panic!("{id}"));
            assert_eq!(unpack(key), id);
        }
        assert_ne!(pack("rec0"), pack("rec00"), "lengths differ");
        for other in ["rec", "recABCDEFGHIJK", "tbl123", "rec-1", "记录"] {
            assert_eq!(pack(other), None, "{other}");
        }
    }

    #[test]
    fn the_state_form_round_trips() {
        let ids = [
            "recuVhZ9lw",
            "rec00000001",
            "reczzzzzzzzzz",
            "not-a-rec-id",
            "rec0",
        ];
        let set: RecordIds = ids.iter().copied().collect();
        let state = set.to_state();
        assert_eq!(state["count"], 5);
        assert_eq!(state["others"], json!(["not-a-rec-id"]));
        let back = RecordIds::from_state(&state).unwrap();
        assert_eq!(back, set);
        assert!(ids.iter().all(|id| back.contains(id)));
        let empty = RecordIds::default();
        assert_eq!(RecordIds::from_state(&empty.to_state()).unwrap(), empty);
    }

    #[test]
    fn differences_name_the_ids() {
        let before: RecordIds = ["recA", "recB", "odd", "recC"].into_iter().collect();
        let after: RecordIds = ["recA", "recC", "recD"].into_iter().collect();
        assert_eq!(before.missing_from(&after), ["recB", "odd"]);
        assert_eq!(after.missing_from(&before), ["recD"]);
    }

    #[test]
    fn bad_state_forms_are_named() {
        for (state, needle) in [
            (json!({}), "no `keys`"),
            (json!({"keys": "!!"}), "not base64"),
            (json!({"keys": "gA"}), "ends inside"),
            (json!({"keys": "", "others": [1]}), "array of strings"),
        ] {
            let e = RecordIds::from_state(&state).unwrap_err();
            assert!(e.contains(needle), "{state}: {e}");
        }
    }

    #[test]
    fn a_hundred_thousand_spread_ids_stay_under_a_megabyte() {
        let mut set = RecordIds::default();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id: String = (0..10)
                .map(|i| DIGITS[((x >> (i * 6)) % 62) as usize] as char)
                .collect();
            set.insert(&format!("rec{id}"));
        }
        let size = set.to_state().to_string().len();
        assert!(size < 1_000_000, "{size} bytes");
    }
}
