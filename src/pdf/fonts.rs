//! The bundled faces (Noto Sans; Noto Naskh Arabic for Arabic and Urdu) and
//! which one sets each character: Arabic script in Naskh, everything else
//! in Noto Sans, and common characters (digits, punctuation, spaces) in
//! the face of their neighbours when it has them.

use krilla::text::Font;

const SANS: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Regular.ttf");
const SANS_BOLD: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Bold.ttf");
const SANS_ITALIC: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Italic.ttf");
const NASKH: &[u8] = include_bytes!("../../assets/fonts/NotoNaskhArabic-Regular.ttf");
const NASKH_BOLD: &[u8] = include_bytes!("../../assets/fonts/NotoNaskhArabic-Bold.ttf");

/// Shown instead of a character no face has, so nothing silently vanishes.
pub(super) const FALLBACK: char = '?';

/// How a piece of text looks, whatever its script.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Look {
    pub(super) bold: bool,
    pub(super) italic: bool,
}

impl Look {
    pub(super) const REGULAR: Look = Look {
        bold: false,
        italic: false,
    };
    pub(super) const BOLD: Look = Look {
        bold: true,
        italic: false,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    Sans,
    Naskh,
}

/// One face, parsed once for shaping and once for embedding.
pub(super) struct Face {
    pub(super) shaper: rustybuzz::Face<'static>,
    pub(super) pdf: Font,
}

pub(super) struct Fonts {
    sans: Face,
    sans_bold: Face,
    sans_italic: Face,
    naskh: Face,
    naskh_bold: Face,
}

impl Fonts {
    pub(super) fn load() -> Fonts {
        Fonts {
            sans: Face::load(SANS),
            sans_bold: Face::load(SANS_BOLD),
            sans_italic: Face::load(SANS_ITALIC),
            naskh: Face::load(NASKH),
            naskh_bold: Face::load(NASKH_BOLD),
        }
    }

    /// Arabic script has no italic face: emphasis there stays upright.
    pub(super) fn face(&self, family: Family, look: Look) -> &Face {
        match (family, look.bold, look.italic) {
            (Family::Sans, true, _) => &self.sans_bold,
            (Family::Sans, false, true) => &self.sans_italic,
            (Family::Sans, false, false) => &self.sans,
            (Family::Naskh, true, _) => &self.naskh_bold,
            (Family::Naskh, false, _) => &self.naskh,
        }
    }

    fn covers(&self, family: Family, ch: char) -> bool {
        self.face(family, Look::REGULAR).covers(ch)
    }

    /// `text` with every character no face has replaced by [`FALLBACK`],
    /// and invisible formatting characters no face has dropped.
    pub(super) fn printable(&self, text: &str) -> String {
        let covered = |ch: char| self.covers(Family::Sans, ch) || self.covers(Family::Naskh, ch);
        text.chars()
            .filter_map(|ch| match ch {
                _ if covered(ch) || ch.is_whitespace() => Some(ch),
                _ if is_invisible(ch) => None,
                _ => Some(FALLBACK),
            })
            .collect()
    }

    /// The family setting each character of `text`, in order.
    pub(super) fn families(&self, text: &str) -> Vec<Family> {
        let strong: Vec<Option<Family>> = text.chars().map(strong_family).collect();
        let chars: Vec<char> = text.chars().collect();
        (0..chars.len())
            .map(|i| {
                if let Some(family) = strong[i] {
                    return family;
                }
                let before = strong[..i].iter().rev().find_map(|f| *f);
                let after = strong[i + 1..].iter().find_map(|f| *f);
                [before, after, Some(Family::Sans), Some(Family::Naskh)]
                    .into_iter()
                    .flatten()
                    .find(|family| self.covers(*family, chars[i]))
                    .unwrap_or(Family::Sans)
            })
            .collect()
    }
}

impl Face {
    fn load(data: &'static [u8]) -> Face {
        // The bundled files are known good; a failure here is a build mistake.
        Face {
            shaper: rustybuzz::Face::from_slice(data, 0).expect("bundled font parses"),
            pdf: Font::new(data.into(), 0).expect("bundled font loads"),
        }
    }

    fn covers(&self, ch: char) -> bool {
        self.shaper.glyph_index(ch).is_some()
    }
}

/// Arabic script (Arabic, Urdu, Persian, …) and its presentation forms.
fn is_arabic(ch: char) -> bool {
    matches!(u32::from(ch),
        0x0600..=0x06FF | 0x0750..=0x077F | 0x0870..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF)
}

/// The family a letter of a script needs; none for characters every script
/// shares (digits, punctuation, spaces, combining marks).
fn strong_family(ch: char) -> Option<Family> {
    if is_arabic(ch) {
        Some(Family::Naskh)
    } else if ch.is_alphabetic() {
        Some(Family::Sans)
    } else {
        None
    }
}

/// Whitespace, controls and invisible formatting marks (zero-width and
/// bidi controls), which need no glyph of their own.
fn is_invisible(ch: char) -> bool {
    ch.is_whitespace()
        || ch.is_control()
        || matches!(ch, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

/// Characters in `text` that no bundled font can show (whitespace and
/// controls ignored), deduplicated, in order of first appearance. Used by
/// `consent-forms check` to refuse a form whose script has no bundled font.
pub fn uncovered_chars(text: &str) -> Vec<char> {
    // Coverage only needs the regular faces' character maps.
    let faces = [SANS, NASKH].map(|data| rustybuzz::ttf_parser::Face::parse(data, 0).ok());
    let covered = |ch| {
        faces
            .iter()
            .flatten()
            .any(|face| face.glyph_index(ch).is_some())
    };
    let mut missing = Vec::new();
    for ch in text.chars() {
        if !covered(ch) && !is_invisible(ch) && !missing.contains(&ch) {
            missing.push(ch);
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arabic_script_goes_to_naskh_and_digits_follow_their_neighbours() {
        let fonts = Fonts::load();
        let families = fonts.families("REC ریک 24");
        assert_eq!(families[0], Family::Sans);
        assert_eq!(families[4], Family::Naskh);
        // Digits after Urdu stay with Naskh only if Naskh has them.
        let digit = families[8];
        assert!(fonts.covers(digit, '2'));
    }

    #[test]
    fn uncovered_chars_lists_each_missing_character_once() {
        assert_eq!(
            uncovered_chars("Ann 山田 山 🙂\u{200F} سلام"),
            ['山', '田', '🙂']
        );
        assert!(uncovered_chars("Siân Zoë — “£15” اردو ۱۲").is_empty());
    }
}
