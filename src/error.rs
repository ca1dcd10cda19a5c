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
    /// `not_found`: it is missing (see [`Error::is_not_found`]).
    #[error("{message}")]
    Files { message: String, not_found: bool },
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

    /// A files error; missing (`not_found`) if the chain says so (see [`Error::is_not_found`]).
    pub fn files(e: &anyhow::Error) -> Self {
        Error::Files { message: line(e), not_found: chain_not_found(e) }
    }

    /// A files error about something missing, with a message saying what to do.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::Files { message: message.into(), not_found: true }
    }

    /// Whether a [`Files`](Error::Files) error is about something missing (a file or directory,
    /// a model that is neither a directory nor obtainable from the hub) rather than unreadable
    /// or invalid, so a front end can raise its own not-found error without reading messages.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Files { not_found: true, .. })
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
            Error::Files { message, not_found } => Error::Files { message: format!("{context}: {message}"), not_found },
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
                Error::Files { not_found, .. } => Error::Files { message: full, not_found: *not_found },
                Error::Limit { .. } => Error::Limit { message: full },
                Error::Internal { .. } => Error::Internal { message: full },
            };
        }
        let message = line(&e);
        match kind {
            ErrorKind::Input => Error::Input { at: None, message },
            ErrorKind::Files => Error::Files { message, not_found: chain_not_found(&e) },
            ErrorKind::Limit => Error::Limit { message },
            ErrorKind::Internal => Error::Internal { message },
        }
    }
}

/// The variant of a `clap::ValueEnum` named `name` (exactly as on the command line), so a
/// binding accepts the same names as the CLI flag; an input error lists them, from the enum
/// itself, so the list is never written twice.
pub(crate) fn from_value_name<T: clap::ValueEnum>(what: &str, name: &str) -> Result<T> {
    T::from_str(name, false).map_err(|_| {
        let names: Vec<String> =
            T::value_variants().iter().filter_map(|v| v.to_possible_value()).map(|p| p.get_name().to_string()).collect();
        Error::input(format!("unknown {what} {name:?} (expected one of: {})", names.join(", ")))
    })
}

/// Whether an error chain is about something missing: an I/O error of kind `NotFound`, a model
/// the hub module could not find ([`crate::hub::NotFound`]), or a missing-files [`Error`].
fn chain_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
            || c.is::<crate::hub::NotFound>()
            || c.downcast_ref::<Error>().is_some_and(Error::is_not_found)
    })
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
    fn missing_files_are_told_from_other_files_errors() {
        let io = |k: std::io::ErrorKind| anyhow::Error::new(std::io::Error::from(k)).context("map x: cannot read");
        let missing = Error::files(&io(std::io::ErrorKind::NotFound));
        assert!(missing.is_not_found() && missing.kind() == ErrorKind::Files);
        assert!(!Error::files(&io(std::io::ErrorKind::PermissionDenied)).is_not_found());
        assert!(Error::from_chain(io(std::io::ErrorKind::NotFound), ErrorKind::Files).is_not_found());
        // kept through contexts, and through an Error inside a chain
        let inner = anyhow::Error::new(Error::not_found("no map")).context("member bio");
        assert!(Error::from_chain(inner, ErrorKind::Internal).context("config").is_not_found());
        let model = anyhow::Error::new(crate::hub::NotFound("no such model".into())).context("member bio");
        assert!(Error::files(&model).is_not_found());
        assert!(!Error::input("missing").is_not_found());
    }

    #[test]
    fn value_enums_are_named_as_on_the_command_line() {
        use crate::entity_map::{Rule, Space, neighbours::SearchMode};
        use crate::token_classify::Aggregation;
        assert_eq!(Rule::from_name("v2"), Ok(Rule::V2));
        assert_eq!(Space::from_name("mixed"), Ok(Space::Mixed));
        assert_eq!(SearchMode::from_name("hnsw"), Ok(SearchMode::Hnsw));
        assert_eq!(Aggregation::from_name("max"), Ok(Aggregation::Max));
        let e = Aggregation::from_name("mean").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Input);
        assert_eq!(e.to_string(), "unknown aggregation \"mean\" (expected one of: simple, first, average, max)");
        assert!(Rule::from_name("V2").is_err(), "names are exact, as on the command line");
    }

    #[test]
    fn input_errors_name_where() {
        let e = Error::input_at("texts[2]", "span 5..2 is reversed").context("request 7");
        assert_eq!(e.to_string(), "request 7: texts[2]: span 5..2 is reversed");
        assert_eq!(Error::input("empty").to_string(), "empty");
    }
}
