//! Media files encrypted at rest, readable from any byte offset.
//!
//! Recordings run to several gigabytes and players seek in them with HTTP
//! Range requests, so a file cannot be one AEAD message: it is cut into
//! segments of [`SEGMENT`] plaintext bytes, each sealed on its own with the
//! STREAM construction (XChaCha20-Poly1305, big-endian 32-bit counter, a
//! last-segment flag). Any segment can then be checked and decrypted alone,
//! while reordering, dropping or truncating segments still fails.
//!
//! Each file has its own random data key, which the caller seals with its key
//! vault; destroying that sealed key makes the file unreadable everywhere it
//! was copied. Every segment also authenticates a caller-chosen binding (the
//! media object's id), so a file moved onto another record does not open.
//!
//! Layout: `MAGIC`, the 19-byte random nonce prefix, then the sealed segments,
//! each its plaintext plus a [`TAG_LEN`]-byte tag. Every segment but the last
//! is full; the last is shorter or full, and empty only for an empty file.
//!
//! Nothing here does I/O, so the same code serves async upload and download
//! paths and is tested without files.

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use chacha20poly1305::XChaCha20Poly1305;
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

/// A file's own key, wiped from memory when dropped.
pub type DataKey = Zeroizing<[u8; 32]>;

/// Plaintext bytes per segment: large enough that the tags cost 0.02 %,
/// small enough that a seek decrypts little it does not send.
pub const SEGMENT: usize = 64 * 1024;

/// Bytes the tag adds to each segment.
pub const TAG_LEN: usize = 16;

/// Marks the file as ours and its format's version, so a stray or older file
/// is told apart from a damaged one.
const MAGIC: &[u8; 18] = b"fieldkit-media/v1\n";

/// The random part of every segment's nonce: XChaCha's 24 bytes less the
/// STREAM counter (4) and last-segment flag (1).
const NONCE_PREFIX_LEN: usize = 19;

/// Bytes before the first segment.
pub const HEADER_LEN: usize = MAGIC.len() + NONCE_PREFIX_LEN;

/// A full segment as stored.
const SEALED: u64 = (SEGMENT + TAG_LEN) as u64;

type Stream = StreamBE32<XChaCha20Poly1305>;

/// Why a file does not decrypt. The messages name no content: they may reach
/// logs.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    #[error("not an encrypted media file")]
    NotMediaFile,
    #[error("the encrypted media file is truncated")]
    Truncated,
    #[error("the encrypted media file does not open with this key for this record")]
    DoesNotOpen,
}

/// A fresh random data key for one file.
pub fn new_data_key() -> DataKey {
    let mut key = DataKey::default();
    OsRng.fill_bytes(key.as_mut_slice());
    key
}

fn stream(key: &DataKey, nonce_prefix: [u8; NONCE_PREFIX_LEN]) -> Stream {
    Stream::new(
        GenericArray::from_slice(key.as_slice()),
        &GenericArray::from(nonce_prefix),
    )
}

/// The number of segments a plaintext of `plaintext_len` bytes is cut into:
/// at least one, so that even an empty file carries a tag.
fn segment_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(SEGMENT as u64).max(1)
}

/// The whole encrypted file's length, header included, for a plaintext of
/// `plaintext_len` bytes.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    (HEADER_LEN as u64)
        .saturating_add(plaintext_len)
        .saturating_add(segment_count(plaintext_len).saturating_mul(TAG_LEN as u64))
}

/// The plaintext length of an encrypted file of `ciphertext_len` bytes
/// (header included); `Truncated` for a length no file of ours has.
pub fn plaintext_len(ciphertext_len: u64) -> Result<u64, CryptError> {
    let body = ciphertext_len
        .checked_sub(HEADER_LEN as u64)
        .ok_or(CryptError::Truncated)?;
    let segments = body.div_ceil(SEALED).max(1);
    let last = body - (segments - 1) * SEALED;
    // Only an empty file's last segment is a bare tag.
    if last < TAG_LEN as u64 || (segments > 1 && last == TAG_LEN as u64) {
        return Err(CryptError::Truncated);
    }
    Ok(body - segments * TAG_LEN as u64)
}

/// Encrypts a file as its plaintext arrives, holding at most one segment.
pub struct Encryptor {
    stream: Stream,
    binding: Vec<u8>,
    position: u32,
    /// Plaintext not yet sealed, at most `SEGMENT` bytes: a full segment is
    /// held until more plaintext shows it is not the last. Wiped on drop, as
    /// an abandoned upload leaves plaintext here.
    pending: Zeroizing<Vec<u8>>,
}

