//! `*` / `?` wildcard patterns (actions, resources, `StringLike`) and ARN
//! patterns (`ArnLike`), compiled once so matching allocates nothing.
//!
//! `*` matches any run of characters (including none), `?` exactly one
//! character. There is no escape, as in IAM.

/// Whether a pattern compares letters case-sensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Sensitive,
    Insensitive,
}

/// One compiled wildcard pattern. For [`Case::Insensitive`] the stored text is
/// already folded with [`fold_char`].
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    shape: Shape,
    case: Case,
}

#[derive(Debug, Clone)]
enum Shape {
    /// `*`
    Any,
    /// No wildcard at all.
    Exact(String),
    /// One trailing `*` and no other wildcard (`kms:*`, `kms:Generate*`).
    Prefix(String),
    /// Anything else.
    Glob(Vec<char>),
}

impl Pattern {
    pub(crate) fn new(src: &str, case: Case) -> Pattern {
        let text: String = match case {
            Case::Sensitive => src.to_owned(),
            Case::Insensitive => src.chars().map(fold_char).collect(),
        };
        let is_wild = |c: char| c == '*' || c == '?';
        let shape = if text == "*" {
            Shape::Any
        } else if !text.contains(is_wild) {
            Shape::Exact(text)
        } else if let Some(prefix) = text.strip_suffix('*').filter(|p| !p.contains(is_wild)) {
            Shape::Prefix(prefix.to_owned())
        } else {
            Shape::Glob(text.chars().collect())
        };
        Pattern { shape, case }
    }

    pub(crate) fn is_any(&self) -> bool {
        matches!(self.shape, Shape::Any)
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        match (&self.shape, self.case) {
            (Shape::Any, _) => true,
            (Shape::Exact(p), Case::Sensitive) => p == text,
            (Shape::Exact(p), Case::Insensitive) => text.chars().map(fold_char).eq(p.chars()),
            (Shape::Prefix(p), Case::Sensitive) => text.starts_with(p.as_str()),
            (Shape::Prefix(p), Case::Insensitive) => {
                let mut t = text.chars().map(fold_char);
                p.chars().all(|pc| t.next() == Some(pc))
            }
            (Shape::Glob(p), case) => glob(p, text, case),
        }
    }
}

/// Lowercases one character when its lowercase form is one character
/// (all of U+0000–U+00FF, the policy alphabet, qualifies); otherwise keeps it.
pub(crate) fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Case-insensitive equality by [`fold_char`], without allocating.
pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars().map(fold_char).eq(b.chars().map(fold_char))
}

/// The classic linear-space wildcard match with one backtrack point: on a
/// mismatch, let the last `*` swallow one more character. Worst case
/// O(pattern × text), no recursion, no allocation.
fn glob(pat: &[char], text: &str, case: Case) -> bool {
    let same = |p: char, t: char| match case {
        Case::Sensitive => p == t,
        Case::Insensitive => p == fold_char(t),
    };
    let mut p = 0usize; // index into pat
    let mut t = 0usize; // byte offset into text (always a char boundary)
    let mut star: Option<(usize, usize)> = None; // (pattern index after the `*`, text offset it resumes at)
    loop {
        let Some(c) = text[t..].chars().next() else {
            return pat[p..].iter().all(|&pc| pc == '*');
        };
        match pat.get(p) {
            Some('*') => {
                p += 1;
                star = Some((p, t));
                continue;
            }
            Some(&pc) if pc == '?' || same(pc, c) => {
                p += 1;
                t += c.len_utf8();
                continue;
            }
            _ => {}
        }
        let Some((sp, st)) = star else {
            return false;
        };
        // `st <= t < text.len()`, so there is a character at `st`.
        let skipped = text[st..].chars().next().map_or(1, char::len_utf8);
        star = Some((sp, st + skipped));
        p = sp;
        t = st + skipped;
    }
}

