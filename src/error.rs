//! The one error type at the library boundary.
//!
//! Inside a stage, errors carry context as `anyhow` chains; where the engine API hands an error
//! to a front end it becomes a [`Error`] of one [`kind`](Error::kind), so the CLI keeps its
//! one-line message and exit code, the server picks a status code and a Python binding an
//! exception type, without parsing messages.

/// An error of the engine API. The message is one line: the chain of contexts, outermost
/// first, as the CLI prints it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The caller's input is wrong: a text, its spans, a request field, an engine setting.
    /// `at` names where (`member bio: precedence`, `stdin line 3`, `texts[2]`) when known.
    #[error("{}", with_at(.at, .message))]
    Input { at: Option<String>, message: String },
    /// A model, map, seed, label-map or configuration file is missing, unreadable or invalid.
    #[error("{message}")]
    Files { message: String },
    /// The input is well formed but over a limit of a model or of the engine (a phrase longer
    /// than the model's maximum, too many members).
    #[error("{message}")]
    Limit { message: String },
    /// Not the caller's fault: a model failed on valid input, or a bug (including a caught
    /// panic).
    #[error("{message}")]
    Internal { message: String },
}

/// What kind of error, for a front end to map (status code, exception type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    Input,
    Files,
    Limit,
    Internal,
}

fn with_at(at: &Option<String>, message: &str) -> String {
    match at {
        Some(at) => format!("{at}: {message}"),
        None => message.to_string(),
    }
}

/// An `anyhow` chain as one line, outermost context first.
fn line(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Input { .. } => ErrorKind::Input,
            Error::Files { .. } => ErrorKind::Files,
            Error::Limit { .. } => ErrorKind::Limit,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Error::Input { at: None, message: message.into() }
    }

    /// Bad input at a named place.
    pub fn input_at(at: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input { at: Some(at.into()), message: message.into() }
    }

    pub fn files(e: &anyhow::Error) -> Self {
        Error::Files { message: line(e) }
    }

    pub fn limit(message: impl Into<String>) -> Self {
        Error::Limit { message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal { message: message.into() }
    }

    /// The same error with `context` before its message (`context: message`), kind kept.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        match self {
            Error::Input { at: Some(at), message } => Error::Input { at: Some(format!("{context}: {at}")), message },
            Error::Input { at: None, message } => Error::Input { at: Some(context.to_string()), message },
            Error::Files { message } => Error::Files { message: format!("{context}: {message}") },
            Error::Limit { message } => Error::Limit { message: format!("{context}: {message}") },
            Error::Internal { message } => Error::Internal { message: format!("{context}: {message}") },
        }
    }

    /// An `anyhow` error of a stage: an [`Error`] inside it keeps its kind (with the chain's
    /// contexts before its message); anything else becomes `kind`.
    pub fn from_chain(e: anyhow::Error, kind: ErrorKind) -> Self {
        if let Some(inner) = e.chain().find_map(|c| c.downcast_ref::<Error>()) {
            let full = line(&e);
            return match inner {
                Error::Input { .. } => Error::Input { at: None, message: full },
                Error::Files { .. } => Error::Files { message: full },
                Error::Limit { .. } => Error::Limit { message: full },
                Error::Internal { .. } => Error::Internal { message: full },
            };
        }
        let message = line(&e);
        match kind {
            ErrorKind::Input => Error::Input { at: None, message },
            ErrorKind::Files => Error::Files { message },
            ErrorKind::Limit => Error::Limit { message },
            ErrorKind::Internal => Error::Internal { message },
        }
    }
}

/// The engine API's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_survives_contexts_and_the_message_keeps_the_whole_chain() {
        let e = anyhow::Error::new(Error::limit("a phrase of 600 word pieces")).context("member bio");
        let e = Error::from_chain(e, ErrorKind::Internal);
        assert_eq!(e.kind(), ErrorKind::Limit);
        assert_eq!(e.to_string(), "member bio: a phrase of 600 word pieces");
        let plain = Error::from_chain(anyhow::anyhow!("no such file").context("map x"), ErrorKind::Files);
        assert_eq!((plain.kind(), plain.to_string().as_str()), (ErrorKind::Files, "map x: no such file"));
    }

    #[test]
    fn input_errors_name_where() {
        let e = Error::input_at("texts[2]", "span 5..2 is reversed").context("request 7");
        assert_eq!(e.to_string(), "request 7: texts[2]: span 5..2 is reversed");
        assert_eq!(Error::input("empty").to_string(), "empty");
    }
}