impl Encryptor {
    /// Starts a file under `key`, bound to `binding`; returns the header to
    /// write first.
    pub fn new(key: &DataKey, binding: &[u8]) -> (Encryptor, Vec<u8>) {
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        OsRng.fill_bytes(&mut nonce_prefix);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&nonce_prefix);
        let encryptor = Encryptor {
            stream: stream(key, nonce_prefix),
            binding: binding.to_vec(),
            position: 0,
            pending: Zeroizing::new(Vec::with_capacity(SEGMENT + TAG_LEN)),
        };
        (encryptor, header)
    }

    /// Takes more plaintext, appending to `out` every segment now known not
    /// to be the last.
    ///
    /// # Panics
    ///
    /// Past 2^32 segments (256 TiB), which no upload limit allows.
    pub fn push(&mut self, mut plaintext: &[u8], out: &mut Vec<u8>) {
        while !plaintext.is_empty() {
            if self.pending.len() == SEGMENT {
                self.seal(false, out);
            }
            let room = SEGMENT - self.pending.len();
            let (now, rest) = plaintext.split_at(room.min(plaintext.len()));
            self.pending.extend_from_slice(now);
            plaintext = rest;
        }
    }

    /// Appends the last segment, sealed as last so that a file cut short at
    /// a segment boundary does not pass for whole.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.seal(true, out);
    }

    fn seal(&mut self, last: bool, out: &mut Vec<u8>) {
        self.stream
            .encrypt_in_place(self.position, last, &self.binding, &mut *self.pending)
            // Sealing fails only past ChaCha20's 256 GiB per message or when
            // the buffer cannot grow; a segment is 64 KiB in a Vec.
            .expect("sealing a segment into a Vec cannot fail");
        out.extend_from_slice(&self.pending);
        self.pending.clear();
        if !last {
            self.position = self
                .position
                .checked_add(1)
                .expect("a media file has at most 2^32 segments");
        }
    }
}

/// Opens the segments of one encrypted file.
pub struct Decryptor {
    stream: Stream,
    binding: Vec<u8>,
}

impl Decryptor {
    /// Reads the file's `header` (its first [`HEADER_LEN`] bytes).
    pub fn new(key: &DataKey, binding: &[u8], header: &[u8]) -> Result<Decryptor, CryptError> {
        let nonce_prefix = header
            .strip_prefix(MAGIC.as_slice())
            .and_then(|rest| <[u8; NONCE_PREFIX_LEN]>::try_from(rest).ok())
            .ok_or(CryptError::NotMediaFile)?;
        Ok(Decryptor {
            stream: stream(key, nonce_prefix),
            binding: binding.to_vec(),
        })
    }

    /// Decrypts segment `index` in place: `segment` holds it as stored and
    /// is left holding its plaintext. `is_last` must say whether it is the
    /// file's last segment ([`SegmentPlan::is_last`]); nothing is decrypted
    /// unless the whole segment authenticates.
    pub fn segment(
        &self,
        index: u64,
        is_last: bool,
        segment: &mut Vec<u8>,
    ) -> Result<(), CryptError> {
        let len = segment.len() as u64;
        if len < TAG_LEN as u64 || (!is_last && len < SEALED) {
            return Err(CryptError::Truncated);
        }
        if len > SEALED {
            return Err(CryptError::DoesNotOpen);
        }
        let position = u32::try_from(index).map_err(|_| CryptError::DoesNotOpen)?;
        self.stream
            .decrypt_in_place(position, is_last, &self.binding, segment)
            .map_err(|_| CryptError::DoesNotOpen)
    }
}

/// What to read from an encrypted file to serve plaintext bytes
/// `start..=end`, and what to keep of it.
///
/// Read [`SegmentPlan::file_len`] bytes from [`SegmentPlan::file_offset`],
/// one segment at a time: for each index in [`SegmentPlan::segments`], read
/// [`SegmentPlan::segment_len`] bytes, decrypt them with
/// [`Decryptor::segment`] and [`SegmentPlan::is_last`], and send
/// [`SegmentPlan::trim`] of the plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentPlan {
    /// The first segment to read.
    pub first_segment: u64,
    /// How many segments to read; 0 when the range is empty.
    pub segment_count: u64,
    /// Where the first segment starts in the file.
    pub file_offset: u64,
    /// How many file bytes the segments take, tags included.
    pub file_len: u64,
    /// Plaintext bytes of the first segment that come before `start`.
    pub skip: usize,
    /// Plaintext bytes to send in all.
    pub take: u64,
    plaintext_len: u64,
}

