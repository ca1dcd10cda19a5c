//! WordPiece tokenisation from `tokenizer.json` or a bare `vocab.txt`.

use anyhow::{Context, anyhow, bail};
use std::path::Path;
use tokenizers::{AddedToken, Tokenizer};

/// A BERT WordPiece tokenizer with its vocabulary and special-token ids.
///
/// Built on the `tokenizers` crate either from `tokenizer.json` (padding and truncation
/// switched off: over-long input is the caller's decision, never silently cut) or, for
/// checkpoints that ship only `vocab.txt`, from the same pieces transformers' `BertTokenizer`
/// uses (BERT normaliser, BERT pre-tokeniser, WordPiece, `[CLS] … [SEP]`).
pub struct WordPieceTokenizer {
    inner: Tokenizer,
    vocab: Vec<String>,
    lowercase: bool,
    pub cls: u32,
    pub sep: u32,
    pub mask: u32,
    pub pad: u32,
    pub unk: u32,
}

/// Token ids of one text with the byte span each token covers in that text.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub ids: Vec<u32>,
    /// Byte offsets into the encoded text; special tokens have `(0, 0)`.
    pub offsets: Vec<(usize, usize)>,
}

impl WordPieceTokenizer {
    /// Loads from a model directory. Lower-casing comes from `tokenizer_config.json`
    /// (`do_lower_case`), else `config.json`, else the vocabulary itself: a vocabulary with
    /// upper-case entries is cased.
    pub fn from_dir(dir: &Path, config_lowercase: Option<bool>) -> anyhow::Result<Self> {
        let tok_json = dir.join("tokenizer.json");
        let vocab_txt = dir.join("vocab.txt");
        let tok_config = read_tokenizer_config(&dir.join("tokenizer_config.json"))?;
        let mut inner = if tok_json.is_file() {
            let mut t = Tokenizer::from_file(&tok_json).map_err(|e| anyhow!("{}: not a valid tokenizer file ({e})", tok_json.display()))?;
            t.with_padding(None);
            t.with_truncation(None).map_err(|e| anyhow!("{}: {e}", tok_json.display()))?;
            t
        } else if vocab_txt.is_file() {
            let lowercase = tok_config.lowercase.or(config_lowercase).unwrap_or_else(|| !vocab_file_is_cased(&vocab_txt).unwrap_or(true));
            from_vocab_txt(&vocab_txt, lowercase, tok_config.strip_accents)?
        } else {
            bail!("{}: no tokenizer (expected tokenizer.json or vocab.txt)", dir.display());
        };
        let mut pairs: Vec<(String, u32)> = inner.get_vocab(true).into_iter().collect();
        pairs.sort_by_key(|(_, id)| *id);
        let size = pairs.last().map(|(_, id)| *id as usize + 1).unwrap_or(0);
        let mut vocab = vec![String::new(); size];
        for (tok, id) in pairs {
            vocab[id as usize] = tok;
        }
        let lowercase = tok_config
            .lowercase
            .or(config_lowercase)
            .unwrap_or_else(|| !vocab.iter().any(|t| !is_bracketed(t) && t.chars().any(char::is_uppercase)));
        let id = |t: &str| -> anyhow::Result<u32> {
            inner.token_to_id(t).ok_or_else(|| anyhow!("{}: the vocabulary has no {t} token", dir.display()))
        };
        let (cls, sep, mask, pad, unk) = (id("[CLS]")?, id("[SEP]")?, id("[MASK]")?, id("[PAD]")?, id("[UNK]")?);
        // "[MASK]" etc. typed in text must stay single tokens, also for vocab.txt-only models.
        let specials: Vec<AddedToken> = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]"].iter().map(|t| AddedToken::from(*t, true)).collect();
        inner.add_special_tokens(specials).map_err(|e| anyhow!("{}: cannot register special tokens ({e})", dir.display()))?;
        Ok(Self { inner, vocab, lowercase, cls, sep, mask, pad, unk })
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The underlying `tokenizers` tokenizer (offsets, decoder, model details).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// The token string of `id` (empty for ids the tokenizer does not know).
    pub fn token(&self, id: u32) -> &str {
        self.vocab.get(id as usize).map(String::as_str).unwrap_or("")
    }

    pub fn vocab(&self) -> &[String] {
        &self.vocab
    }

    pub fn id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// True if the model's vocabulary is lower-cased (uncased model).
    pub fn lowercase(&self) -> bool {
        self.lowercase
    }

    /// Encodes `text`; with `special`, wraps it in `[CLS] … [SEP]`.
    pub fn encode(&self, text: &str, special: bool) -> anyhow::Result<Encoded> {
        let enc = self.inner.encode(text, special).map_err(|e| anyhow!("cannot tokenize {text:?}: {e}"))?;
        Ok(Encoded { ids: enc.get_ids().to_vec(), offsets: enc.get_offsets().to_vec() })
    }

    /// Word-piece ids of a text fragment, without special tokens.
    pub fn pieces(&self, text: &str) -> anyhow::Result<Vec<u32>> {
        Ok(self.encode(text, false)?.ids)
    }
}

fn is_bracketed(t: &str) -> bool {
    t.starts_with('[') && t.ends_with(']')
}

fn vocab_file_is_cased(path: &Path) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(text.lines().any(|t| !is_bracketed(t) && t.chars().any(char::is_uppercase)))
}

#[derive(Default)]
struct TokenizerConfig {
    lowercase: Option<bool>,
    strip_accents: Option<bool>,
}

fn read_tokenizer_config(path: &Path) -> anyhow::Result<TokenizerConfig> {
    if !path.is_file() {
        return Ok(TokenizerConfig::default());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| anyhow!("{}: invalid JSON ({e})", path.display()))?;
    Ok(TokenizerConfig {
        lowercase: v.get("do_lower_case").and_then(|x| x.as_bool()),
        strip_accents: v.get("strip_accents").and_then(|x| x.as_bool()),
    })
}

fn from_vocab_txt(path: &Path, lowercase: bool, strip_accents: Option<bool>) -> anyhow::Result<Tokenizer> {
    use tokenizers::Model;
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::bert::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;

    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| anyhow!("{}: not valid UTF-8 (at byte {})", path.display(), e.valid_up_to()))?;
    let has = |t: &str| text.lines().any(|l| l.trim_end_matches('\r') == t);
    for t in ["[CLS]", "[SEP]", "[UNK]", "[MASK]", "[PAD]"] {
        if !has(t) {
            bail!("{}: the vocabulary has no {t} token", path.display());
        }
    }
    let path_str = path.to_str().ok_or_else(|| anyhow!("{}: path is not UTF-8", path.display()))?;
    let model = WordPiece::from_file(path_str)
        .unk_token("[UNK]".to_string())
        .build()
        .map_err(|e| anyhow!("{}: cannot read vocabulary ({e})", path.display()))?;
    let id = |t: &str| model.token_to_id(t).unwrap_or(0);
    let (cls, sep) = (id("[CLS]"), id("[SEP]"));
    let mut tok = Tokenizer::new(model);
    tok.with_normalizer(Some(BertNormalizer::new(true, true, strip_accents, lowercase))).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    tok.with_post_processor(Some(BertProcessing::new(("[SEP]".into(), sep), ("[CLS]".into(), cls))));
    tok.with_decoder(Some(tokenizers::decoders::wordpiece::WordPiece::default()));
    Ok(tok)
}
