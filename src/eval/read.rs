//! Reading gold and prediction column files the way the reference reads them.
//!
//! The reference reads every file with Python's text-mode `readline()` (lines end at `\n`,
//! `\r\n` or a lone `\r`) and `line.split()` (runs of Unicode whitespace, which for Python
//! also includes the separators U+001C..U+001F that Rust's `char::is_whitespace` lacks). A
//! line with no fields ends a sentence, so two blank lines in a row make an empty sentence.
//! One reader therefore covers `token<TAB>tag`, CoNLL-2003 columns and `token TAG`.

use super::{EvalError, Location, Role, Sentences, Token};
use crate::eval::reference::Config;
use std::path::Path;

/// Reads a gold file, taking the term and label columns named by the config.
pub fn read_gold(path: &Path, config: &Config) -> Result<Sentences, EvalError> {
    let name = path.display().to_string();
    let text = read_text(Role::Gold, path, &name)?;
    parse_gold(&text, &name, config)
}

/// Reads a two-column prediction file (`term TAG`, blank line after each sentence); every tag
/// must be in the prediction-tag grammar ([`super::tag`]).
pub fn read_pred(path: &Path) -> Result<Sentences, EvalError> {
    let name = path.display().to_string();
    let text = read_text(Role::Pred, path, &name)?;
    parse_pred(&text, &name)
}

/// Parses gold text; `name` is used in error messages.
pub fn parse_gold(text: &str, name: &str, config: &Config) -> Result<Sentences, EvalError> {
    let (term, label) = (config.term_index, config.label_index);
    let need = term.max(label) + 1;
    parse(Role::Gold, text, name, |fields| {
        if fields.len() < need {
            return Err(format!("expected at least {need} columns (term_index {term}, label_index {label}), found {}", fields.len()));
        }
        Ok((fields[term].to_string(), fields[label].to_string()))
    })
}

/// Parses prediction text; `name` is used in error messages.
pub fn parse_pred(text: &str, name: &str) -> Result<Sentences, EvalError> {
    parse(Role::Pred, text, name, |fields| match fields {
        [term, tag] => {
            super::tag::check(term, tag)?;
            Ok((term.to_string(), tag.to_string()))
        }
        _ => Err(format!("expected 2 columns (term and tag), found {}", fields.len())),
    })
}

fn read_text(role: Role, path: &Path, name: &str) -> Result<String, EvalError> {
    let bytes =
        std::fs::read(path).map_err(|error| EvalError::Io { at: Location::File { role, path: name.to_string(), line: None }, error })?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // The valid prefix is UTF-8 by definition; count the lines it completes.
        let line = std::str::from_utf8(valid).map(|s| 1 + count_line_ends(s)).unwrap_or(1);
        EvalError::at(Location::File { role, path: name.to_string(), line: Some(line) }, "invalid UTF-8")
    })
}

fn parse(role: Role, text: &str, name: &str, mut token: impl FnMut(&[&str]) -> Result<Token, String>) -> Result<Sentences, EvalError> {
    let mut sentences = Vec::new();
    let mut first_lines = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    let mut start = 0;
    let mut fields: Vec<&str> = Vec::new();
    for (i, line) in py_lines(text).enumerate() {
        let line_no = i + 1;
        fields.clear();
        fields.extend(line.split(py_isspace).filter(|f| !f.is_empty()));
        if fields.is_empty() {
            sentences.push(std::mem::take(&mut current));
            first_lines.push(if start == 0 { line_no } else { start });
            start = 0;
            continue;
        }
        let t = token(&fields).map_err(|msg| EvalError::at(Location::File { role, path: name.to_string(), line: Some(line_no) }, msg))?;
        if current.is_empty() {
            start = line_no;
        }
        current.push(t);
    }
    if !current.is_empty() {
        sentences.push(current);
        first_lines.push(start);
    }
    Ok(Sentences::from_file(role, name.to_string(), sentences, first_lines))
}

/// Python's `str.isspace()`, which `str.split()` splits on.
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Lines as Python's universal-newline `readline()` returns them, terminators removed. A final
/// terminator does not start another (empty) line.
fn py_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\n', '\r']) {
            Some(i) => {
                let line = &rest[..i];
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
                Some(line)
            }
            None => Some(std::mem::take(&mut rest)),
        }
    })
}

fn count_line_ends(s: &str) -> usize {
    let crlf = s.matches("\r\n").count();
    s.matches(['\n', '\r']).count() - crlf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_python_universal_newlines() {
        let lines: Vec<&str> = py_lines("a\r\nb\rc\n\nd").collect();
        assert_eq!(lines, ["a", "b", "c", "", "d"]);
        assert_eq!(py_lines("a\n").count(), 1);
        assert_eq!(count_line_ends("a\r\nb\rc\n"), 3);
    }

    #[test]
    fn fields_split_like_python() {
        let s = parse_pred("x\u{1f}y O\n", "p").unwrap_err().to_string();
        assert!(s.contains("found 3"), "{s}");
        let ok = parse_pred("caf\u{e9}\u{a0}B_X\n", "p").unwrap();
        assert_eq!(ok.sentences[0][0], ("caf\u{e9}".to_string(), "B_X".to_string()));
    }

    #[test]
    fn prediction_tags_are_checked_with_file_and_line() {
        let e = parse_pred("a O\n\nb B_X\nc Y_X\n", "p.txt").unwrap_err().to_string();
        assert!(e.starts_with("prediction file p.txt line 4: invalid tag \"Y_X\": expected O, B_GROUP"), "{e}");
    }

    #[test]
    fn blank_lines_make_sentences_and_double_blank_an_empty_one() {
        let s = parse_pred("a O\nb O\n\n\nc O\n\n", "p").unwrap();
        assert_eq!(s.sentences.len(), 3);
        assert!(s.sentences[1].is_empty());
        assert_eq!(s.locate(0, Some(1)).to_string(), "prediction file p line 2");
        assert_eq!(s.locate(1, None).to_string(), "prediction file p line 4");
        assert_eq!(s.locate(2, Some(0)).to_string(), "prediction file p line 5");
        // Whitespace-only lines are blank; no trailing newline is needed.
        let s = parse_pred("a O\n \t\nb O", "p").unwrap();
        assert_eq!(s.sentences.len(), 2);
    }
}