/// Plans reading plaintext bytes `start..=end_inclusive` of a file whose
/// plaintext is `plaintext_len` bytes. An end past the file is cut to its
/// last byte; a range that is empty or starts past the end plans nothing.
pub fn plan(plaintext_len: u64, start: u64, end_inclusive: u64) -> SegmentPlan {
    let segment = SEGMENT as u64;
    let end = end_inclusive.min(plaintext_len.saturating_sub(1));
    if plaintext_len == 0 || start > end {
        return SegmentPlan {
            first_segment: 0,
            segment_count: 0,
            file_offset: HEADER_LEN as u64,
            file_len: 0,
            skip: 0,
            take: 0,
            plaintext_len,
        };
    }
    let first_segment = start / segment;
    let last_segment = end / segment;
    let file_offset = (HEADER_LEN as u64).saturating_add(first_segment.saturating_mul(SEALED));
    let file_end = (HEADER_LEN as u64)
        .saturating_add((last_segment + 1).saturating_mul(SEALED))
        .min(ciphertext_len(plaintext_len));
    SegmentPlan {
        first_segment,
        segment_count: last_segment - first_segment + 1,
        file_offset,
        file_len: file_end.saturating_sub(file_offset),
        // Less than SEGMENT, which fits in usize.
        skip: (start % segment) as usize,
        take: end - start + 1,
        plaintext_len,
    }
}

impl SegmentPlan {
    /// The indices of the segments to read, in file order.
    pub fn segments(&self) -> std::ops::Range<u64> {
        self.first_segment..self.first_segment + self.segment_count
    }

    /// Whether segment `index` is the file's last, as decryption must know.
    pub fn is_last(&self, index: u64) -> bool {
        index == segment_count(self.plaintext_len) - 1
    }

    /// The stored length of segment `index`, tag included; 0 past the end.
    pub fn segment_len(&self, index: u64) -> usize {
        let last = segment_count(self.plaintext_len) - 1;
        if index < last {
            SEALED as usize
        } else if index == last {
            // At most SEGMENT, so it fits in usize.
            (self.plaintext_len - last * SEGMENT as u64) as usize + TAG_LEN
        } else {
            0
        }
    }

