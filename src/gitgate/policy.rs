//! The ref-update decision, pure: what `pre-receive` accepts or refuses
//! for one pushed ref, before anything looks at the commits.

use super::{Allow, MAX_REF_NAME};

/// The kind of object a ref is set to (`git cat-file -t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Object {
    Commit,
    /// An annotated tag.
    Tag,
    /// A tree or a blob.
    Other,
}

impl Object {
    pub(crate) fn from_type(kind: &str) -> Object {
        match kind.trim() {
            "commit" => Object::Commit,
            "tag" => Object::Tag,
            _ => Object::Other,
        }
    }
}

/// One line of a push: `<old> <new> <ref>`, with what git knows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefUpdate {
    pub(crate) name: String,
    pub(crate) old: String,
    pub(crate) new: String,
    /// `old` is an ancestor of `new` (meaningless for a creation or a
    /// deletion).
    pub(crate) fast_forward: bool,
    /// What `new` is; `None` for a deletion.
    pub(crate) object: Option<Object>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    /// Why, in words the agent can act on.
    Refuse(String),
}

pub(crate) fn is_zero(oid: &str) -> bool {
    !oid.is_empty() && oid.bytes().all(|b| b == b'0')
}

/// The branch of a `refs/heads/…` ref.
pub(crate) fn branch_of(name: &str) -> Option<&str> {
    name.strip_prefix("refs/heads/").filter(|b| !b.is_empty())
}

/// The tag of a `refs/tags/…` ref.
pub(crate) fn tag_of(name: &str) -> Option<&str> {
    name.strip_prefix("refs/tags/").filter(|t| !t.is_empty())
}

