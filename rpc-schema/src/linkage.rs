//! How a program is linked, read from its ELF headers: whether the hook layer, which needs the
//! dynamic loader and libc's entry points, can serve it. Shared by `tether exec` and the
//! layer's process-start hooks, so it does no I/O of its own (the caller reads bytes at an
//! offset) and never allocates.

/// What the hook layer can do for a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// Dynamically linked without the Go runtime, or not an ELF file (a script, whose
    /// interpreter is started in turn): the layer serves it.
    Hookable,
    /// Statically linked: no dynamic loader reads `LD_PRELOAD`.
    Static,
    /// A Go program: its runtime makes file and network system calls itself.
    Go,
}

impl Linkage {
    /// What the user should know before such a program runs, if anything.
    pub fn warning(self) -> Option<&'static str> {
        match self {
            Linkage::Hookable => None,
            Linkage::Static => Some(
                "is statically linked, so tether cannot hook it: it gets the target's environment variables \
                 only, and its files, DNS and network are this machine's",
            ),
            Linkage::Go => Some(
                "is a Go program, whose runtime makes its own system calls: it gets the target's environment \
                 variables (and, built with cgo, its DNS), but its files and network are this machine's",
            ),
        }
    }
}

/// Program header types.
const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
/// The note the Go linker writes (`.note.go.buildid`): name "Go" (padded), type 4.
const GO_NOTE_NAME: &[u8] = b"Go\0\0";
const GO_NOTE_TYPE: u32 = 4;
/// Program headers read at most; ELF executables have about a dozen.
const MAX_PROGRAM_HEADERS: usize = 32;
/// Bytes of a note segment read when looking for the Go note.
const NOTE_READ: usize = 256;

/// The linkage of the file that `read_at(offset, buffer)` reads (returning how many bytes it
/// read; short reads at the end are fine). 64-bit little-endian ELF only; anything else is
/// [`Linkage::Hookable`], which never warns wrongly.
pub fn linkage(mut read_at: impl FnMut(u64, &mut [u8]) -> usize) -> Linkage {
    let mut header = [0u8; 64];
    if read_at(0, &mut header) < header.len() || &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Linkage::Hookable;
    }
    let phoff = u64_at(&header, 0x20);
    let phentsize = u16_at(&header, 0x36) as usize;
    let phnum = (u16_at(&header, 0x38) as usize).min(MAX_PROGRAM_HEADERS);
    if phentsize < 56 {
        return Linkage::Hookable;
    }
    let mut interpreted = false;
    let mut go = false;
    for index in 0..phnum {
        let mut entry = [0u8; 56];
        if read_at(phoff + (index * phentsize) as u64, &mut entry) < entry.len() {
            return Linkage::Hookable;
        }
        match u32_at(&entry, 0) {
            PT_INTERP => interpreted = true,
            PT_NOTE => {
                let mut notes = [0u8; NOTE_READ];
                let size = (u64_at(&entry, 32) as usize).min(NOTE_READ);
                let read = read_at(u64_at(&entry, 8), &mut notes[..size]);
                go |= has_go_note(&notes[..read]);
            }
            _ => {}
        }
    }
    match (go, interpreted) {
        (true, _) => Linkage::Go,
        (false, false) => Linkage::Static,
        (false, true) => Linkage::Hookable,
    }
}

/// Whether a note segment holds the Go linker's build-id note.
fn has_go_note(mut notes: &[u8]) -> bool {
    while notes.len() >= 12 {
        let (name_size, desc_size, kind) = (u32_at(notes, 0) as usize, u32_at(notes, 4) as usize, u32_at(notes, 8));
        let name_end = 12 + name_size.next_multiple_of(4);
        // The Go linker counts the padding in the name's size (4); "Go" with its NUL is 3.
        if kind == GO_NOTE_TYPE && (name_size == 3 || name_size == 4) && notes.get(12..16) == Some(GO_NOTE_NAME) {
            return true;
        }
        let Some(rest) = notes.get(name_end + desc_size.next_multiple_of(4)..) else { return false };
        notes = rest;
    }
    false
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(file: &[u8]) -> Linkage {
        linkage(|offset, buffer| {
            let start = (offset as usize).min(file.len());
            let end = (start + buffer.len()).min(file.len());
            buffer[..end - start].copy_from_slice(&file[start..end]);
            end - start
        })
    }

    /// An ELF header with `headers` program headers (type, offset, size) right after it, and
    /// `tail` after those.
    fn elf(headers: &[(u32, u64, u64)], tail: &[u8]) -> Vec<u8> {
        let mut file = vec![0u8; 64];
        file[..6].copy_from_slice(b"\x7fELF\x02\x01");
        file[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        file[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        file[0x38..0x3a].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        for (kind, offset, size) in headers {
            let mut entry = [0u8; 56];
            entry[..4].copy_from_slice(&kind.to_le_bytes());
            entry[8..16].copy_from_slice(&offset.to_le_bytes());
            entry[32..40].copy_from_slice(&size.to_le_bytes());
            file.extend(entry);
        }
        file.extend(tail);
        file
    }

    fn go_note() -> Vec<u8> {
        let mut note = Vec::new();
        note.extend(4u32.to_le_bytes());
        note.extend(3u32.to_le_bytes());
        note.extend(4u32.to_le_bytes());
        note.extend(b"GNU\0");
        note.extend(b"abc\0");
        note.extend(4u32.to_le_bytes());
        note.extend(8u32.to_le_bytes());
        note.extend(GO_NOTE_TYPE.to_le_bytes());
        note.extend(GO_NOTE_NAME);
        note.extend(b"buildid!");
        note
    }

    #[test]
    fn an_interpreter_makes_a_program_hookable_and_its_absence_static() {
        assert_eq!(of(&elf(&[(1, 0, 0), (PT_INTERP, 0, 0)], &[])), Linkage::Hookable);
        assert_eq!(of(&elf(&[(1, 0, 0)], &[])), Linkage::Static);
    }

    #[test]
    fn the_go_note_marks_a_go_program_linked_either_way() {
        let note = go_note();
        let at = 64 + 2 * 56;
        let file = elf(&[(PT_NOTE, at, note.len() as u64), (PT_INTERP, 0, 0)], &note);
        assert_eq!(of(&file), Linkage::Go);
        let at = 64 + 56;
        assert_eq!(of(&elf(&[(PT_NOTE, at, note.len() as u64)], &note)), Linkage::Go);
    }

    #[test]
    fn scripts_short_files_and_other_formats_are_left_alone() {
        assert_eq!(of(b"#!/bin/sh\necho hi\n"), Linkage::Hookable);
        assert_eq!(of(b"\x7fELF"), Linkage::Hookable);
        let mut big_endian = elf(&[(1, 0, 0)], &[]);
        big_endian[5] = 2;
        assert_eq!(of(&big_endian), Linkage::Hookable);
    }
}
