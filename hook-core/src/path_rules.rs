//! The user's file rules of one kind (`not_found`, `local`, `read_write`, `read_only`) compiled
//! into one matcher that decides a path without allocating or locking: every `open` and `stat`
//! of the user process asks it, including calls an allocator makes while it holds its own
//! locks. A dense DFA (built once, when the policy arrives) searches with no cache at all; a
//! rule set a DFA cannot take (a Unicode word boundary, a DFA beyond `DFA_SIZE_LIMIT`) falls
//! back to the regex crate, whose searches use per-thread caches, and says so in the log.

use regex::bytes::RegexSet;
use regex_automata::dfa::{dense, Automaton};
use regex_automata::{nfa::thompson, util::syntax, Input};

/// Largest DFA (and determinisation working set) built for one kind of rule, in bytes.
const DFA_SIZE_LIMIT: usize = 2 << 20;

/// Whether a path matches any pattern of one kind.
#[derive(Debug)]
pub enum PathRules {
    /// No pattern of this kind.
    None,
    Dfa(Box<dense::DFA<Vec<u32>>>),
    Set(RegexSet),
}

impl PathRules {
    /// Compiles `patterns` (valid `regex::bytes` syntax, as the policy checked); a fallback to
    /// the regex engine is told to `note`.
    pub fn new(patterns: &[&str], note: &mut dyn FnMut(&str)) -> PathRules {
        if patterns.is_empty() {
            return PathRules::None;
        }
        // The syntax of `regex::bytes`: Unicode classes, but any byte may match (paths need
        // not be UTF-8).
        let built = dense::Builder::new()
            .syntax(syntax::Config::new().utf8(false))
            .thompson(thompson::Config::new().utf8(false))
            .configure(
                dense::Config::new().dfa_size_limit(Some(DFA_SIZE_LIMIT)).determinize_size_limit(Some(DFA_SIZE_LIMIT)),
            )
            .build_many(patterns);
        match built {
            Ok(dfa) => PathRules::Dfa(Box::new(dfa)),
            Err(err) => {
                note(&format!("file rules {patterns:?} need the regex engine's caches (no DFA: {err})"));
                RegexSet::new(patterns).map_or(PathRules::None, PathRules::Set)
            }
        }
    }

    /// Whether `path` matches one of the patterns.
    pub fn matches(&self, path: &[u8]) -> bool {
        match self {
            PathRules::None => false,
            // A search error (quit bytes, a give-up) cannot happen with this configuration;
            // counted as no match, the path then goes by the next rules.
            PathRules::Dfa(dfa) => {
                dfa.try_search_fwd(&Input::new(path).earliest(true)).is_ok_and(|found| found.is_some())
            }
            PathRules::Set(set) => set.is_match(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dfa_matches_like_the_regex_crate() {
        let patterns = ["^/etc/app/", r"\.ya?ml$", "^/srv/(a|b)+/x$", r"(?i)^/DATA/", r"^/caf\u{e9}/"];
        let rules = PathRules::new(&patterns, &mut |_| {});
        assert!(matches!(rules, PathRules::Dfa(_)));
        let set = RegexSet::new(patterns).unwrap();
        let paths: [&[u8]; 9] = [
            b"/etc/app/x",
            b"/etc/apps",
            b"/x/config.yaml",
            b"/x/y.yml5",
            b"/srv/abba/x",
            b"/srv/c/x",
            b"/data/1",
            "/café/x".as_bytes(),
            b"/\xff/app.yml",
        ];
        for path in paths {
            assert_eq!(rules.matches(path), set.is_match(path), "{}", String::from_utf8_lossy(path));
        }
    }

    #[test]
    fn a_unicode_word_boundary_falls_back_to_the_regex_crate() {
        let rules = PathRules::new(&[r"\bconfig\b"], &mut |_| {});
        assert!(matches!(rules, PathRules::Set(_)));
        assert!(rules.matches(b"/etc/config/x"));
        assert!(!rules.matches(b"/etc/configs"));
        assert!(!PathRules::new(&[], &mut |_| {}).matches(b"/x"));
    }
}
