//! The one error type of the library: a message already rendered for a person (a located
//! diagnostic with its source line and caret, or one `error: …` line), ending with a newline.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The rendered message, as the command line prints it on stderr.
    pub text: String,
    /// A stop that the caller asked for (Ctrl-C) rather than a failure.
    pub interrupted: bool,
}

impl Error {
    /// A message rendered elsewhere (a diagnostic), kept as it is.
    pub fn rendered(text: impl Into<String>) -> Error {
        Error {
            text: text.into(),
            interrupted: false,
        }
    }

    /// The stop the caller asked for, with what was done so far.
    pub fn interrupted(text: impl Into<String>) -> Error {
        Error {
            text: text.into(),
            interrupted: true,
        }
    }
}

/// A one-line message: `error: {message}`.
impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::rendered(format!("error: {message}\n"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.trim_end())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
