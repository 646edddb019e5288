//! Passwords: the acceptance rules (length, common list, context words, a
//! zxcvbn estimate; no composition rules, per NIST SP 800-63B-4) and
//! Argon2id hashing with the OWASP
//! parameters, run on the blocking pool under a cap so a login flood cannot
//! starve other requests.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// SP 800-63B-4's minimum for a password that is the only factor.
pub const MIN_CHARS_ALONE: usize = 15;
/// Our floor for a password backed by a second factor.
pub const MIN_CHARS: usize = 12;
pub const MAX_BYTES: usize = 1024;
/// The lowest zxcvbn score accepted: 10^10 guesses or more ("safely
/// unguessable: moderate protection from offline slow-hash scenario").
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;
/// Words a guesser tries first against any fieldkit instance.
const INSTANCE_WORDS: [&str; 4] = ["fieldkit", "password", "research", "study"];

/// The common-password list shipped by Django (BSD licence), itself from
/// Royce Williams' list of 20,000 passwords seen in breaches.
const COMMON: &str = include_str!("common-passwords.txt");

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// A password that passed the rules; it can only be hashed, never shown.
pub struct NewPassword(Zeroizing<String>);

impl NewPassword {
    /// Checks a proposed password, the one policy for every place a
    /// password is set or checked against today's rules. `context` holds
    /// words a guesser would try first here: the person's name and email,
    /// study names, site names. A password that is the account's only
    /// factor needs 15 characters; one backed by a second factor, 12.
    pub fn parse(raw: &str, context: &[&str], second_factor: bool) -> Result<NewPassword, String> {
        let chars = raw.chars().count();
        let min = if second_factor {
            MIN_CHARS
        } else {
            MIN_CHARS_ALONE
        };
        if chars < min {
            let why = if second_factor {
                ""
            } else {
                " (12 once you have set up a second factor)"
            };
            return Err(format!(
                "Use at least {min} characters{why}; this has {chars}. A few unrelated words make a good password."
            ));
        }
        if raw.len() > MAX_BYTES {
            return Err(format!("Use at most {MAX_BYTES} bytes."));
        }
        let lower = raw.to_lowercase();
        let core = lower.trim_end_matches(|c: char| !c.is_alphabetic());
        if common().contains(lower.as_str()) || common().contains(core) {
            return Err(
                "This is one of the most common passwords, so it is guessed first. Choose another."
                    .into(),
            );
        }
        if is_repetition(&lower) {
            return Err(
                "This repeats a short pattern, which is guessed quickly. Choose another.".into(),
            );
        }
        let mut rest = lower.clone();
        for word in context_words(context) {
            rest = rest.replace(&word, "");
        }
        let rest: String = rest.chars().filter(|c| c.is_alphanumeric()).collect();
        if rest.chars().count() < 8 {
            return Err("This is mostly made of your name, email or the names of this service and its studies. Choose something unrelated.".into());
        }
        let inputs: Vec<&str> = context
            .iter()
            .chain(INSTANCE_WORDS.iter())
            .copied()
            .collect();
        if zxcvbn::zxcvbn(raw, &inputs).score() < MIN_SCORE {
            return Err("This would be guessed too quickly: it follows a pattern people often use. Add another unrelated word or two.".into());
        }
        Ok(NewPassword(Zeroizing::new(raw.to_owned())))
    }

    /// Whether the password is long enough only because the account has a
    /// second factor: the one who stores it must confirm the factor is still
    /// there, inside the transaction that stores it.
    pub fn relies_on_second_factor(&self) -> bool {
        self.0.chars().count() < MIN_CHARS_ALONE
    }

    /// A password that just verified against a stored hash, to store again with
    /// current parameters. It may predate today's rules; that is for the next change.
    pub(crate) fn already_verified(raw: &str) -> NewPassword {
        NewPassword(Zeroizing::new(raw.to_owned()))
    }
}

fn is_repetition(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    (1..=chars.len() / 2).any(|unit| {
        chars.len().is_multiple_of(unit) && chars.chunks(unit).all(|c| c == &chars[..unit])
    })
}

fn context_words(context: &[&str]) -> Vec<String> {
    let mut words: Vec<String> = context
        .iter()
        .chain(INSTANCE_WORDS.iter())
        .flat_map(|c| c.split(|ch: char| !ch.is_alphanumeric()))
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 4)
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    words.dedup();
    words
}

/// The result of checking a password against a stored hash.
pub struct Verified {
    pub ok: bool,
    /// The stored hash used older parameters; store a fresh one.
    pub needs_rehash: bool,
}

/// Whether a stored hash's parameters are today's. Not `==` on `Params`: one
/// read from a hash knows its output length, today's leaves it to the default.
fn same_cost(stored: &Params, current: &Params) -> bool {
    let cost = |p: &Params| {
        let len = p.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        (p.m_cost(), p.t_cost(), p.p_cost(), len)
    };
    cost(stored) == cost(current)
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

fn argon2() -> Argon2<'static> {
    // OWASP: Argon2id, 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        argon2()
            .hash_password(
                b"fieldkit dummy password",
                &SaltString::generate(&mut rand::thread_rng()),
            )
            .expect("hashing a constant works")
            .to_string()
    })
}

