//! What an uploaded file really is, and photos without their location.
//!
//! The declared kind decides which consent a file needs and whether a browser
//! plays it inline, so it is checked against the bytes rather than trusted:
//! a "recording" that is a PDF, or anything executable or scriptable (HTML,
//! SVG), is refused. Identification is `file-format`'s, from the first bytes
//! of the file (about 64 KiB), with fallbacks where its readers need more of
//! the file than that.
//!
//! Phone photos carry where they were taken in their EXIF and XMP metadata;
//! in fieldwork that can be a participant's home. Photos keep only what
//! decoding and display need; a format whose metadata cannot be removed that
//! way is refused rather than stored with its location.

use file_format::{FileFormat, Kind};
use img_parts::jpeg::{markers, Jpeg, JpegSegment};
use img_parts::png::Png;
use img_parts::riff::RiffContent;
use img_parts::webp::WebP;
use img_parts::{Bytes, ImageEXIF};

/// What a media object is declared to be.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, poem_openapi::Enum,
)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
    Photo,
    Document,
}

impl MediaKind {
    const ALL: [MediaKind; 4] = [
        MediaKind::Audio,
        MediaKind::Video,
        MediaKind::Photo,
        MediaKind::Document,
    ];

    /// As stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Photo => "photo",
            MediaKind::Document => "document",
        }
    }

    /// From its stored form; None for anything else.
    pub fn parse(s: &str) -> Option<MediaKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// As shown to people.
    pub fn label(self) -> &'static str {
        match self {
            MediaKind::Audio => "Audio",
            MediaKind::Video => "Video",
            MediaKind::Photo => "Photo",
            MediaKind::Document => "Document",
        }
    }
}

/// What a file's first bytes show it to be.
#[derive(Clone, Debug)]
pub struct Sniffed {
    /// Our kind for it; None for anything we never store (executables,
    /// markup, archives, unknown bytes).
    pub kind: Option<MediaKind>,
    /// The media type to serve it as.
    pub media_type: String,
    /// Its format's name, for messages ("Portable Document Format").
    pub name: String,
    format: FileFormat,
}

/// Identifies a file from its first bytes (the whole file, or its first
/// 64 KiB or so).
pub fn sniff(first_bytes: &[u8]) -> Sniffed {
    let format = identify(first_bytes);
    Sniffed {
        kind: media_kind(format),
        media_type: media_type(&format).to_owned(),
        name: format.name().to_owned(),
        format,
    }
}

/// Whether a file declared as `declared` may be stored as such. Audio is
/// also accepted in the video containers that phones and browsers record
/// sound alone in, as the first bytes do not always show which tracks they
/// hold.
pub fn accepts(declared: MediaKind, sniffed: &Sniffed) -> bool {
    sniffed.kind == Some(declared)
        || (declared == MediaKind::Audio
            && matches!(
                sniffed.format,
                FileFormat::Mpeg4Part14
                    | FileFormat::Mpeg4Part14Video
                    | FileFormat::ThirdGenerationPartnershipProject
                    | FileFormat::ThirdGenerationPartnershipProject2
                    | FileFormat::Webm
                    | FileFormat::OggMultiplexedMedia
            ))
}

fn media_kind(format: FileFormat) -> Option<MediaKind> {
    match format {
        // An image format that runs scripts.
        FileFormat::ScalableVectorGraphics => None,
        // Markdown, CSV, transcripts.
        FileFormat::PlainText => Some(MediaKind::Document),
        // An MP4 whose track list lies past the first bytes.
        FileFormat::Mpeg4Part14 => Some(MediaKind::Video),
        _ => match format.kind() {
            Kind::Audio => Some(MediaKind::Audio),
            Kind::Video => Some(MediaKind::Video),
            Kind::Image => Some(MediaKind::Photo),
            Kind::Document | Kind::Spreadsheet | Kind::Presentation | Kind::Subtitle => {
                Some(MediaKind::Document)
            }
            _ => None,
        },
    }
}

/// The registered type where browsers play only a more common one.
fn media_type(format: &FileFormat) -> &str {
    match format {
        FileFormat::WaveformAudio => "audio/wav",
        FileFormat::Mpeg4Part14 => "video/mp4",
        _ => format.media_type(),
    }
}

/// `file-format`'s answer, completed where its readers look past the head:
/// a ZIP's directory is at its end, an ID3 tag holding cover art can outgrow
/// the head, an MP4's track list may follow its media, and the head may end
/// inside a UTF-8 character. Text that a browser would render as markup is
/// named as such.
fn identify(head: &[u8]) -> FileFormat {
    let format = FileFormat::from_bytes(head);
    let format = if format == FileFormat::ArbitraryBinaryData {
        from_head_structure(head).unwrap_or(format)
    } else {
        format
    };
    if format == FileFormat::PlainText {
        markup(head).unwrap_or(format)
    } else {
        format
    }
}

