//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step either side)
//! through totp-rs, recovery codes, and the enrolment QR code drawn as SVG.
//! No I/O here.

use rand::RngCore;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

pub const STEP_SECONDS: i64 = 30;
pub const RECOVERY_CODE_COUNT: usize = 10;
const ISSUER: &str = "fieldkit";
/// RFC 4226 recommends 160 bits.
const SECRET_BYTES: usize = 20;

/// A TOTP secret. Held in clear only in memory; stored sealed.
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::thread_rng().fill_bytes(&mut bytes);
        TotpSecret(Zeroizing::new(bytes))
    }

    /// The form stored (sealed) and shown for manual entry: RFC 4648 base32.
    pub fn base32(&self) -> String {
        self.totp("-").get_secret_base32()
    }

    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        totp_rs::Secret::Encoded(text.to_owned())
            .to_bytes()
            .ok()
            .map(|b| TotpSecret(Zeroizing::new(b)))
    }

    fn totp(&self, account: &str) -> TOTP {
        TOTP::new_unchecked(
            Algorithm::SHA1,
            6,
            0,
            STEP_SECONDS as u64,
            self.0.to_vec(),
            Some(ISSUER.to_owned()),
            account.to_owned(),
        )
    }

    /// The time step of `code`, if it is the code of the step at `now_ms`, the
    /// one before or the one after, and that step is later than `last_step`
    /// (the last one accepted): a code is never accepted twice.
    pub fn accepted_step(&self, code: &str, now_ms: i64, last_step: i64) -> Option<i64> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp("-");
        let now_step = now_ms / 1000 / STEP_SECONDS;
        (now_step - 1..=now_step + 1)
            .filter(|step| *step > last_step && *step >= 0)
            .find(|step| {
                let expected = totp.generate((*step * STEP_SECONDS) as u64);
                constant_time_eq(expected.as_bytes(), code.as_bytes())
            })
    }

    /// The `otpauth://` URI an authenticator app reads from the QR code.
    pub fn otpauth_uri(&self, account: &str) -> String {
        self.totp(account).get_url()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A QR code of `text` as an inline SVG element: no script, no style
/// attribute (the CSP allows neither), only presentation attributes.
pub fn qr_svg(text: &str) -> String {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("an otpauth URI fits a QR code");
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    // The XML declaration is for a standalone file, not for HTML.
    match svg.find("<svg") {
        Some(at) => svg[at..].to_owned(),
        None => svg,
    }
}

/// Ten recovery codes of 80 random bits each, as five groups of four hex digits.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::thread_rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// A recovery code as typed, in the one form that is hashed: lower case,
/// without spaces or dashes.
pub fn normalise_recovery_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_accepted_once_within_one_step_either_side() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_000_000;
        let step = now / 1000 / STEP_SECONDS;
        let code = secret.totp("-").generate((step * STEP_SECONDS) as u64);
        assert_eq!(secret.accepted_step(&code, now, 0), Some(step));
        assert_eq!(secret.accepted_step(&code, now + 30_000, 0), Some(step));
        assert_eq!(secret.accepted_step(&code, now + 90_000, 0), None);
        assert_eq!(secret.accepted_step(&code, now, step), None);
        assert_eq!(secret.accepted_step("12345", now, 0), None);
    }

    #[test]
    fn secrets_round_trip_through_base32() {
        let secret = TotpSecret::generate();
        let again = TotpSecret::from_base32(&secret.base32()).unwrap();
        assert_eq!(secret.0.as_slice(), again.0.as_slice());
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_normalise() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(
            codes.iter().collect::<std::collections::HashSet<_>>().len(),
            10
        );
        assert_eq!(normalise_recovery_code(&codes[0].to_uppercase()).len(), 20);
    }

    #[test]
    fn the_qr_code_is_an_svg_element_without_style() {
        let svg = qr_svg("otpauth://totp/fieldkit:a%40b.uk?secret=ABC");
        assert!(svg.starts_with("<svg") && !svg.contains("style"));
    }
}