impl PasswordHasher {
    /// At most `concurrent` hashes run at once; each takes 19 MiB and a core.
    pub fn new(concurrent: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await?;
        Ok(tokio::task::spawn_blocking(f).await?)
    }

    pub async fn hash(&self, password: NewPassword) -> anyhow::Result<String> {
        self.blocking(move || {
            let salt = SaltString::generate(&mut rand::thread_rng());
            argon2()
                .hash_password(password.0.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
        })
        .await?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is
    /// no stored hash (an unknown, disabled or not yet activated account), so
    /// every answer costs one Argon2 verification and the time tells nothing.
    pub async fn verify(&self, password: &str, stored: Option<String>) -> anyhow::Result<Verified> {
        let password = Zeroizing::new(password.to_owned());
        self.blocking(move || {
            // The stored hash, if there is one and it parses; otherwise the
            // dummy, whose password must never sign anyone in.
            let stored = stored.filter(|phc| PasswordHash::new(phc).is_ok());
            let genuine = stored.is_some();
            let phc = stored.unwrap_or_else(|| dummy_hash().to_owned());
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return Verified {
                    ok: false,
                    needs_rehash: false,
                };
            };
            // Checked first, whatever `genuine` says: no short cut for unknown accounts.
            let matches = argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            let ok = matches && genuine;
            let needs_rehash = ok
                && (parsed.algorithm != argon2::ARGON2ID_IDENT
                    || !matches!(Params::try_from(&parsed), Ok(p) if same_cost(&p, argon2().params())));
            Verified { ok, needs_rehash }
        })
        .await
    }

    /// Warms the dummy hash so the first unknown-account login is not faster.
    pub fn warm(&self) {
        let _ = dummy_hash();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_are_refused_with_the_reason() {
        let e = NewPassword::parse("short", &[], true).err().unwrap();
        assert!(e.contains("at least 12"), "{e}");
        let e = NewPassword::parse("velvet gorge 7", &[], false)
            .err()
            .unwrap();
        assert!(e.contains("at least 15"), "{e}");
        assert!(NewPassword::parse("velvet gorge 7", &[], true).is_ok());
    }

    #[test]
    fn long_passwords_up_to_1024_bytes_are_accepted() {
        assert!(
            NewPassword::parse(&"correct horse battery ".repeat(50)[..1000], &[], false).is_ok()
        );
        assert!(NewPassword::parse(&"x7q".repeat(400), &[], false).is_err());
    }

    #[test]
    fn no_composition_rules() {
        assert!(NewPassword::parse("plum kettle orbit lantern", &[], false).is_ok());
    }

    #[test]
    fn common_passwords_and_padded_ones_are_refused() {
        assert!(NewPassword::parse("qwertyuiop123", &[], true).is_err());
        let e = NewPassword::parse("password1234567", &[], false)
            .err()
            .unwrap();
        assert!(e.contains("common"), "{e}");
        assert!(NewPassword::parse("aaaaaaaaaaaaaaaa", &[], false).is_err());
    }

    #[test]
    fn context_words_are_refused() {
        let e = NewPassword::parse(
            "RecoveryCollege2024!",
            &["Recovery College co-design"],
            false,
        )
        .err()
        .unwrap();
        assert!(e.contains("mostly made of"), "{e}");
        assert!(NewPassword::parse("RecoveryCollege2024!", &[], false).is_ok());
    }

    #[test]
    fn guessable_patterns_are_refused_by_zxcvbn() {
        let e = NewPassword::parse("iloveyoubaby1234", &[], false)
            .err()
            .unwrap();
        assert!(e.contains("guessed too quickly"), "{e}");
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_do() {
        let h = PasswordHasher::new(2);
        let phc = h
            .hash(NewPassword::parse("plum kettle orbit lantern", &[], false).unwrap())
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            h.verify("plum kettle orbit lantern", Some(phc.clone()))
                .await
                .unwrap()
                .ok
        );
        assert!(
            !h.verify("plum kettle orbit lanterN", Some(phc))
                .await
                .unwrap()
                .ok
        );
        assert!(!h.verify("fieldkit dummy password", None).await.unwrap().ok);
        // A stored hash that does not parse falls back to the dummy, and the
        // dummy's password still opens nothing.
        let broken = Some("not a PHC string".to_owned());
        assert!(
            !h.verify("fieldkit dummy password", broken)
                .await
                .unwrap()
                .ok
        );
    }

    #[tokio::test]
    async fn current_parameters_need_no_rehash() {
        let h = PasswordHasher::new(1);
        let phc = h
            .hash(NewPassword::parse("plum kettle orbit lantern", &[], false).unwrap())
            .await
            .unwrap();
        let v = h
            .verify("plum kettle orbit lantern", Some(phc))
            .await
            .unwrap();
        assert!(v.ok && !v.needs_rehash);
    }

    #[tokio::test]
    async fn weaker_parameters_ask_for_a_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(
            b"plum kettle orbit lantern",
            &SaltString::generate(&mut rand::thread_rng()),
        )
        .unwrap()
        .to_string();
        let v = PasswordHasher::new(1)
            .verify("plum kettle orbit lantern", Some(weak))
            .await
            .unwrap();
        assert!(v.ok && v.needs_rehash);
    }
}