fn from_head_structure(head: &[u8]) -> Option<FileFormat> {
    if head.starts_with(b"PK\x03\x04") {
        return Some(zip_from_entries(head));
    }
    if head.starts_with(b"ID3") {
        // The tag's size, 7 bits a byte; what follows a tag is audio.
        let size = head
            .get(6..10)?
            .iter()
            .fold(0usize, |n, b| (n << 7) | usize::from(b & 0x7f));
        return (10 + size >= head.len()).then_some(FileFormat::Mpeg12AudioLayer3);
    }
    if head.get(4..8) == Some(b"ftyp") {
        // The file type box alone names the brand.
        let size = usize::try_from(u32::from_be_bytes(head.get(..4)?.try_into().ok()?)).ok()?;
        return Some(FileFormat::from_bytes(head.get(..size)?))
            .filter(|f| !matches!(f, FileFormat::ArbitraryBinaryData | FileFormat::PlainText));
    }
    match std::str::from_utf8(head) {
        // Cut inside a character: judge the text before it.
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => {
            Some(FileFormat::from_bytes(&head[..e.valid_up_to()]))
                .filter(|f| *f == FileFormat::PlainText)
        }
        _ => None,
    }
}

/// A ZIP-based format named by the local file headers in the head, as its
/// central directory is out of reach: an OpenDocument's first entry is its
/// stored `mimetype`, an Office Open XML file has `word/`, `xl/` or `ppt/`
/// entries. Anything else is a plain ZIP archive.
fn zip_from_entries(head: &[u8]) -> FileFormat {
    const LOCAL_HEADER: &[u8] = b"PK\x03\x04";
    let u16_at = |at: usize| -> Option<usize> {
        let b = head.get(at..at.checked_add(2)?)?;
        Some(usize::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let u32_at = |at: usize| -> Option<usize> {
        let b = head.get(at..at.checked_add(4)?)?;
        usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok()
    };
    // An entry's name, and the first bytes of its (stored) data.
    let entry = |at: usize| -> Option<(&[u8], &[u8])> {
        let data_len = u32_at(at + 18)?.min(100);
        let name_len = u16_at(at + 26)?;
        let extra_len = u16_at(at + 28)?;
        let name_start = at + 30;
        let name = head.get(name_start..name_start + name_len)?;
        let data_start = name_start + name_len + extra_len;
        let data = head.get(data_start..head.len().min(data_start + data_len))?;
        Some((name, data))
    };
    let starts = (0..head.len().saturating_sub(3)).filter(|&i| head[i..].starts_with(LOCAL_HEADER));
    for (name, data) in starts.filter_map(entry) {
        if name == b"mimetype" {
            let known = std::str::from_utf8(data)
                .ok()
                .and_then(|t| FileFormat::from_media_type(t.trim()).first().copied());
            return known.unwrap_or(FileFormat::Zip);
        }
        for (prefix, format) in [
            (&b"word/"[..], FileFormat::OfficeOpenXmlDocument),
            (b"xl/", FileFormat::OfficeOpenXmlSpreadsheet),
            (b"ppt/", FileFormat::OfficeOpenXmlPresentation),
        ] {
            if name.starts_with(prefix) {
                return format;
            }
        }
    }
    FileFormat::Zip
}

/// The markup a browser sniffing `text` would find (WHATWG MIME Sniffing's
/// HTML and XML patterns, with SVG added): served as plain text it is inert,
/// but it is not a document we keep.
fn markup(text: &[u8]) -> Option<FileFormat> {
    const HTML: [&[u8]; 17] = [
        b"<!DOCTYPE HTML",
        b"<HTML",
        b"<HEAD",
        b"<SCRIPT",
        b"<IFRAME",
        b"<H1",
        b"<DIV",
        b"<FONT",
        b"<TABLE",
        b"<A",
        b"<STYLE",
        b"<TITLE",
        b"<B",
        b"<BODY",
        b"<BR",
        b"<P",
        b"<!--",
    ];
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let start = text.iter().position(|b| !b" \t\n\x0C\r".contains(b))?;
    let text = &text[start..];
    let opens = |tag: &[u8]| {
        text.get(..tag.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(tag))
    };
    let tag_ends = |tag: &[u8]| matches!(text.get(tag.len()), Some(b' ' | b'>'));
    if opens(b"<?xml") {
        Some(FileFormat::ExtensibleMarkupLanguage)
    } else if opens(b"<svg") {
        Some(FileFormat::ScalableVectorGraphics)
    } else if HTML.iter().any(|tag| opens(tag) && tag_ends(tag)) {
        Some(FileFormat::HypertextMarkupLanguage)
    } else {
        None
    }
}

/// Why a photo cannot be kept.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    #[error(
        "Location data cannot be removed from {format} photos. Export the photo as JPEG or PNG and upload that."
    )]
    CannotStripLocation { format: String },
    #[error("The photo is damaged: its {format} structure cannot be read.")]
    Unreadable { format: String },
}

