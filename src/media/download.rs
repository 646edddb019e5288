//! Sending a stored file back, decrypted as it goes: the whole file, or the
//! one byte range a player asks for (RFC 9110 Range requests), so a browser
//! can seek in a recording. Audio and video are played inline; everything
//! else is an attachment.

use std::ops::Bound;

use headers::HeaderMapExt;
use poem::http::{header, StatusCode};
use poem::{Body, Request, Response};

use super::kind::MediaKind;
use super::service::Opened;

/// Whether the browser may show the file in the page.
fn inline(kind: MediaKind) -> bool {
    matches!(kind, MediaKind::Audio | MediaKind::Video)
}

/// A range that lies wholly past the end of the file (416).
#[derive(Debug)]
pub struct Unsatisfiable;

/// The single range asked for, as `start..=end` within `len`; None for the
/// whole file (no Range header, several ranges, or a header that does not
/// parse, which RFC 9110 lets a server ignore); Err for a range that lies
/// wholly past the end.
pub fn requested(req: &Request, len: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(range) = req.headers().typed_get::<headers::Range>() else {
        return Ok(None);
    };
    let mut ranges = range.satisfiable_ranges(len);
    // Several ranges, a range that does not parse, and a suffix longer than
    // the file (which `headers` leaves out) are all answered with the whole
    // file (RFC 9110 14.2).
    let (Some(first), None) = (ranges.next(), ranges.next()) else {
        return Ok(None);
    };
    let start = match first.0 {
        Bound::Included(s) => s,
        Bound::Excluded(s) => s + 1,
        Bound::Unbounded => 0,
    };
    let end = match first.1 {
        Bound::Included(e) => e.min(len.saturating_sub(1)),
        Bound::Excluded(e) => e.saturating_sub(1).min(len.saturating_sub(1)),
        Bound::Unbounded => len.saturating_sub(1),
    };
    if len == 0 || start > end || start >= len {
        return Err(Unsatisfiable);
    }
    Ok(Some((start, end)))
}

/// The response for a stored file: 200 with all of it, 206 with the range
/// asked for, or 416 for a range past its end. `file_name` is
/// server-chosen (never the uploaded name, which may identify someone).
pub fn respond(req: &Request, opened: Opened, file_name: &str) -> Response {
    let len = opened.row.size_bytes;
    let disposition = format!(
        "{}; filename=\"{}\"",
        if inline(opened.row.kind) {
            "inline"
        } else {
            "attachment"
        },
        file_name.replace(['"', '\\'], "_")
    );
    let builder = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_DISPOSITION, disposition)
        .content_type(opened.row.media_type.clone());
    match requested(req, len) {
        Err(Unsatisfiable) => Response::builder()
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{len}"))
            .finish(),
        Ok(None) => builder
            .header(header::CONTENT_LENGTH, len)
            .body(Body::from_bytes_stream(
                opened.range(0, len.saturating_sub(1)),
            )),
        Ok(Some((start, end))) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))
            .header(header::CONTENT_LENGTH, end - start + 1)
            .body(Body::from_bytes_stream(opened.range(start, end))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(range: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
        let mut b = Request::builder();
        if let Some(r) = range {
            b = b.header("range", r);
        }
        requested(&b.finish(), len)
    }

    #[test]
    fn one_range_is_served_and_anything_else_gets_the_whole_file() {
        assert_eq!(asked(Some("bytes=0-0"), 300).unwrap(), Some((0, 0)));
        assert_eq!(asked(Some("bytes=-100"), 300).unwrap(), Some((200, 299)));
        assert_eq!(asked(Some("bytes=250-999"), 300).unwrap(), Some((250, 299)));
        for whole in [
            None,
            Some("bytes=-500"),
            Some("bytes=abc"),
            Some("bytes=0-1,5-6"),
        ] {
            assert_eq!(asked(whole, 300).unwrap(), None, "{whole:?}");
        }
        for past in ["bytes=300-", "bytes=400-500", "bytes=-0"] {
            assert!(asked(Some(past), 300).is_err(), "{past}");
        }
    }
}
