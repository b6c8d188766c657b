//! The one convention for errors a user sees, as uv has it: a message
//! (`Display`), an optional hint saying what to do, and the kind of exit
//! it makes. Every user-visible error enum implements `UserError` with one
//! exhaustive match in `explain`, so a new variant chooses its kind and
//! hint together: its own (`Explain::usage`, `Explain::runtime`,
//! `Explain::interrupted`), or those of the error it wraps
//! (`Explain::By`). `hint` and `kind` follow from it. The CLI turns any of
//! them into its failure in one place, and the dashboard renders them as
//! "message (hint)" in one place.

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

/// What a variant of a user-visible error says besides its message: its
/// own kind and hint, or those of the error it wraps.
pub enum Explain<'a> {
    /// The variant's own kind of exit and hint.
    Own {
        /// How it ends the process.
        kind: ExitKind,
        /// A second line saying what to do, when the message does not.
        hint: Option<String>,
    },
    /// Whatever the wrapped error says: its kind and its hint.
    By(&'a dyn UserError),
}

impl Explain<'_> {
    /// Bad input or usage (exit 2), with a hint or none.
    pub fn usage(hint: impl IntoHint) -> Self {
        Self::own(ExitKind::Usage, hint)
    }

    /// A failure at run time (exit 1), with a hint or none.
    pub fn runtime(hint: impl IntoHint) -> Self {
        Self::own(ExitKind::Runtime, hint)
    }

    /// Stopped by a signal (exit 130): nothing to hint.
    pub fn interrupted() -> Self {
        Self::own(ExitKind::Interrupted, None)
    }

    fn own(kind: ExitKind, hint: impl IntoHint) -> Self {
        Explain::Own {
            kind,
            hint: hint.into_hint(),
        }
    }
}

/// What `Explain`'s constructors take as a hint: text (`&str`, `String`),
/// or an `Option<String>` (`None` for no hint, or a wrapped error's hint
/// under a kind of its own).
pub trait IntoHint {
    /// The hint, if there is one.
    fn into_hint(self) -> Option<String>;
}

impl IntoHint for &str {
    fn into_hint(self) -> Option<String> {
        Some(self.to_owned())
    }
}

impl IntoHint for String {
    fn into_hint(self) -> Option<String> {
        Some(self)
    }
}

impl IntoHint for Option<String> {
    fn into_hint(self) -> Option<String> {
        self
    }
}

/// An error as the user sees it: its message is its `Display`.
pub trait UserError: fmt::Display {
    /// Its kind and hint, in one exhaustive match over the variants.
    fn explain(&self) -> Explain<'_>;

    /// A second line saying what to do, when the message does not.
    fn hint(&self) -> Option<String> {
        match self.explain() {
            Explain::Own { hint, .. } => hint,
            Explain::By(e) => e.hint(),
        }
    }

    /// How it ends the process.
    fn kind(&self) -> ExitKind {
        match self.explain() {
            Explain::Own { kind, .. } => kind,
            Explain::By(e) => e.kind(),
        }
    }
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
        fn explain(&self) -> Explain<'_> {
            Explain::runtime(self.0.map(str::to_owned))
        }
    }

    /// Wraps a `Gone`: in its own way, or by it.
    enum Wrap {
        Usage(&'static str),
        UsageBare,
        Runtime(&'static str),
        Interrupted,
        By(Gone),
        HintOf(Gone),
    }

    impl fmt::Display for Wrap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }

    impl UserError for Wrap {
        fn explain(&self) -> Explain<'_> {
            match self {
                Wrap::Usage(hint) => Explain::usage(*hint),
                Wrap::UsageBare => Explain::usage(None),
                Wrap::Runtime(hint) => Explain::runtime(hint.to_string()),
                Wrap::Interrupted => Explain::interrupted(),
                Wrap::By(e) => Explain::By(e),
                Wrap::HintOf(e) => Explain::usage(e.hint()),
            }
        }
    }

    #[test]
    fn hint_and_kind_come_from_explain_own_or_by() {
        let table = [
            (Wrap::Usage("fix it"), Some("fix it"), ExitKind::Usage),
            (Wrap::UsageBare, None, ExitKind::Usage),
            (Wrap::Runtime("retry"), Some("retry"), ExitKind::Runtime),
            (Wrap::Interrupted, None, ExitKind::Interrupted),
            (
                Wrap::By(Gone(Some("look"))),
                Some("look"),
                ExitKind::Runtime,
            ),
            (Wrap::By(Gone(None)), None, ExitKind::Runtime),
            (
                Wrap::HintOf(Gone(Some("look"))),
                Some("look"),
                ExitKind::Usage,
            ),
        ];
        for (e, hint, kind) in table {
            assert_eq!(e.hint().as_deref(), hint);
            assert_eq!(e.kind(), kind);
        }
    }

    #[test]
    fn by_delegates_through_a_dyn_error_and_one_line_reads_its_hint() {
        let inner: &dyn UserError = &Wrap::By(Gone(Some("look")));
        assert_eq!(one_line(inner), "wrapped (look)");
        assert_eq!(one_line(&Wrap::UsageBare), "wrapped");
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