/// An ARN pattern for `ArnEquals`/`ArnLike`: as AWS documents, each of the
/// six `:`-separated fields is matched separately (the last field keeps any
/// further colons), so `*` never crosses a field. A value matches only if it
/// has as many fields as the pattern; `*` on its own matches anything.
#[derive(Debug, Clone)]
pub(crate) struct ArnPattern {
    fields: Vec<Pattern>,
}

impl ArnPattern {
    pub(crate) fn new(src: &str) -> ArnPattern {
        ArnPattern {
            fields: src.splitn(6, ':').map(|f| Pattern::new(f, Case::Sensitive)).collect(),
        }
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        if let [only] = self.fields.as_slice() {
            if only.is_any() {
                return true;
            }
        }
        let mut parts = text.splitn(6, ':');
        self.fields
            .iter()
            .all(|f| parts.next().is_some_and(|part| f.matches(part)))
            && parts.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_table() {
        use Case::*;
        let cases: &[(&str, Case, &str, bool)] = &[
            ("*", Sensitive, "", true),
            ("*", Sensitive, "anything", true),
            ("kms:*", Insensitive, "kms:Decrypt", true),
            ("kms:*", Insensitive, "KMS:decrypt", true),
            ("kms:*", Insensitive, "s3:GetObject", false),
            ("kms:Generate*", Insensitive, "kms:GenerateDataKeyPair", true),
            ("kms:generate*", Insensitive, "kms:Decrypt", false),
            ("kms:*Key*", Insensitive, "kms:DescribeKey", true),
            ("kms:*Key*", Insensitive, "kms:GenerateDataKeyWithoutPlaintext", true),
            ("kms:*Key*", Insensitive, "kms:Encrypt", false),
            ("kms:?ncrypt", Insensitive, "kms:Encrypt", true),
            ("kms:?ncrypt", Insensitive, "kms:ReEncrypt", false),
            ("kms:Encrypt", Insensitive, "KMS:ENCRYPT", true),
            ("kms:Encrypt", Sensitive, "KMS:ENCRYPT", false),
            ("a*b*c", Sensitive, "abc", true),
            ("a*b*c", Sensitive, "aXbYbZc", true),
            ("a*b*c", Sensitive, "aXbYcZ", false),
            ("*c", Sensitive, "abcabc", true),
            ("**", Sensitive, "", true),
            ("?", Sensitive, "", false),
            ("?", Sensitive, "é", true),
            ("é*", Insensitive, "Été", true),
            ("a?c", Sensitive, "aéc", true),
            ("*a*a*a*a*b", Sensitive, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
        ];
        for &(pat, case, text, want) in cases {
            assert_eq!(Pattern::new(pat, case).matches(text), want, "{pat:?} {case:?} {text:?}");
        }
    }

    #[test]
    fn arn_patterns_match_field_by_field() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234";
        let cases: &[(&str, &str, bool)] = &[
            ("arn:aws:kms:*:111122223333:key/*", key, true),
            ("arn:aws:kms:*:444455556666:key/*", key, false),
            ("arn:aws:kms:us-*-1:*:*", key, true),
            // `*` does not cross a field boundary in the first five fields.
            ("arn:aws:*:111122223333:key/*:x", key, false),
            (
                "arn:aws:iam::*:role/app/*",
                "arn:aws:iam::111122223333:role/app/web",
                true,
            ),
            ("arn:aws:iam::*:role/app/*", "arn:aws:iam::111122223333:user/app", false),
            ("arn:aws:iam::*:root", "not-an-arn", false),
            // Fewer than six fields never match a six-field ARN; `*` alone matches anything.
            ("arn:aws:kms*", key, false),
            ("arn:aws:*", key, false),
            ("*", key, true),
            ("*", "", true),
            // The last field keeps its colons.
            ("arn:aws:kms:*:*:key/*", "arn:aws:kms:r:1:key/a:b", true),
            ("arn:aws:kms:*:*:*:*", key, false),
        ];
        for &(pat, text, want) in cases {
            assert_eq!(ArnPattern::new(pat).matches(text), want, "{pat:?} {text:?}");
        }
    }
}