/// The photo without its EXIF and XMP metadata (where GPS positions are),
/// nor any other metadata, comment or trailing data, and without
/// re-encoding: JPEG, PNG and WebP. Only the EXIF orientation is kept, so
/// that portrait photos still show upright. Other formats are refused.
pub fn strip_location(bytes: Vec<u8>) -> Result<Vec<u8>, KindError> {
    let format = FileFormat::from_bytes(&bytes);
    let short = format.short_name().unwrap_or(format.name()).to_owned();
    let unreadable = |_| KindError::Unreadable {
        format: short.clone(),
    };
    let bytes = Bytes::from(bytes);
    match format {
        FileFormat::JointPhotographicExpertsGroup => {
            strip_jpeg(Jpeg::from_bytes(bytes).map_err(unreadable)?)
        }
        FileFormat::PortableNetworkGraphics | FileFormat::AnimatedPortableNetworkGraphics => {
            Ok(strip_png(Png::from_bytes(bytes).map_err(unreadable)?))
        }
        FileFormat::Webp => Ok(strip_webp(WebP::from_bytes(bytes).map_err(unreadable)?)),
        _ => Err(KindError::CannotStripLocation { format: short }),
    }
}

/// A minimal EXIF block holding only `orientation`, when the photo is not
/// upright as stored (orientations 2 to 8).
fn orientation_only<I: ImageEXIF>(image: &I) -> Option<Bytes> {
    let orientation = orientation(&image.exif()?)?;
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"MM\0\x2A");
    tiff.extend_from_slice(&8u32.to_be_bytes()); // the first IFD follows
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&ORIENTATION.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // one value
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // the value field's padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    Some(Bytes::from(tiff))
}

const ORIENTATION: u16 = 0x0112;