    /// The part of segment `index`'s `plaintext` that lies in the range.
    pub fn trim<'a>(&self, index: u64, plaintext: &'a [u8]) -> &'a [u8] {
        let segment_start = index.saturating_mul(SEGMENT as u64);
        let start = self.first_segment * SEGMENT as u64 + self.skip as u64;
        let end = start + self.take;
        let from = start.saturating_sub(segment_start);
        let to = end.saturating_sub(segment_start);
        let from = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(plaintext.len());
        let to = usize::try_from(to)
            .unwrap_or(usize::MAX)
            .min(plaintext.len());
        plaintext.get(from..to).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Encrypts `plain` pushing it in pieces of the sizes in `pieces`, cycled.
    fn encrypt(key: &DataKey, binding: &[u8], plain: &[u8], pieces: &[usize]) -> Vec<u8> {
        let (mut encryptor, mut file) = Encryptor::new(key, binding);
        let mut rest = plain;
        let mut sizes = pieces.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).min(rest.len());
            let mut out = Vec::new();
            encryptor.push(&rest[..n], &mut out);
            assert_eq!(out.len() as u64 % SEALED, 0, "push writes whole segments");
            file.extend_from_slice(&out);
            rest = &rest[n..];
        }
        encryptor.finish(&mut file);
        file
    }

    /// Reads `start..=end` as the download path does: segment by segment
    /// from the planned region of the file.
    fn read_range(
        key: &DataKey,
        binding: &[u8],
        file: &[u8],
        plaintext_len: u64,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>, CryptError> {
        let decryptor = Decryptor::new(key, binding, &file[..HEADER_LEN.min(file.len())])?;
        let plan = plan(plaintext_len, start, end);
        let mut offset = plan.file_offset as usize;
        let mut read = 0;
        let mut sent = Vec::new();
        for index in plan.segments() {
            let len = plan.segment_len(index);
            let mut segment = file[offset.min(file.len())..(offset + len).min(file.len())].to_vec();
            offset += len;
            read += len as u64;
            decryptor.segment(index, plan.is_last(index), &mut segment)?;
            sent.extend_from_slice(plan.trim(index, &segment));
        }
        assert_eq!(read, plan.file_len);
        assert_eq!(sent.len() as u64, plan.take);
        Ok(sent)
    }

    fn read_all(key: &DataKey, binding: &[u8], file: &[u8]) -> Result<Vec<u8>, CryptError> {
        let len = plaintext_len(file.len() as u64)?;
        read_range(key, binding, file, len, 0, len.saturating_sub(1))
    }

    #[test]
    fn round_trips_every_size_around_segment_edges() {
        let key = new_data_key();
        for size in [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 17] {
            let plain = pattern(size);
            for pieces in [&[1usize, 7, 4093][..], &[SEGMENT + 3], &[100_000, 13]] {
                let file = encrypt(&key, b"object-1", &plain, pieces);
                assert_eq!(
                    file.len() as u64,
                    ciphertext_len(size as u64),
                    "size {size}"
                );
                assert_eq!(plaintext_len(file.len() as u64).unwrap(), size as u64);
                assert_eq!(
                    read_all(&key, b"object-1", &file).unwrap(),
                    plain,
                    "size {size}"
                );
            }
        }
    }

    #[test]
    fn an_empty_file_is_one_authenticated_empty_segment() {
        let key = new_data_key();
        let file = encrypt(&key, b"b", &[], &[1]);
        assert_eq!(file.len(), HEADER_LEN + TAG_LEN);
        let decryptor = Decryptor::new(&key, b"b", &file[..HEADER_LEN]).unwrap();
        let mut segment = file[HEADER_LEN..].to_vec();
        decryptor.segment(0, true, &mut segment).unwrap();
        assert!(segment.is_empty());
        let mut segment = file[HEADER_LEN..].to_vec();
        assert!(Decryptor::new(&key, b"c", &file[..HEADER_LEN])
            .unwrap()
            .segment(0, true, &mut segment)
            .is_err());
    }

    const SMALL: usize = 3 * SEGMENT + 17;

    fn small_file() -> &'static (DataKey, Vec<u8>, Vec<u8>) {
        static FILE: OnceLock<(DataKey, Vec<u8>, Vec<u8>)> = OnceLock::new();
        FILE.get_or_init(|| {
            let key = new_data_key();
            let plain = pattern(SMALL);
            let file = encrypt(&key, b"object-1", &plain, &[5000]);
            (key, plain, file)
        })
    }

    #[test]
    fn ranges_at_segment_edges_decrypt_to_their_slice() {
        let (key, plain, file) = small_file();
        let s = SEGMENT;
        let edges = [
            0,
            1,
            s - 1,
            s,
            s + 1,
            2 * s - 1,
            2 * s,
            3 * s - 1,
            3 * s,
            SMALL - 1,
        ];
        for &start in &edges {
            for &end in edges.iter().filter(|&&e| e >= start) {
                let got = read_range(
                    key,
                    b"object-1",
                    file,
                    SMALL as u64,
                    start as u64,
                    end as u64,
                );
                assert_eq!(got.unwrap(), &plain[start..=end], "{start}..={end}");
            }
        }
    }

    #[test]
    fn empty_and_out_of_bounds_ranges_plan_nothing() {
        for (len, start, end) in [
            (0, 0, 0),
            (10, 5, 4),
            (10, 10, 20),
            (10, u64::MAX, u64::MAX),
        ] {
            let plan = plan(len, start, end);
            assert!(plan.segments().is_empty(), "{len} {start} {end}");
            assert_eq!((plan.file_len, plan.take), (0, 0));
        }
        // An end past the file is cut to its last byte.
        let plan = plan(10, 3, u64::MAX);
        assert_eq!((plan.take, plan.skip, plan.segment_count), (7, 3, 1));
    }

    #[test]
    fn a_flipped_byte_anywhere_fails() {
        let (key, _, file) = small_file();
        // In the magic, the nonce prefix, a segment's body, a tag, the last segment.
        for at in [
            0,
            HEADER_LEN - 1,
            HEADER_LEN + 10,
            HEADER_LEN + SEGMENT + 3,
            file.len() - 1,
        ] {
            let mut bad = file.clone();
            bad[at] ^= 0x01;
            assert!(read_all(key, b"object-1", &bad).is_err(), "byte {at}");
        }
        let mut bad = file.clone();
        bad[0] ^= 0x01;
        assert!(matches!(
            Decryptor::new(key, b"object-1", &bad[..HEADER_LEN]),
            Err(CryptError::NotMediaFile)
        ));
        assert!(matches!(
            Decryptor::new(key, b"object-1", &file[..HEADER_LEN - 1]),
            Err(CryptError::NotMediaFile)
        ));
    }

    #[test]
    fn swapped_segments_fail() {
        let (key, _, file) = small_file();
        let mut swapped = file.clone();
        let (a, b) = (HEADER_LEN, HEADER_LEN + SEALED as usize);
        let first = file[a..b].to_vec();
        swapped.copy_within(b..b + SEALED as usize, a);
        swapped[b..b + SEALED as usize].copy_from_slice(&first);
        assert!(matches!(
            read_all(key, b"object-1", &swapped),
            Err(CryptError::DoesNotOpen)
        ));
    }

    #[test]
    fn a_file_cut_at_a_segment_boundary_fails() {
        let (key, _, file) = small_file();
        // Without its short last segment the file has a plausible length...
        let cut = &file[..HEADER_LEN + 3 * SEALED as usize];
        assert_eq!(plaintext_len(cut.len() as u64).unwrap(), 3 * SEGMENT as u64);
        // ...but its new last segment was not sealed as last.
        assert!(matches!(
            read_all(key, b"object-1", cut),
            Err(CryptError::DoesNotOpen)
        ));
        // Cut inside a segment, the length itself gives it away, and so does
        // a short read of a segment that is not the last.
        let cut = &file[..file.len() - 20];
        assert!(matches!(
            plaintext_len(cut.len() as u64),
            Err(CryptError::Truncated)
        ));
        let decryptor = Decryptor::new(key, b"object-1", &file[..HEADER_LEN]).unwrap();
        let mut short = file[HEADER_LEN..HEADER_LEN + 100].to_vec();
        assert!(matches!(
            decryptor.segment(0, false, &mut short),
            Err(CryptError::Truncated)
        ));
    }

    #[test]
    fn a_wrong_binding_or_key_fails() {
        let (key, _, file) = small_file();
        assert!(matches!(
            read_all(key, b"object-2", file),
            Err(CryptError::DoesNotOpen)
        ));
        assert!(matches!(
            read_all(&new_data_key(), b"object-1", file),
            Err(CryptError::DoesNotOpen)
        ));
        assert!(read_all(key, b"object-1", file).is_ok());
    }

    #[test]
    fn the_ciphertext_shows_no_plaintext() {
        let key = new_data_key();
        let run: Vec<u8> = pattern(1024).repeat(200);
        let file = encrypt(&key, b"b", &run, &[4096]);
        let probe = &run[..32];
        assert!(!file.windows(probe.len()).any(|w| w == probe));
        // A fresh nonce prefix per file: the same plaintext under the same
        // key never gives the same bytes.
        assert_ne!(
            encrypt(&key, b"b", &run, &[4096])[HEADER_LEN..],
            file[HEADER_LEN..]
        );
    }

    #[test]
    fn lengths_outside_any_file_are_refused() {
        assert!(plaintext_len(0).is_err());
        assert!(plaintext_len((HEADER_LEN + TAG_LEN - 1) as u64).is_err());
        assert_eq!(plaintext_len((HEADER_LEN + TAG_LEN) as u64).unwrap(), 0);
        // A full segment followed by a bare tag is never written.
        assert!(plaintext_len(HEADER_LEN as u64 + SEALED + TAG_LEN as u64).is_err());
    }

    proptest! {
        // Each case decrypts up to four segments; the edges are covered above.
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_range_decrypts_to_its_slice(start in 0..SMALL, len in 1..SMALL) {
            let (key, plain, file) = small_file();
            let end = (start + len - 1).min(SMALL - 1);
            let got = read_range(key, b"object-1", file, SMALL as u64, start as u64, end as u64);
            prop_assert_eq!(got.unwrap(), &plain[start..=end]);
        }

        #[test]
        fn lengths_round_trip(len in 0..u64::MAX / 2) {
            prop_assert_eq!(plaintext_len(ciphertext_len(len)).unwrap(), len);
        }

        #[test]
        fn any_length_is_judged_without_panicking(len: u64) {
            if let Ok(plain) = plaintext_len(len) {
                prop_assert_eq!(ciphertext_len(plain), len);
            }
        }

        #[test]
        fn plans_cover_their_range(len: u64, start: u64, span in 0..1u64 << 24) {
            let plan = plan(len, start, start.saturating_add(span));
            let read: u64 = plan.segments().map(|i| plan.segment_len(i) as u64).sum();
            prop_assert_eq!(read, plan.file_len);
            prop_assert!(plan.file_offset + plan.file_len <= ciphertext_len(len));
            prop_assert!(plan.skip < SEGMENT);
        }
    }
}
