//! A DeBERTa-v2/v3 tokenizer from a bare SentencePiece `spm.model`, built exactly as
//! transformers (5.x) builds `DebertaV2Tokenizer` when a repository has no `tokenizer.json`:
//! a Unigram model over the SentencePiece pieces and scores, the normaliser
//! `[Lowercase if do_lower_case] + Replace(\s{2,}|[\n\r\t] -> " ") + NFC + Strip(right)`,
//! `Metaspace("▁")` pre-tokenisation (prepend always, or first when `add_prefix_space` is
//! false; punctuation split first when `split_by_punct`), the Metaspace decoder and
//! `[CLS] $A [SEP]`. The SentencePiece normalisation rules stored in the file (`nmt_nfkc`) are
//! *not* applied, just as transformers does not apply them on this path.
//!
//! The protobuf is read with a few lines of wire-format decoding: only the pieces (string,
//! score, type) and the trainer's model type are needed.

use std::path::Path;

use anyhow::{anyhow, bail};
use serde_json::json;
use tokenizers::Tokenizer;

/// One piece of the SentencePiece vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    /// 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte.
    pub kind: u32,
}

/// Tokenizer options from `tokenizer_config.json`.
#[derive(Debug, Clone)]
pub struct SpmOptions {
    pub do_lower_case: bool,
    pub split_by_punct: bool,
    pub add_prefix_space: bool,
    pub cls: String,
    pub sep: String,
    pub pad: String,
    pub unk: String,
    pub mask: String,
}

