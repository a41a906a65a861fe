//! The open config documents (`.tether/*.json`), LSP position ↔ byte offset conversion (LSP
//! counts UTF-16 code units from 0; the daemon counts lines and characters from 1), and the
//! daemon's diagnostics as LSP diagnostics.

use std::collections::HashMap;
use std::sync::Mutex;

use tether_rpc_schema::api::Diagnostic as ConfigDiagnostic;
use tower_lsp::lsp_types::{Diagnostic, DiagnosticSeverity, Position, Range, Url};

use super::json_path;

/// Is `uri` a tether config file: a `.json` file in a `.tether` directory?
pub fn is_config(uri: &Url) -> bool {
    let path = uri.path();
    path.contains("/.tether/") && path.ends_with(".json")
}

/// The text and version of every open config document.
#[derive(Default)]
pub struct Documents {
    open: Mutex<HashMap<Url, (i32, String)>>,
}

impl Documents {
    /// Stores a document's text unless a newer version is already stored (tower-lsp may run
    /// two changes' handlers out of order); says whether it stored it.
    pub fn set(&self, uri: Url, version: i32, text: String) -> bool {
        let mut open = self.lock();
        if open.get(&uri).is_some_and(|(stored, _)| *stored > version) {
            return false;
        }
        open.insert(uri, (version, text));
        true
    }

    pub fn remove(&self, uri: &Url) {
        self.lock().remove(uri);
    }

    pub fn text(&self, uri: &Url) -> Option<String> {
        self.lock().get(uri).map(|(_, text)| text.clone())
    }

    /// Is `version` still the document's current one (so results computed for it are current)?
    pub fn is_current(&self, uri: &Url, version: i32) -> bool {
        self.lock().get(uri).is_some_and(|(current, _)| *current == version)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Url, (i32, String)>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Byte offset of an LSP position, clamped to its line and to the text.
pub fn offset_of(text: &str, position: Position) -> usize {
    let Some(line_start) = line_start(text, position.line as usize) else { return text.len() };
    let line = line_text(text, line_start);
    let mut units = 0;
    for (index, character) in line.char_indices() {
        if units >= position.character as usize {
            return line_start + index;
        }
        units += character.len_utf16();
    }
    line_start + line.len()
}

/// LSP position of a byte offset (clamped to the text, moved back to a character boundary).
pub fn position_of(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let character: usize = text[line_start..offset].chars().map(char::len_utf16).sum();
    Position::new(line as u32, character as u32)
}

/// Byte offset of the daemon's 1-based line and character column, clamped to the line.
pub fn offset_of_daemon_point(text: &str, line: usize, column: usize) -> usize {
    let Some(line_start) = line_start(text, line.saturating_sub(1)) else { return text.len() };
    let line = line_text(text, line_start);
    line_start + line.char_indices().nth(column.saturating_sub(1)).map_or(line.len(), |(index, _)| index)
}

/// The daemon's diagnostic as an LSP one, spanning the JSON token it points at.
pub fn to_lsp(text: &str, diagnostic: &ConfigDiagnostic) -> Diagnostic {
    let offset = offset_of_daemon_point(text, diagnostic.line, diagnostic.column);
    let span = json_path::token_at(text, offset).unwrap_or(offset..offset);
    Diagnostic {
        range: Range::new(position_of(text, span.start), position_of(text, span.end)),
        severity: Some(DiagnosticSeverity::ERROR),
        source: Some("tether".to_string()),
        message: diagnostic.message.clone(),
        ..Diagnostic::default()
    }
}

fn line_start(text: &str, line: usize) -> Option<usize> {
    if line == 0 {
        return Some(0);
    }
    text.match_indices('\n').nth(line - 1).map(|(newline, _)| newline + 1)
}

/// The line starting at `start`, without its line break.
fn line_text(text: &str, start: usize) -> &str {
    let rest = &text[start..];
    let line = rest.split('\n').next().unwrap_or(rest);
    line.strip_suffix('\r').unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(line: usize, column: usize) -> ConfigDiagnostic {
        ConfigDiagnostic { file: "c.json".into(), line, column, message: "m".into() }
    }

    #[test]
    fn is_config_needs_a_json_file_in_a_tether_directory() {
        assert!(is_config(&Url::parse("file:///w/.tether/config.json").unwrap()));
        assert!(is_config(&Url::parse("file:///w/.tether/sub/dev.json").unwrap()));
        assert!(!is_config(&Url::parse("file:///w/.tether/notes.md").unwrap()));
        assert!(!is_config(&Url::parse("file:///w/tether/config.json").unwrap()));
    }

    #[test]
    fn offset_and_position_round_trip_through_utf16() {
        let text = "{\n  \"é𝄞\": 1\r\n}";
        // "𝄞" is two UTF-16 units and four bytes; "é" one unit and two bytes.
        let colon = text.find(':').unwrap();
        assert_eq!(position_of(text, colon), Position::new(1, 7));
        assert_eq!(offset_of(text, Position::new(1, 7)), colon);
        assert_eq!(offset_of(text, Position::new(1, 99)), text.find('\r').unwrap(), "clamped before CR LF");
        assert_eq!(offset_of(text, Position::new(9, 0)), text.len());
        assert_eq!(position_of(text, text.find('𝄞').unwrap() + 1), Position::new(1, 4), "inside a character");
    }

    #[test]
    fn daemon_columns_count_characters_from_one() {
        let text = "{\n  \"é\": x\n}";
        assert_eq!(offset_of_daemon_point(text, 2, 6), text.find(':').unwrap());
        assert_eq!(offset_of_daemon_point(text, 2, 99), text.rfind('\n').unwrap());
        assert_eq!(offset_of_daemon_point(text, 0, 0), 0, "0 is taken as 1");
    }

    #[test]
    fn to_lsp_spans_the_token_at_the_point() {
        // serde reports an unknown key at its closing quote (line 3, column 10).
        let text = "{\n  \"fs\": {\n    \"mdoe\": \"read\"\n  }\n}";
        let diagnostic = to_lsp(text, &daemon(3, 10));
        assert_eq!(diagnostic.range, Range::new(Position::new(2, 4), Position::new(2, 10)));
        assert_eq!(
            (diagnostic.severity, diagnostic.source.as_deref()),
            (Some(DiagnosticSeverity::ERROR), Some("tether"))
        );
        let empty = to_lsp("{\n", &daemon(2, 1));
        assert_eq!(empty.range, Range::new(Position::new(1, 0), Position::new(1, 0)));
    }
}