/// Decides one ref. `pending` is the id of a proposal still holding this
/// ref for the operator.
pub(crate) fn verdict(update: &RefUpdate, allow: Allow, pending: Option<&str>) -> Verdict {
    let refuse = |s: String| Verdict::Refuse(s);
    let name = &update.name;
    let (creating, deleting) = (is_zero(&update.old), is_zero(&update.new));
    if creating && deleting {
        return refuse(format!("{name}: nothing to do (both old and new are zero)"));
    }
    let (kind, short) = match (branch_of(name), tag_of(name)) {
        (Some(b), _) => ("branch", b),
        (_, Some(t)) => ("tag", t),
        _ => {
            return refuse(format!(
                "{name}: only branches (refs/heads/…) and tags can be pushed here; push a branch instead"
            ));
        }
    };
    if let Some(id) = pending {
        return refuse(format!(
            "{kind} {short} is held for the operator as proposal {id}; wait for their decision before pushing it again"
        ));
    }
    if !deleting && name.len() > MAX_REF_NAME {
        let shown: String = short.chars().take(60).collect();
        return refuse(format!(
            "{kind} {shown}…: its name is longer than {MAX_REF_NAME} bytes; use a shorter one"
        ));
    }
    if kind == "tag" && !allow.tags {
        return refuse(format!(
            "tag {short}: tags are not allowed in this bottle; push a branch instead (tags can stay local)"
        ));
    }
    if deleting {
        if allow.delete {
            return Verdict::Accept;
        }
        return refuse(format!(
            "{kind} {short}: deleting is not allowed in this bottle; leave it, or push your work to another branch"
        ));
    }
    match (kind, update.object) {
        ("branch", Some(Object::Commit)) | ("tag", Some(Object::Commit | Object::Tag)) => {}
        _ => {
            return refuse(format!(
                "{kind} {short}: it must point to a commit{}",
                if kind == "tag" {
                    " or an annotated tag"
                } else {
                    ""
                }
            ));
        }
    }
    if creating {
        return Verdict::Accept;
    }
    if kind == "tag" && !allow.force_push {
        return refuse(format!(
            "tag {short} exists already: moving a tag is a rewrite, not allowed in this bottle; push a new tag instead"
        ));
    }
    if kind == "branch" && !update.fast_forward && !allow.force_push {
        return refuse(format!(
            "branch {short}: non-fast-forward update (force-push or rewritten history) is not allowed in this bottle; `git pull --rebase origin {short}` (or merge), then push again, or push to a new branch"
        ));
    }
    Verdict::Accept
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z: &str = "0000000000000000000000000000000000000000";
    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    fn allow(flags: &str) -> Allow {
        Allow {
            force_push: flags.contains('f'),
            delete: flags.contains('d'),
            tags: flags.contains('t'),
        }
    }

    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        bool,
        Option<Object>,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
    );

    #[test]
    fn ref_update_table() {
        use Object::*;
        let longest = format!("refs/heads/{}", "x".repeat(MAX_REF_NAME - 11));
        let too_long = format!("{longest}y");
        // (ref, old, new, fast_forward, object, allow flags, pending,
        //  refused-with (None: accepted))
        #[rustfmt::skip]
        let table: &[Row] = &[
            // Names: at most MAX_REF_NAME bytes.
            (&longest, Z, A, false, Some(Commit), "", None, None),
            (&too_long, Z, A, false, Some(Commit), "fdt", None, Some("longer than 255 bytes")),
            (&too_long, A, B, true, Some(Commit), "fdt", None, Some("longer than 255 bytes")),
            // Branches: creation, fast-forward, non-fast-forward.
            ("refs/heads/main", Z, A, false, Some(Commit), "", None, None),
            ("refs/heads/feature/x", Z, A, false, Some(Commit), "", None, None),
            ("refs/heads/main", A, B, true, Some(Commit), "", None, None),
            ("refs/heads/main", A, B, false, Some(Commit), "", None, Some("non-fast-forward")),
            ("refs/heads/main", A, B, false, Some(Commit), "dt", None, Some("non-fast-forward")),
            ("refs/heads/main", A, B, false, Some(Commit), "f", None, None),
            // A branch must point to a commit.
            ("refs/heads/main", Z, A, false, Some(Other), "fdt", None, Some("must point to a commit")),
            ("refs/heads/main", Z, A, false, Some(Tag), "fdt", None, Some("must point to a commit")),
            // Deletion.
            ("refs/heads/main", A, Z, false, None, "", None, Some("deleting is not allowed")),
            ("refs/heads/main", A, Z, false, None, "ft", None, Some("deleting is not allowed")),
            ("refs/heads/main", A, Z, false, None, "d", None, None),
            // Tags, lightweight and annotated.
            ("refs/tags/v1", Z, A, false, Some(Commit), "", None, Some("tags are not allowed")),
            ("refs/tags/v1", Z, A, false, Some(Tag), "fd", None, Some("tags are not allowed")),
            ("refs/tags/v1", Z, A, false, Some(Commit), "t", None, None),
            ("refs/tags/v1", Z, A, false, Some(Tag), "t", None, None),
            ("refs/tags/v1", Z, A, false, Some(Other), "t", None, Some("must point to a commit or an annotated tag")),
            ("refs/tags/v1", A, B, true, Some(Tag), "t", None, Some("moving a tag")),
            ("refs/tags/v1", A, B, false, Some(Tag), "ft", None, None),
            ("refs/tags/v1", A, Z, false, None, "t", None, Some("deleting is not allowed")),
            ("refs/tags/v1", A, Z, false, None, "d", None, Some("tags are not allowed")),
            ("refs/tags/v1", A, Z, false, None, "td", None, None),
            // Other namespaces, whatever is allowed.
            ("refs/notes/commits", Z, A, false, Some(Commit), "fdt", None, Some("only branches")),
            ("refs/bot-bottle/held/x", Z, A, false, Some(Commit), "fdt", None, Some("only branches")),
            ("refs/remotes/origin/main", Z, A, false, Some(Commit), "fdt", None, Some("only branches")),
            ("HEAD", Z, A, false, Some(Commit), "fdt", None, Some("only branches")),
            ("refs/heads/", Z, A, false, Some(Commit), "fdt", None, Some("only branches")),
            ("refs/for/main", Z, A, false, Some(Commit), "fdt", None, Some("only branches")),
            // A ref held for the operator waits, whatever the update.
            ("refs/heads/main", A, B, true, Some(Commit), "fdt", Some("p-1"), Some("held for the operator as proposal p-1")),
            ("refs/heads/main", A, Z, false, None, "fdt", Some("p-1"), Some("proposal p-1")),
            // Nonsense.
            ("refs/heads/main", Z, Z, false, None, "fdt", None, Some("nothing to do")),
        ];
        for (i, (name, old, new, ff, object, flags, pending, want)) in table.iter().enumerate() {
            let update = RefUpdate {
                name: name.to_string(),
                old: old.to_string(),
                new: new.to_string(),
                fast_forward: *ff,
                object: *object,
            };
            let got = verdict(&update, allow(flags), *pending);
            match (want, &got) {
                (None, Verdict::Accept) => {}
                (Some(text), Verdict::Refuse(reason)) if reason.contains(text) => {}
                _ => panic!("row {i} ({name} {flags}): want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn names_and_zeros() {
        assert!(is_zero(Z));
        assert!(!is_zero(A));
        assert!(!is_zero(""));
        assert_eq!(branch_of("refs/heads/a/b"), Some("a/b"));
        assert_eq!(branch_of("refs/tags/a"), None);
        assert_eq!(tag_of("refs/tags/v1"), Some("v1"));
        assert_eq!(Object::from_type("tag\n"), Object::Tag);
        assert_eq!(Object::from_type("tree"), Object::Other);
    }
}