impl Default for SpmOptions {
    fn default() -> Self {
        Self {
            do_lower_case: false,
            split_by_punct: false,
            add_prefix_space: true,
            cls: "[CLS]".into(),
            sep: "[SEP]".into(),
            pad: "[PAD]".into(),
            unk: "[UNK]".into(),
            mask: "[MASK]".into(),
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> anyhow::Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(|| anyhow!("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        bail!("varint too long")
    }

    fn bytes(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| anyhow!("truncated field"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// `(field number, wire type)`.
    fn key(&mut self) -> anyhow::Result<(u64, u64)> {
        let k = self.varint()?;
        Ok((k >> 3, k & 7))
    }

    fn skip(&mut self, wire: u64) -> anyhow::Result<()> {
        match wire {
            0 => {
                self.varint()?;
            }
            1 => {
                self.bytes(8)?;
            }
            2 => {
                let n = self.varint()? as usize;
                self.bytes(n)?;
            }
            5 => {
                self.bytes(4)?;
            }
            w => bail!("unsupported wire type {w}"),
        }
        Ok(())
    }

    fn len_delimited(&mut self) -> anyhow::Result<&'a [u8]> {
        let n = self.varint()? as usize;
        self.bytes(n)
    }
}

/// The pieces and model type (1 unigram, 2 BPE, 3 word, 4 char) of a SentencePiece model.
pub fn read_model(bytes: &[u8]) -> anyhow::Result<(Vec<Piece>, u64)> {
    let mut r = Reader::new(bytes);
    let mut pieces = Vec::new();
    let mut model_type = 1; // protobuf default: UNIGRAM
    while !r.done() {
        let (field, wire) = r.key()?;
        match (field, wire) {
            (1, 2) => {
                let mut p = Reader::new(r.len_delimited()?);
                let mut piece = Piece { piece: String::new(), score: 0.0, kind: 1 };
                while !p.done() {
                    let (f, w) = p.key()?;
                    match (f, w) {
                        (1, 2) => {
                            piece.piece =
                                String::from_utf8(p.len_delimited()?.to_vec()).map_err(|_| anyhow!("a piece is not valid UTF-8"))?
                        }
                        (2, 5) => {
                            let b = p.bytes(4)?;
                            piece.score = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        }
                        (3, 0) => piece.kind = p.varint()? as u32,
                        (_, w) => p.skip(w)?,
                    }
                }
                pieces.push(piece);
            }
            (2, 2) => {
                let mut t = Reader::new(r.len_delimited()?);
                while !t.done() {
                    let (f, w) = t.key()?;
                    match (f, w) {
                        (3, 0) => model_type = t.varint()?,
                        (_, w) => t.skip(w)?,
                    }
                }
            }
            (_, w) => r.skip(w)?,
        }
    }
    if pieces.is_empty() {
        bail!("no vocabulary pieces");
    }
    Ok((pieces, model_type))
}

/// Builds the tokenizer transformers would build from `spm.model` (see the module docs).
pub fn tokenizer_from_spm(path: &Path, opts: &SpmOptions) -> anyhow::Result<Tokenizer> {
    let bytes = std::fs::read(path).map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
    let (pieces, model_type) = read_model(&bytes).map_err(|e| anyhow!("{}: not a SentencePiece model ({e})", path.display()))?;
    if model_type != 1 {
        bail!(
            "{}: SentencePiece model type {model_type} is not unigram; only DeBERTa-v2/v3 unigram models can be converted (provide tokenizer.json)",
            path.display()
        );
    }
    let vocab: Vec<serde_json::Value> = pieces.iter().map(|p| json!([p.piece, p.score as f64])).collect();
    // transformers: the index of (unk_token, 0.0) in the vocabulary, else 1
    let unk_id = pieces.iter().position(|p| p.piece == opts.unk && p.score == 0.0).unwrap_or(1);
    let mut added = Vec::new();
    let mut next = pieces.len();
    let mut id_of = |tok: &str| -> usize {
        match pieces.iter().position(|p| p.piece == tok) {
            Some(i) => i,
            None => {
                next += 1;
                next - 1
            }
        }
    };
    let mut specials: Vec<(String, usize)> = Vec::new();
    for tok in [&opts.pad, &opts.cls, &opts.sep, &opts.unk, &opts.mask] {
        if !specials.iter().any(|(t, _)| t == tok) {
            let id = id_of(tok);
            specials.push((tok.clone(), id));
        }
    }
    for (tok, id) in &specials {
        added.push(json!({"id": id, "content": tok, "single_word": false, "lstrip": false, "rstrip": false,
                          "normalized": false, "special": true}));
    }
    let mut normalizers = Vec::new();
    if opts.do_lower_case {
        normalizers.push(json!({"type": "Lowercase"}));
    }
    normalizers.push(json!({"type": "Replace", "pattern": {"Regex": "\\s{2,}|[\\n\\r\\t]"}, "content": " "}));
    normalizers.push(json!({"type": "NFC"}));
    normalizers.push(json!({"type": "Strip", "strip_left": false, "strip_right": true}));
    let scheme = if opts.add_prefix_space { "always" } else { "first" };
    let mut pretok = Vec::new();
    if opts.split_by_punct {
        pretok.push(json!({"type": "Punctuation", "behavior": "Isolated"}));
    }
    pretok.push(json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": true}));
    let cls_id = specials.iter().find(|(t, _)| *t == opts.cls).map_or(0, |s| s.1);
    let sep_id = specials.iter().find(|(t, _)| *t == opts.sep).map_or(0, |s| s.1);
    let (cls, sep) = (&opts.cls, &opts.sep);
    let tok_json = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": pretok},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": cls, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": sep, "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": cls, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": sep, "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": sep, "type_id": 1}}],
            "special_tokens": {
                cls.as_str(): {"id": cls, "ids": [cls_id], "tokens": [cls]},
                sep.as_str(): {"id": sep, "ids": [sep_id], "tokens": [sep]},
            },
        },
        "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": true},
        "model": {"type": "Unigram", "unk_id": unk_id, "vocab": vocab, "byte_fallback": false},
    });
    let text = tok_json.to_string();
    text.parse::<Tokenizer>().map_err(|e| anyhow!("{}: cannot build a tokenizer from the SentencePiece model ({e})", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_hand_made_model() {
        // pieces: ("[UNK]", 0.0, UNKNOWN), ("▁a", -1.5, NORMAL); trainer_spec { model_type: 1 }
        let mut b = Vec::new();
        for (s, score, kind) in [("[UNK]", 0.0f32, 2u8), ("▁a", -1.5, 1)] {
            let mut p = vec![0x0a, s.len() as u8];
            p.extend_from_slice(s.as_bytes());
            p.push(0x15);
            p.extend_from_slice(&score.to_le_bytes());
            p.extend_from_slice(&[0x18, kind]);
            b.push(0x0a);
            b.push(p.len() as u8);
            b.extend(p);
        }
        b.extend_from_slice(&[0x12, 0x02, 0x18, 0x01]);
        let (pieces, ty) = read_model(&b).unwrap();
        assert_eq!(ty, 1);
        assert_eq!(pieces[1], Piece { piece: "▁a".into(), score: -1.5, kind: 1 });
        assert!(read_model(&b[..b.len() - 3]).is_err());
    }
}
