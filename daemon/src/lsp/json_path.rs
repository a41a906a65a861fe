//! A tolerant JSON scanner for config buffers that are often invalid while typed: the token at
//! an offset, and where the cursor is (the path of its container, a key or a value slot).

use std::ops::Range;

/// One step of a path from the document's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// What the cursor is in, inside the container at [`Location::path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Where a key is or could be typed; `string` is the key string under the cursor.
    Key { string: Option<StringAt> },
    /// The value of `key` (`None` for an array element); `string` when the cursor is in one.
    Value { key: Option<String>, string: Option<StringAt> },
    /// Anywhere else (before the root, after a value, on a colon).
    Other,
}

/// A string token the cursor is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringAt {
    /// The string's value (escapes undone when it is terminated).
    pub text: String,
    /// Byte range between the quotes (to the line's end when the string is unterminated).
    pub content: Range<usize>,
}

/// Where an offset is in a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Path of the innermost object or array holding the offset; empty for the root.
    pub path: Vec<Segment>,
    pub slot: Slot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Punct(u8),
    /// `terminated`: the closing quote is present.
    String {
        terminated: bool,
    },
    /// Numbers, literals and anything unrecognised.
    Word,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Splits `text` into tokens; strings end at their closing quote or at the end of the line.
fn tokens(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let kind = match bytes[at] {
            b' ' | b'\t' | b'\r' | b'\n' => {
                at += 1;
                continue;
            }
            byte @ (b'{' | b'}' | b'[' | b']' | b':' | b',') => {
                at += 1;
                Kind::Punct(byte)
            }
            b'"' => {
                at += 1;
                let mut terminated = false;
                while at < bytes.len() && bytes[at] != b'\n' {
                    match bytes[at] {
                        b'\\' => at += 2,
                        b'"' => {
                            at += 1;
                            terminated = true;
                            break;
                        }
                        _ => at += 1,
                    }
                }
                at = at.min(bytes.len());
                Kind::String { terminated }
            }
            _ => {
                while at < bytes.len() && !b" \t\r\n{}[]:,\"".contains(&bytes[at]) {
                    at += 1;
                }
                Kind::Word
            }
        };
        tokens.push(Token { kind, start, end: at });
    }
    tokens
}

/// Byte range of the token covering `offset` (an offset on a string's closing quote counts).
pub fn token_at(text: &str, offset: usize) -> Option<Range<usize>> {
    tokens(text)
        .into_iter()
        .find(|token| token.start <= offset && offset < token.end)
        .map(|token| token.start..token.end)
}

fn string_at(text: &str, token: Token) -> StringAt {
    let terminated = matches!(token.kind, Kind::String { terminated: true });
    let content = token.start + 1..if terminated { token.end - 1 } else { token.end };
    let raw = &text[token.start..token.end];
    let value = if terminated { serde_json::from_str(raw).ok() } else { None };
    StringAt { text: value.unwrap_or_else(|| text[content.clone()].to_string()), content }
}

