//! The one convention for errors a user sees, as uv has it: a message
//! (`Display`), an optional hint saying what to do, and the kind of exit
//! it makes. Every user-visible error enum implements `UserError` with an
//! exhaustive match, so a new variant chooses its kind; the CLI turns any
//! of them into its failure in one place, and the dashboard renders them
//! as "message (hint)" in one place.

use std::fmt;

/// How a failure ends the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Bad input or usage: exit code 2.
    Usage,
    /// A failure at run time: exit code 1.
    Runtime,
    /// Stopped by a signal: exit code 130.
    Interrupted,
}

impl ExitKind {
    /// The process's exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitKind::Usage => 2,
            ExitKind::Runtime => 1,
            ExitKind::Interrupted => 130,
        }
    }
}

/// An error as the user sees it: its message is its `Display`.
pub trait UserError: fmt::Display {
    /// A second line saying what to do, when the message does not.
    fn hint(&self) -> Option<String>;

    /// How it ends the process.
    fn kind(&self) -> ExitKind;
}

/// "message (hint)", or the message alone: how an error reads on one
/// line (the dashboard's status line).
pub fn one_line(e: &dyn UserError) -> String {
    match e.hint() {
        Some(hint) => format!("{e} ({hint})"),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Gone(Option<&'static str>);

    impl fmt::Display for Gone {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("it is gone")
        }
    }

    impl UserError for Gone {
        fn hint(&self) -> Option<String> {
            self.0.map(str::to_owned)
        }

        fn kind(&self) -> ExitKind {
            ExitKind::Runtime
        }
    }

    #[test]
    fn one_line_puts_the_hint_in_brackets() {
        assert_eq!(
            one_line(&Gone(Some("look again"))),
            "it is gone (look again)"
        );
        assert_eq!(one_line(&Gone(None)), "it is gone");
    }

    #[test]
    fn each_kind_has_its_exit_code() {
        let codes = [ExitKind::Usage, ExitKind::Runtime, ExitKind::Interrupted].map(ExitKind::code);
        assert_eq!(codes, [2, 1, 130]);
    }
}
