//! API keys: `Authorization: Bearer <key>` on every API route (`/health` and the demo page stay
//! open, so a load balancer can probe and a browser can load the page that asks for the key).
//!
//! Keys are kept only as SHA-256 digests and a presented token is compared, digest against
//! digest, with every key in constant time (`subtle`): neither the position of the first wrong
//! byte nor the key's length, nor which key matched, shows in the answer's timing.

use sha2::{Digest, Sha256};
use std::path::Path;
use subtle::ConstantTimeEq;

/// Shortest key accepted: a guessable key is no protection, and `openssl rand -hex 32` is easy.
pub const MIN_KEY_CHARS: usize = 16;

/// The keys a server accepts (at least one).
#[derive(Clone)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} key(s))", self.digests.len())
    }
}

impl ApiKeys {
    /// Checks and keeps `keys`. A key is what a client sends after `Bearer `: visible ASCII, no
    /// spaces, at least [`MIN_KEY_CHARS`] long. Errors name the key by its position, never
    /// its text.
    pub fn new<I, S>(keys: I) -> anyhow::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut digests = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            let key = key.as_ref();
            if !key.bytes().all(|b| b.is_ascii_graphic()) {
                anyhow::bail!("API key {}: only visible ASCII characters without spaces can be sent in an Authorization header", i + 1);
            }
            if key.len() < MIN_KEY_CHARS {
                anyhow::bail!(
                    "API key {}: {} characters, fewer than {MIN_KEY_CHARS}; use a random key such as `openssl rand -hex 32`",
                    i + 1,
                    key.len()
                );
            }
            digests.push(digest(key.as_bytes()));
        }
        if digests.is_empty() {
            anyhow::bail!("no API key given");
        }
        Ok(Self { digests })
    }

    /// Reads keys from a file: one per line; blank lines and lines starting with `#` are skipped,
    /// surrounding whitespace is trimmed.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: cannot read API keys: {e}", path.display()))?;
        let keys = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
        Self::new(keys).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Whether `token` is one of the keys. Every key is compared, whatever matched before.
    pub fn accepts(&self, token: &str) -> bool {
        let presented = digest(token.as_bytes());
        let mut found = subtle::Choice::from(0);
        for d in &self.digests {
            found |= d.ct_eq(&presented);
        }
        found.into()
    }

    /// How many keys are accepted.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Always false: a key set is never empty.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Why a request was not let through.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Missing,
    NotBearer,
    Invalid,
}

impl Refusal {
    pub(crate) fn message(&self) -> &'static str {
        match self {
            Refusal::Missing => "missing API key: this server requires the header `Authorization: Bearer <key>`",
            Refusal::NotBearer => "the Authorization header must be `Bearer <key>`",
            Refusal::Invalid => "invalid API key",
        }
    }
}

/// Checks a request's `Authorization` header value against `keys`.
pub(crate) fn check(keys: &ApiKeys, authorization: Option<&[u8]>) -> Result<(), Refusal> {
    let value = authorization.ok_or(Refusal::Missing)?;
    let value = std::str::from_utf8(value).map_err(|_| Refusal::NotBearer)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(Refusal::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::NotBearer);
    }
    if keys.accepts(token.trim()) { Ok(()) } else { Err(Refusal::Invalid) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef-key-one";

    #[test]
    fn keys_are_checked_when_made() {
        assert!(ApiKeys::new(["short"]).unwrap_err().to_string().contains("fewer than 16"));
        assert!(ApiKeys::new(["has a space in it, long"]).unwrap_err().to_string().contains("visible ASCII"));
        assert!(ApiKeys::new(Vec::<String>::new()).unwrap_err().to_string().contains("no API key"));
        let keys = ApiKeys::new([KEY, "another-key-0123456789"]).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(!format!("{keys:?}").contains("key-one"), "Debug must not show keys");
    }

    #[test]
    fn bearer_tokens_are_matched_against_every_key() {
        let keys = ApiKeys::new([KEY, "another-key-0123456789"]).unwrap();
        assert_eq!(check(&keys, Some(format!("Bearer {KEY}").as_bytes())), Ok(()));
        assert_eq!(check(&keys, Some(&b"bearer another-key-0123456789"[..])), Ok(()));
        assert_eq!(check(&keys, Some(format!("Bearer {KEY}x").as_bytes())), Err(Refusal::Invalid));
        assert_eq!(check(&keys, Some(&format!("Bearer {KEY}").as_bytes()[..20])), Err(Refusal::Invalid));
        assert_eq!(check(&keys, Some(format!("Basic {KEY}").as_bytes())), Err(Refusal::NotBearer));
        assert_eq!(check(&keys, Some(KEY.as_bytes())), Err(Refusal::NotBearer));
        assert_eq!(check(&keys, Some(&b"Bearer \xff\xfe"[..])), Err(Refusal::NotBearer));
        assert_eq!(check(&keys, None), Err(Refusal::Missing));
    }

    #[test]
    fn key_files_skip_comments_and_blank_lines() {
        let dir = std::env::temp_dir().join(format!("maskner-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("keys");
        std::fs::write(&file, format!("# team A\n\n  {KEY}  \n")).unwrap();
        let keys = ApiKeys::from_file(&file).unwrap();
        assert!(keys.accepts(KEY));
        std::fs::write(&file, "# nothing\n").unwrap();
        assert!(ApiKeys::from_file(&file).unwrap_err().to_string().contains("no API key"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
