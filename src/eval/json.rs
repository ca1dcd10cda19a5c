//! JSON text as Python's `json.dumps(obj, indent=4)` writes it, so results files compare
//! byte for byte: four-space indent, `": "` after keys, non-ASCII escaped as `\uXXXX`
//! (Python's default `ensure_ascii`). Integers and floats stay distinct (`0` vs `0.0`);
//! floats print as the shortest round-trip decimal, like Python's `repr`, which agrees
//! for every value the scorers produce (0 or at least 0.01 after rounding).

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};
use std::io::{self, Write};

/// Serialises `value` like `json.dumps(value, indent=4)` (no trailing newline).
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter(PrettyFormatter::with_indent(b"    ")));
    // Writing to a Vec cannot fail, and every value here has string keys.
    value.serialize(&mut ser).expect("in-memory JSON serialisation");
    // Only ASCII is written (see `write_string_fragment`).
    String::from_utf8(out).expect("ASCII JSON")
}

/// `PrettyFormatter` with Python's `ensure_ascii` string escaping.
struct PythonFormatter(PrettyFormatter<'static>);

impl Formatter for PythonFormatter {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        // serde_json has already escaped `"`, `\` and control characters; Python additionally
        // escapes DEL and everything above ASCII, as UTF-16 code units.
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if (' '..='~').contains(&c) {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                write!(w, "\\u{u:04x}")?;
            }
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_dumps_indent_4() {
        #[derive(Serialize)]
        struct T {
            a: u64,
            b: f64,
            c: Vec<u8>,
            s: &'static str,
        }
        let got = to_python_json(&T { a: 0, b: 0.0, c: vec![1], s: "é\u{1F600}\u{7f}\n\"" });
        // json.dumps({"a": 0, "b": 0.0, "c": [1], "s": "é😀\x7f\n\""}, indent=4)
        let want =
            "{\n    \"a\": 0,\n    \"b\": 0.0,\n    \"c\": [\n        1\n    ],\n    \"s\": \"\\u00e9\\ud83d\\ude00\\u007f\\n\\\"\"\n}";
        assert_eq!(got, want);
        assert_eq!(to_python_json(&[17.2, 100.0, 0.01, 35.56]), "[\n    17.2,\n    100.0,\n    0.01,\n    35.56\n]");
    }
}