/// Is `offset` inside string `token` (after its opening quote, not after its closing one)?
fn inside_string(token: Token, offset: usize) -> bool {
    match token.kind {
        Kind::String { terminated: true } => token.start < offset && offset < token.end,
        Kind::String { terminated: false } => token.start < offset && offset <= token.end,
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Key,
    Colon,
    Value,
    Comma,
}

/// An open object or array.
#[derive(Debug)]
struct Frame {
    /// How the container was reached from its parent (`None` for the root).
    entered_by: Option<Segment>,
    /// `Some` for an object: its current key and what comes next.
    object: Option<(Option<String>, Expect)>,
    /// For an array: the index of the current element.
    index: usize,
}

impl Frame {
    /// The segment a value starting now would be reached by.
    fn child_segment(&self) -> Option<Segment> {
        match &self.object {
            Some((key, _)) => key.clone().map(Segment::Key),
            None => Some(Segment::Index(self.index)),
        }
    }

    fn value_done(&mut self) {
        if let Some((_, expect)) = &mut self.object {
            *expect = Expect::Comma;
        }
    }
}

/// Finds where `offset` is: the path of its container and the slot it is in.
pub fn locate(text: &str, offset: usize) -> Location {
    let mut frames: Vec<Frame> = Vec::new();
    for token in tokens(text) {
        if inside_string(token, offset) {
            let string = Some(string_at(text, token));
            return Location { path: path_of(&frames), slot: slot(frames.last(), string) };
        }
        if token.start >= offset {
            break;
        }
        match token.kind {
            Kind::Punct(open @ (b'{' | b'[')) => {
                let entered_by = frames.last().and_then(Frame::child_segment);
                let object = (open == b'{').then_some((None, Expect::Key));
                frames.push(Frame { entered_by, object, index: 0 });
            }
            Kind::Punct(b'}' | b']') => {
                frames.pop();
                if let Some(parent) = frames.last_mut() {
                    parent.value_done();
                }
            }
            Kind::Punct(b':') => {
                if let Some(Frame { object: Some((_, expect)), .. }) = frames.last_mut() {
                    *expect = Expect::Value;
                }
            }
            Kind::Punct(_) => match frames.last_mut() {
                Some(Frame { object: Some((key, expect)), .. }) => {
                    *key = None;
                    *expect = Expect::Key;
                }
                Some(array) => array.index += 1,
                None => {}
            },
            Kind::String { .. } | Kind::Word => {
                if let Some(Frame { object: Some((key, expect)), .. }) = frames.last_mut() {
                    match expect {
                        // A string where a comma was due: the comma is probably still to be typed.
                        Expect::Key | Expect::Comma if matches!(token.kind, Kind::String { .. }) => {
                            *key = Some(string_at(text, token).text);
                            *expect = Expect::Colon;
                        }
                        Expect::Value => *expect = Expect::Comma,
                        _ => {}
                    }
                }
            }
        }
    }
    Location { path: path_of(&frames), slot: slot(frames.last(), None) }
}

fn path_of(frames: &[Frame]) -> Vec<Segment> {
    frames.iter().filter_map(|frame| frame.entered_by.clone()).collect()
}

fn slot(frame: Option<&Frame>, string: Option<StringAt>) -> Slot {
    match frame {
        Some(Frame { object: Some((_, Expect::Key | Expect::Comma)), .. }) if string.is_some() => Slot::Key { string },
        Some(Frame { object: Some((_, Expect::Key)), .. }) => Slot::Key { string },
        Some(Frame { object: Some((key, Expect::Value)), .. }) => Slot::Value { key: key.clone(), string },
        Some(Frame { object: None, .. }) => Slot::Value { key: None, string },
        _ => Slot::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `|` in `marked` is the cursor.
    fn at(marked: &str) -> Location {
        let offset = marked.find('|').expect("a cursor");
        locate(&marked.replacen('|', "", 1), offset)
    }

    fn keys(path: &[&str]) -> Vec<Segment> {
        path.iter().map(|key| Segment::Key(key.to_string())).collect()
    }

    #[test]
    fn locate_in_unterminated_target_value_gives_the_key_and_typed_prefix() {
        let location = at("{\n  \"target\": \"pid/1|\n}");
        assert_eq!(location.path, keys(&[]));
        let Slot::Value { key, string: Some(string) } = location.slot else { panic!("{location:?}") };
        assert_eq!(key.as_deref(), Some("target"));
        assert_eq!(string.text, "pid/1");
        assert_eq!(string.content, 15..20);
    }

    #[test]
    fn locate_in_terminated_value_covers_the_whole_string() {
        let location = at(r#"{"fs": {"mode": "wr|ite"}}"#);
        assert_eq!(location.path, keys(&["fs"]));
        let Slot::Value { key, string: Some(string) } = location.slot else { panic!("{location:?}") };
        assert_eq!((key.as_deref(), string.text.as_str(), string.content), (Some("mode"), "write", 17..22));
    }

    #[test]
    fn locate_in_key_string_of_nested_object() {
        let location = at(r#"{"env": {"include": [], "ex|": 1}}"#);
        assert_eq!(location.path, keys(&["env"]));
        assert!(matches!(location.slot, Slot::Key { string: Some(StringAt { ref text, .. }) } if text == "ex"));
    }

    #[test]
    fn locate_after_comma_or_brace_is_a_key_slot() {
        assert_eq!(at(r#"{"dns": {|}}"#), Location { path: keys(&["dns"]), slot: Slot::Key { string: None } });
        assert_eq!(at("{\"a\": 1,\n  |").slot, Slot::Key { string: None });
        assert_eq!(at(r#"{"a": |"#).slot, Slot::Value { key: Some("a".into()), string: None });
        assert_eq!(at(r#"{"a": 1 |}"#).slot, Slot::Other);
    }

    #[test]
    fn locate_in_arrays_counts_elements() {
        let location = at(r#"{"incoming": {"http_filter": {"any_of": [{}, {"pa|"#);
        assert_eq!(
            location.path,
            vec![
                Segment::Key("incoming".into()),
                Segment::Key("http_filter".into()),
                Segment::Key("any_of".into()),
                Segment::Index(1)
            ]
        );
        assert!(matches!(location.slot, Slot::Key { .. }));
        assert_eq!(
            at(r#"["a", "b|"]"#).slot,
            Slot::Value { key: None, string: Some(StringAt { text: "b".into(), content: 7..8 }) }
        );
    }

    #[test]
    fn locate_tolerates_a_missing_comma_and_escapes() {
        let location = at("{\"a\": \"x\\\"y\"\n \"b|\"}");
        assert!(
            matches!(location.slot, Slot::Key { string: Some(StringAt { ref text, .. }) } if text == "b"),
            "{location:?}"
        );
        let location = at(r#"{"a\"b": {"c|"#);
        assert_eq!(location.path, keys(&["a\"b"]));
    }

    #[test]
    fn locate_on_a_closed_container_returns_to_the_parent() {
        let location = at(r#"{"fs": {"mode": "read"}, "d|"}"#);
        assert_eq!(location.path, keys(&[]));
        assert!(matches!(location.slot, Slot::Key { .. }));
    }

    #[test]
    fn token_at_finds_strings_words_and_nothing_in_whitespace() {
        let text = r#"{ "mdoe": true }"#;
        assert_eq!(token_at(text, 2), Some(2..8));
        assert_eq!(token_at(text, 7), Some(2..8));
        assert_eq!(token_at(text, 11), Some(10..14));
        assert_eq!(token_at(text, 1), None);
        assert_eq!(token_at("\"open", 3), Some(0..5));
    }
}