/// The orientation tag of the first IFD of a TIFF-structured EXIF block.
fn orientation(tiff: &[u8]) -> Option<u16> {
    let big_endian = match tiff.get(..4)? {
        b"MM\0\x2A" => true,
        b"II\x2A\0" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = tiff.get(at..at.checked_add(2)?)?;
        let b = [b[0], b[1]];
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<usize> {
        let b = tiff.get(at..at.checked_add(4)?)?;
        let b = [b[0], b[1], b[2], b[3]];
        usize::try_from(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
        .ok()
    };
    let ifd = u32_at(4)?;
    let entries = u16_at(ifd)?;
    (0..usize::from(entries))
        .find_map(|n| {
            let entry = ifd.checked_add(2 + 12 * n)?;
            let is_orientation = u16_at(entry)? == ORIENTATION && u16_at(entry + 2)? == 3;
            is_orientation.then(|| u16_at(entry + 8)).flatten()
        })
        .filter(|o| (2..=8).contains(o))
}

/// Whether a JPEG segment before the first scan is needed to decode or
/// display the image: frame, tables, scan and restart interval headers, the
/// JFIF header, the ICC colour profile and Adobe's colour transform flag.
/// APP1 (EXIF, XMP), APP13 (IPTC), MPF, comments and vendors' segments go.
fn keep_jpeg_segment(segment: &JpegSegment) -> bool {
    let contents = segment.contents();
    match segment.marker() {
        markers::APP0 => true,
        markers::APP2 => contents.starts_with(b"ICC_PROFILE\0"),
        markers::APP14 => contents.starts_with(b"Adobe"),
        markers::DQT | markers::DHT | markers::DAC | markers::DRI | markers::DNL => true,
        markers::SOS => true,
        marker => (markers::SOF0..=markers::SOF15).contains(&marker) && marker != markers::JPG,
    }
}

fn strip_jpeg(mut jpeg: Jpeg) -> Result<Vec<u8>, KindError> {
    let orientation = orientation_only(&jpeg);
    jpeg.segments_mut().retain(keep_jpeg_segment);
    jpeg.set_exif(orientation);
    // Up to the end of the first scan's header; after it comes the rest of
    // the file as one block, which img-parts does not look into.
    let header_len = 2 + jpeg.segments().iter().map(JpegSegment::len).sum::<usize>();
    let has_rest = jpeg.segments().last().is_some_and(JpegSegment::has_entropy);
    let encoded = jpeg.encoder().bytes();
    if !has_rest {
        return Ok(encoded.to_vec());
    }
    let (header, rest) = encoded.split_at(header_len.min(encoded.len()));
    let mut out = Vec::with_capacity(encoded.len());
    out.extend_from_slice(header);
    scans_of_first_image(rest, &mut out)?;
    Ok(out)
}

/// Copies the entropy-coded data after the first scan header, with the
/// tables and scan headers of any further scans (progressive JPEGs), up to
/// and including the end-of-image marker. Metadata segments between scans
/// and everything after the image (other pictures of a multi-picture file,
/// each with its own EXIF, or a camera maker's trailer) are left out.
fn scans_of_first_image(rest: &[u8], out: &mut Vec<u8>) -> Result<(), KindError> {
    let mut copied_to = 0;
    let mut at = 0;
    while at + 1 < rest.len() {
        if rest[at] != markers::P {
            at += 1;
            continue;
        }
        match rest[at + 1] {
            // A fill byte before a marker.
            markers::P => at += 1,
            // A stuffed 0xFF data byte, a restart marker, TEM: no length.
            markers::Z | markers::RST0..=markers::RST7 | 0x01 => at += 2,
            markers::EOI => {
                out.extend_from_slice(&rest[copied_to..at + 2]);
                return Ok(());
            }
            marker => {
                let len = rest
                    .get(at + 2..at + 4)
                    .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
                    .filter(|&l| l >= 2)
                    .ok_or_else(|| KindError::Unreadable {
                        format: "JPEG".to_owned(),
                    })?;
                let end = (at + 2 + len).min(rest.len());
                if (markers::APP0..=markers::APP15).contains(&marker) || marker == markers::COM {
                    out.extend_from_slice(&rest[copied_to..at]);
                    copied_to = end;
                }
                at = end;
            }
        }
    }
    // A file cut short before its end marker: keep what it has.
    out.extend_from_slice(&rest[copied_to..]);
    Ok(())
}

/// PNG chunks needed to decode and display: the critical ones, transparency,
/// colour and gamma, physical size, and APNG's animation chunks. Text chunks
/// (which carry XMP and EXIF too), eXIf, tIME and private chunks go.
const PNG_KEPT: [&[u8; 4]; 19] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB",
    b"cICP", b"mDCV", b"cLLI", b"bKGD", b"hIST", b"pHYs", b"acTL", b"fcTL", b"fdAT",
];

fn strip_png(mut png: Png) -> Vec<u8> {
    let orientation = orientation_only(&png);
    png.chunks_mut()
        .retain(|chunk| PNG_KEPT.contains(&&chunk.kind()));
    png.set_exif(orientation);
    png.encoder().bytes().to_vec()
}

/// WebP chunks needed to decode and display; EXIF, XMP and unknown chunks go.
const WEBP_KEPT: [&[u8; 4]; 7] = [
    b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP",
];

/// The VP8X header's "has XMP" flag, which img-parts does not update.
const WEBP_XMP_FLAG: u8 = 0b0000_0100;

fn strip_webp(mut webp: WebP) -> Vec<u8> {
    let orientation = orientation_only(&webp);
    webp.chunks_mut()
        .retain(|chunk| WEBP_KEPT.contains(&&chunk.id()));
    // Also sets the VP8X header's EXIF flag, or drops the header when only
    // the image is left.
    webp.set_exif(orientation);
    if let Some(vp8x) = webp.chunks_mut().iter_mut().find(|c| &c.id() == b"VP8X") {
        if let RiffContent::Data(data) = vp8x.content_mut() {
            if let Some(flags) = data.first() {
                let mut header = data.to_vec();
                header[0] = flags & !WEBP_XMP_FLAG;
                *data = Bytes::from(header);
            }
        }
    }
    webp.encoder().bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn segment(marker: u8, contents: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&u16::try_from(contents.len() + 2).unwrap().to_be_bytes());
        s.extend_from_slice(contents);
        s
    }

    /// A little-endian EXIF block: orientation 6 (rotate 90°), a GPS IFD
    /// pointer and a GPS IFD with a latitude reference.
    fn exif_with_gps() -> Vec<u8> {
        let mut t = b"II\x2A\0".to_vec();
        t.extend_from_slice(&8u32.to_le_bytes());
        t.extend_from_slice(&2u16.to_le_bytes());
        t.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]); // Orientation = 6
        t.extend_from_slice(&[0x25, 0x88, 4, 0, 1, 0, 0, 0, 38, 0, 0, 0]); // GPS IFD at 38
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend_from_slice(&[1, 0, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]); // GPSLatitudeRef = "N"
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(b"GPS 51.5074 N 0.1278 W");
        t
    }

    const XMP: &[u8] = b"<x:xmpmeta><rdf:Description exif:GPSLatitude=\"51,30.4N\"/></x:xmpmeta>";

    /// The parts of a JPEG that must survive stripping unchanged.
    fn jpeg_image_parts() -> Vec<Vec<u8>> {
        vec![
            segment(markers::DQT, &[0; 65]),
            segment(markers::SOF0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]),
            segment(markers::DHT, &[0; 17]),
            segment(markers::SOS, &[1, 1, 0, 0, 0x3F, 0]),
            // Entropy-coded data with a stuffed 0xFF and a restart marker.
            vec![0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56],
        ]
    }

    fn jpeg_with_location(between_scans: &[u8]) -> Vec<u8> {
        let mut file = vec![0xFF, 0xD8];
        file.extend(segment(markers::APP0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
        file.extend(segment(
            markers::APP1,
            &[b"Exif\0\0", &exif_with_gps()[..]].concat(),
        ));
        file.extend(segment(
            markers::APP1,
            &[&b"http://ns.adobe.com/xap/1.0/\0"[..], XMP].concat(),
        ));
        file.extend(segment(markers::APP2, b"MPF\0II*\0"));
        file.extend(segment(markers::APP13, b"Photoshop 3.0\08BIM city"));
        file.extend(segment(markers::COM, b"near the GPS mast"));
        file.extend(jpeg_image_parts().concat());
        file.extend_from_slice(between_scans);
        file.extend_from_slice(&[0xFF, 0xD9]);
        // A second picture after the first, as in multi-picture files.
        file.extend_from_slice(&[0xFF, 0xD8]);
        file.extend(segment(
            markers::APP1,
            &[b"Exif\0\0", &exif_with_gps()[..]].concat(),
        ));
        file.extend_from_slice(&[0xFF, 0xD9]);
        file
    }

    fn assert_no_location(out: &[u8]) {
        for secret in [&b"GPS"[..], b"xmpmeta", b"http://ns.adobe", b"MPF", b"city"] {
            assert!(
                !contains(out, secret),
                "{}",
                String::from_utf8_lossy(secret)
            );
        }
    }

    #[test]
    fn jpeg_loses_its_metadata_and_keeps_its_image() {
        let out = strip_location(jpeg_with_location(&[])).unwrap();
        assert_no_location(&out);
        assert!(out.starts_with(&[0xFF, 0xD8]));
        assert!(out.ends_with(&[0xFF, 0xD9]), "nothing after the image");
        assert!(contains(&out, &jpeg_image_parts().concat()));
        assert!(contains(&out, b"JFIF"));
        // Only the orientation remains of the EXIF.
        let jpeg = Jpeg::from_bytes(Bytes::from(out)).unwrap();
        assert_eq!(orientation(&jpeg.exif().unwrap()), Some(6));
        assert_eq!(jpeg.exif().unwrap().len(), 26);
    }

    #[test]
    fn progressive_jpeg_keeps_later_scans_and_loses_metadata_between_them() {
        let second_scan = [
            segment(markers::DHT, &[1; 17]),
            segment(markers::SOS, &[1, 1, 0, 1, 5, 0]),
            vec![0x9A, 0xBC],
        ]
        .concat();
        let between = [segment(markers::APP1, b"Exif\0\0GPS"), second_scan.clone()].concat();
        let out = strip_location(jpeg_with_location(&between)).unwrap();
        assert_no_location(&out);
        assert!(contains(
            &out,
            &[jpeg_image_parts().concat(), second_scan, vec![0xFF, 0xD9]].concat()
        ));
    }

    #[test]
    fn upright_jpeg_gets_no_exif_at_all() {
        let mut file = vec![0xFF, 0xD8];
        file.extend(segment(markers::APP1, b"Exif\0\0II*\0\x08\0\0\0\0\0GPS"));
        file.extend(jpeg_image_parts().concat());
        file.extend_from_slice(&[0xFF, 0xD9]);
        let out = strip_location(file).unwrap();
        assert_eq!(
            out,
            [
                &[0xFF, 0xD8][..],
                &jpeg_image_parts().concat(),
                &[0xFF, 0xD9]
            ]
            .concat()
        );
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&crc32(&[&kind[..], data].concat()).to_be_bytes());
        c
    }

    #[test]
    fn png_loses_its_metadata_and_keeps_its_image() {
        let ihdr = png_chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
        let idat = png_chunk(b"IDAT", b"\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01");
        let iend = png_chunk(b"IEND", b"");
        let file = [
            &b"\x89PNG\r\n\x1A\n"[..],
            &ihdr,
            &png_chunk(b"eXIf", &exif_with_gps()),
            &png_chunk(
                b"iTXt",
                &[&b"XML:com.adobe.xmp\0\0\0\0\0"[..], XMP].concat(),
            ),
            &png_chunk(b"tEXt", b"Raw profile type exif\0GPS"),
            &png_chunk(b"pHYs", &[0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1]),
            &idat,
            &iend,
            b"trailing GPS",
        ]
        .concat();
        let out = strip_location(file).unwrap();
        assert_no_location(&out);
        assert!(contains(&out, &ihdr));
        assert!(out.ends_with(&[idat.clone(), iend].concat()));
        assert!(contains(&out, b"pHYs"));
        let png = Png::from_bytes(Bytes::from(out)).unwrap();
        assert_eq!(orientation(&png.exif().unwrap()), Some(6));
    }

    fn riff_chunk(id: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = id.to_vec();
        c.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        c.extend_from_slice(data);
        if data.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    fn webp(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body = [&b"WEBP"[..], &chunks.concat()].concat();
        riff_chunk(b"RIFF", &body)
    }

    #[test]
    fn webp_loses_its_metadata_and_keeps_its_image() {
        // A 1×1 lossless image.
        let vp8l = riff_chunk(b"VP8L", b"\x2f\x00\x00\x00\x00\x88\x88\x08\x00");
        let flags = 0b0000_1100; // EXIF and XMP
        let file = webp(&[
            riff_chunk(b"VP8X", &[flags, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            vp8l.clone(),
            riff_chunk(b"EXIF", &exif_with_gps()),
            riff_chunk(b"XMP ", XMP),
        ]);
        let out = strip_location(file).unwrap();
        assert_no_location(&out);
        assert!(contains(&out, &vp8l));
        let webp = WebP::from_bytes(Bytes::from(out.clone())).unwrap();
        assert_eq!(orientation(&webp.exif().unwrap()), Some(6));
        let vp8x = webp
            .chunk_by_id(*b"VP8X")
            .unwrap()
            .content()
            .data()
            .unwrap();
        assert_eq!(vp8x[0], 0b0000_1000, "EXIF (the orientation) and no XMP");
        let riff_len = u32::from_le_bytes(out[4..8].try_into().unwrap()) as usize;
        assert_eq!(riff_len + 8, out.len());
    }

    #[test]
    fn other_photo_formats_are_refused_with_their_name() {
        let mut heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
        heic.extend_from_slice(&[0; 64]);
        let err = strip_location(heic).unwrap_err();
        assert!(matches!(&err, KindError::CannotStripLocation { format } if format == "HEIC"));
        assert!(err.to_string().contains("HEIC photos"), "{err}");
        assert!(matches!(
            strip_location(b"GIF89a\x01\0\x01\0\0\0\0;".to_vec()),
            Err(KindError::CannotStripLocation { .. })
        ));
    }

    #[test]
    fn damaged_photos_are_refused() {
        let mut cut = jpeg_with_location(&[]);
        cut.truncate(40);
        assert!(matches!(
            strip_location(cut),
            Err(KindError::Unreadable { .. })
        ));
        let bad_crc = [&b"\x89PNG\r\n\x1A\n"[..], b"\0\0\0\0IEND\0\0\0\0"].concat();
        assert!(matches!(
            strip_location(bad_crc),
            Err(KindError::Unreadable { .. })
        ));
    }

    fn wav() -> Vec<u8> {
        let mut f = b"RIFF\x24\x08\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0data\0\x08\0\0".to_vec();
        f.extend_from_slice(&[0; 2048]);
        f
    }

    fn mp3_frames() -> Vec<u8> {
        [0xFF, 0xFB, 0x90, 0x64]
            .iter()
            .copied()
            .chain([0; 413])
            .collect::<Vec<u8>>()
            .repeat(4)
    }

    fn id3(size: u32, then: &[u8]) -> Vec<u8> {
        let syncsafe = [
            (size >> 21) & 0x7f,
            (size >> 14) & 0x7f,
            (size >> 7) & 0x7f,
            size & 0x7f,
        ];
        let mut f = b"ID3\x04\0\0".to_vec();
        f.extend(syncsafe.iter().map(|&b| b as u8));
        f.extend(std::iter::repeat_n(0, (size as usize).min(60_000)));
        f.extend_from_slice(then);
        f
    }

    fn mp4(brand: &[u8; 4], rest: &[u8]) -> Vec<u8> {
        let mut f = b"\0\0\0\x18ftyp".to_vec();
        f.extend_from_slice(brand);
        f.extend_from_slice(b"\0\0\0\0isommp41");
        f.extend_from_slice(rest);
        f
    }

    /// An MP4 recorded without "fast start": the media data first, larger
    /// than the head, its track list after it.
    fn mp4_media_first(brand: &[u8; 4]) -> Vec<u8> {
        let mut mdat = 10_000_000u32.to_be_bytes().to_vec();
        mdat.extend_from_slice(b"mdat");
        mdat.extend_from_slice(&[0x21; 65_000]);
        mp4(brand, &mdat)
    }

    fn webm() -> Vec<u8> {
        let mut f = vec![
            0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0xF7, 0x81, 0x01,
        ];
        f.extend_from_slice(&[0x42, 0xF2, 0x81, 0x04, 0x42, 0xF3, 0x81, 0x08]);
        f.extend_from_slice(&[0x42, 0x82, 0x84]);
        f.extend_from_slice(b"webm");
        f.extend_from_slice(&[0x42, 0x87, 0x81, 0x04, 0x42, 0x85, 0x81, 0x02]);
        f.extend_from_slice(&[
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        f.extend_from_slice(&[0; 200]);
        f
    }

    fn ogg_opus() -> Vec<u8> {
        let mut f = b"OggS\0\x02".to_vec();
        f.extend_from_slice(&[0; 20]);
        f.extend_from_slice(&[1, 19]);
        f.extend_from_slice(b"OpusHead\x01\x01\x38\x01\x80\xbb\0\0\0\0\0");
        f
    }

    /// The head of a ZIP whose central directory lies past it.
    fn zip_head(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut f = Vec::new();
        for (name, data) in entries {
            f.extend_from_slice(b"PK\x03\x04\x14\0\0\0\0\0\0\0\0\0\0\0\0\0");
            f.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
            f.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
            f.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
            f.extend_from_slice(&0u16.to_le_bytes());
            f.extend_from_slice(name.as_bytes());
            f.extend_from_slice(data);
        }
        f.extend_from_slice(&[0x55; 70_000]);
        f.truncate(64 * 1024);
        f
    }

    fn pe() -> Vec<u8> {
        let mut f = vec![0; 512];
        f[..2].copy_from_slice(b"MZ");
        f[60..64].copy_from_slice(&128u32.to_le_bytes());
        f[128..132].copy_from_slice(b"PE\0\0");
        f
    }

    fn text(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn sniffs_what_fieldwork_uploads() {
        use MediaKind::*;
        let long_text = "Interview transcript — Zoë, Ağustos.\n".repeat(2000);
        // The head ends after the first byte of an "ë".
        let cut = long_text.as_bytes()[..64 * 1024]
            .iter()
            .rposition(|&b| b == 0xC3)
            .unwrap();
        let cut_text = &long_text.as_bytes()[..=cut];
        assert!(
            std::str::from_utf8(cut_text).is_err(),
            "cut inside a character"
        );
        let cases: Vec<(&str, Vec<u8>, Option<MediaKind>, &str)> = vec![
            ("wav", wav(), Some(Audio), "audio/wav"),
            (
                "mp3 with a tag",
                id3(100, &mp3_frames()),
                Some(Audio),
                "audio/mpeg",
            ),
            (
                "mp3 with cover art past the head",
                id3(200_000, &[]),
                Some(Audio),
                "audio/mpeg",
            ),
            ("mp3 frames", mp3_frames(), Some(Audio), "audio/mpeg"),
            ("m4a", mp4(b"M4A ", &[]), Some(Audio), "audio/x-m4a"),
            (
                "mp4 media first",
                mp4_media_first(b"isom"),
                Some(Video),
                "video/mp4",
            ),
            ("3gp", mp4_media_first(b"3gp4"), Some(Video), "video/3gpp"),
            (
                "quicktime",
                mp4(b"qt  ", &[]),
                Some(Video),
                "video/quicktime",
            ),
            ("webm", webm(), Some(Video), "video/webm"),
            ("ogg opus", ogg_opus(), Some(Audio), "audio/opus"),
            ("jpeg", jpeg_with_location(&[]), Some(Photo), "image/jpeg"),
            (
                "png",
                b"\x89PNG\r\n\x1A\n\0\0\0\x0DIHDR".to_vec(),
                Some(Photo),
                "image/png",
            ),
            ("heic", mp4(b"heic", &[]), Some(Photo), "image/heic"),
            (
                "pdf",
                text("%PDF-1.7\n%\u{e2}\u{e3}\n1 0 obj"),
                Some(Document),
                "application/pdf",
            ),
            (
                "docx",
                zip_head(&[
                    ("[Content_Types].xml", b"<Types/>"),
                    ("word/document.xml", b"<w/>"),
                ]),
                Some(Document),
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ),
            (
                "odt",
                zip_head(&[("mimetype", b"application/vnd.oasis.opendocument.text")]),
                Some(Document),
                "application/vnd.oasis.opendocument.text",
            ),
            (
                "markdown",
                text("# Notes\n\nZoë said *this*.\n"),
                Some(Document),
                "text/plain",
            ),
            (
                "long text cut in a character",
                cut_text.to_vec(),
                Some(Document),
                "text/plain",
            ),
            (
                "vtt",
                text("WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n"),
                Some(Document),
                "text/vtt",
            ),
            (
                "srt",
                text("1\n00:00:00,000 --> 00:00:01,000\nHello\n"),
                Some(Document),
                "application/x-subrip",
            ),
            (
                "zip",
                zip_head(&[("notes.txt", b"hello")]),
                None,
                "application/zip",
            ),
            (
                "elf",
                b"\x7FELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3E\0".to_vec(),
                None,
                "application/x-executable",
            ),
            (
                "pe",
                pe(),
                None,
                "application/vnd.microsoft.portable-executable",
            ),
            (
                "html",
                text("<!DOCTYPE html><html><script>x()</script>"),
                None,
                "text/html",
            ),
            (
                "html after a comment",
                text("\n  <!-- x --> <p>hi"),
                None,
                "text/html",
            ),
            (
                "html without doctype",
                text("<body onload=x()>"),
                None,
                "text/html",
            ),
            (
                "svg",
                text("<svg xmlns=\"http://www.w3.org/2000/svg\"><script/></svg>"),
                None,
                "image/svg+xml",
            ),
            (
                "svg after whitespace",
                text("\n <svg onload=x()>"),
                None,
                "image/svg+xml",
            ),
            (
                "xml with svg",
                text("<?xml version=\"1.0\"?>\n<svg/>"),
                None,
                "image/svg+xml",
            ),
            (
                "shell script",
                text("#!/bin/sh\nrm -rf /\n"),
                None,
                "text/x-shellscript",
            ),
            (
                "random bytes",
                vec![0, 159, 146, 150, 1, 2, 3],
                None,
                "application/octet-stream",
            ),
            ("empty", vec![], None, "application/x-empty"),
        ];
        for (what, bytes, kind, media_type) in cases {
            let sniffed = sniff(&bytes);
            assert_eq!(sniffed.kind, kind, "{what}: {sniffed:?}");
            assert_eq!(sniffed.media_type, media_type, "{what}: {sniffed:?}");
        }
    }

    #[test]
    fn accepts_only_what_the_bytes_are() {
        use MediaKind::*;
        let kinds = [Audio, Video, Photo, Document];
        let table: Vec<(&str, Vec<u8>, &[MediaKind])> = vec![
            ("wav", wav(), &[Audio]),
            ("m4a", mp4(b"M4A ", &[]), &[Audio]),
            ("mp4", mp4_media_first(b"isom"), &[Audio, Video]),
            ("3gp", mp4_media_first(b"3gp4"), &[Audio, Video]),
            ("webm", webm(), &[Audio, Video]),
            ("quicktime", mp4(b"qt  ", &[]), &[Video]),
            ("jpeg", jpeg_with_location(&[]), &[Photo]),
            ("pdf", text("%PDF-1.7\n"), &[Document]),
            ("text", text("Field notes\n"), &[Document]),
            ("pe", pe(), &[]),
            ("html", text("<html>"), &[]),
            ("svg", text("<svg/>"), &[]),
            ("zip", zip_head(&[("a", b"b")]), &[]),
        ];
        for (what, bytes, accepted) in table {
            let sniffed = sniff(&bytes);
            for declared in kinds {
                assert_eq!(
                    accepts(declared, &sniffed),
                    accepted.contains(&declared),
                    "{what} declared as {declared:?}"
                );
            }
        }
    }

    #[test]
    fn media_kinds_round_trip_their_names() {
        for kind in MediaKind::ALL {
            assert_eq!(MediaKind::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.label().to_lowercase(), kind.as_str());
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert_eq!(MediaKind::parse("Audio"), None);
        assert_eq!(MediaKind::parse("executable"), None);
    }

    proptest! {
        #[test]
        fn odd_bytes_never_panic(
            prefix in prop::sample::select(vec![
                &b""[..], b"\xFF\xD8\xFF", b"\x89PNG\r\n\x1A\n", b"RIFF\0\0\0\0WEBP", b"PK\x03\x04",
                b"ID3\x04\0\0", b"\0\0\0\x18ftypisom", b"\x1A\x45\xDF\xA3", b"MZ", b"<?xml",
            ]),
            rest in prop::collection::vec(any::<u8>(), 0..600),
        ) {
            let bytes = [prefix, &rest[..]].concat();
            let _ = sniff(&bytes);
            let _ = strip_location(bytes);
        }

        #[test]
        fn odd_exif_never_panics(tiff in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = orientation(&[&b"MM\0\x2A\0\0\0\x08"[..], &tiff].concat());
            let _ = orientation(&[&b"II\x2A\0\x08\0\0\0"[..], &tiff].concat());
        }
    }
}
