//! Clock times as transcripts write them, read into milliseconds.
//!
//! Each format has its own rule ([`VTT`], [`SRT`], [`WRITTEN`]); all share
//! one reader so that every time is range-checked (minutes and seconds up to
//! 59) and no number can overflow.

/// How one format writes a clock time: `[hours:]minutes:seconds[.fraction]`.
pub(super) struct Clock {
    /// What `a:b` (two parts, no hours) means, if it is allowed.
    short: Short,
    /// What may stand between the seconds and their fraction.
    separators: &'static [char],
    /// How many digits the fraction may have; a minimum of 0 makes it
    /// optional.
    fraction_digits: (usize, usize),
}

enum Short {
    /// Hours are required.
    No,
    /// `mm:ss` with two-digit minutes up to 59, as WebVTT has it.
    TwoDigitMinutes,
    /// `m:ss` with any number of minutes, as people type `[75:30]`.
    AnyMinutes,
}

/// WebVTT: `hh:mm:ss.ttt` or `mm:ss.ttt`, hours of any length.
pub(super) const VTT: Clock = Clock {
    short: Short::TwoDigitMinutes,
    separators: &['.'],
    fraction_digits: (3, 3),
};

/// SRT: `hh:mm:ss,mmm`; a full stop and short fractions are common enough in
/// the wild (and harmless) to accept.
pub(super) const SRT: Clock = Clock {
    short: Short::No,
    separators: &[',', '.'],
    fraction_digits: (1, 3),
};

/// Typed transcripts: `hh:mm:ss`, `mm:ss`, with an optional fraction after
/// `.`, `,` or `-` (f4 and MAXQDA write tenths as `00:01:02-5`).
pub(super) const WRITTEN: Clock = Clock {
    short: Short::AnyMinutes,
    separators: &['.', ',', '-'],
    fraction_digits: (0, 3),
};

impl Clock {
    /// The time `s` stands for, in milliseconds, or `None` if `s` is not a
    /// time in this format.
    pub(super) fn parse(&self, s: &str) -> Option<u64> {
        let (whole, fraction) = match s.split_once(self.separators) {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (s, None),
        };
        let millis = match fraction {
            None if self.fraction_digits.0 == 0 => 0,
            None => return None,
            Some(f) => {
                let (min, max) = self.fraction_digits;
                if f.len() < min.max(1) || f.len() > max {
                    return None;
                }
                let scale = 10u64.pow(u32::try_from(3 - f.len()).ok()?);
                number(f)? * scale
            }
        };
        let mut parts = whole.split(':');
        let (first, second, third) = (parts.next()?, parts.next()?, parts.next());
        if parts.next().is_some() {
            return None;
        }
        let (hours, minutes, seconds) = match third {
            Some(seconds) => (number(first)?, two_digits(second)?, seconds),
            None => match self.short {
                Short::No => return None,
                Short::TwoDigitMinutes => (0, two_digits(first)?, second),
                Short::AnyMinutes => (0, number(first)?, second),
            },
        };
        let seconds = two_digits(seconds)?;
        let minutes_checked = third.is_some() || matches!(self.short, Short::TwoDigitMinutes);
        if seconds > 59 || (minutes_checked && minutes > 59) {
            return None;
        }
        hours
            .checked_mul(60)?
            .checked_add(minutes)?
            .checked_mul(60)?
            .checked_add(seconds)?
            .checked_mul(1000)?
            .checked_add(millis)
    }
}

/// A run of ASCII digits (no sign, no spaces) that fits in a u64.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn two_digits(s: &str) -> Option<u64> {
    if s.len() == 2 {
        number(s)
    } else {
        None
    }
}

/// `ms` as `hh:mm:ss.mmm`, for error messages.
pub(super) fn show(ms: u64) -> String {
    let (s, ms) = (ms / 1000, ms % 1000);
    format!("{:02}:{:02}:{:02}.{ms:03}", s / 3600, s / 60 % 60, s % 60)
}

/// A typed timestamp at the start of `line`: `[00:01:02]`, `(01:02)` or
/// `#00:01:02.5#`, with the rest of the line.
pub(super) fn leading(line: &str) -> Option<(u64, &str)> {
    let close = match line.chars().next()? {
        '[' => ']',
        '(' => ')',
        '#' => '#',
        _ => return None,
    };
    let (inside, rest) = line.get(1..)?.split_once(close)?;
    Some((WRITTEN.parse(inside.trim())?, rest))
}

/// A typed timestamp at the end of `line` (f4 and MAXQDA put one at the end
/// of each paragraph), with the line before it.
pub(super) fn trailing(line: &str) -> Option<(&str, u64)> {
    let open = match line.chars().next_back()? {
        ']' => '[',
        ')' => '(',
        '#' => '#',
        _ => return None,
    };
    let body = &line[..line.len() - 1];
    let (before, inside) = body.rsplit_once(open)?;
    Some((before, WRITTEN.parse(inside.trim())?))
}

/// A timestamp with no brackets at the start of `line` (`00:03:40.5Zack:`,
/// as MAXQDA's focus-group import takes it), with the rest of the line.
pub(super) fn bare(line: &str) -> Option<(u64, &str)> {
    let end = line
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, ':' | '.' | ',' | '-')))
        .unwrap_or(line.len());
    let (stamp, rest) = line.split_at(end);
    Some((WRITTEN.parse(stamp)?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtt_times() {
        assert_eq!(VTT.parse("00:00:03.120"), Some(3_120));
        assert_eq!(VTT.parse("01:02:03.004"), Some(3_723_004));
        assert_eq!(VTT.parse("123:00:00.000"), Some(442_800_000));
        assert_eq!(VTT.parse("0:00:01.000"), Some(1_000));
        assert_eq!(VTT.parse("02:03.450"), Some(123_450));
        for bad in [
            "00:00:03,120",
            "00:00:03.12",
            "00:00:03",
            "2:03.450",
            "60:00.000",
            "00:60:00.000",
            "00:00:60.000",
            "+0:00:01.000",
            "00:00:0a.000",
            "",
            "1:2:3:4.000",
            "99999999999999999999:00:00.000",
        ] {
            assert_eq!(VTT.parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn srt_times() {
        assert_eq!(SRT.parse("00:00:01,000"), Some(1_000));
        assert_eq!(SRT.parse("00:00:01.5"), Some(1_500));
        assert_eq!(SRT.parse("00:01,000"), None);
        assert_eq!(SRT.parse("00:00:01"), None);
    }

    #[test]
    fn written_times() {
        assert_eq!(WRITTEN.parse("00:01:02"), Some(62_000));
        assert_eq!(WRITTEN.parse("75:30"), Some(4_530_000));
        assert_eq!(WRITTEN.parse("00:01:02.5"), Some(62_500));
        assert_eq!(WRITTEN.parse("00:01:02-5"), Some(62_500));
        assert_eq!(WRITTEN.parse("00:01:02,25"), Some(62_250));
        assert_eq!(WRITTEN.parse("10"), None);
        assert_eq!(WRITTEN.parse("00:01:02-"), None);
        assert_eq!(WRITTEN.parse("00:01:02.1234"), None);
        assert_eq!(WRITTEN.parse("18446744073709551:00"), None);
    }

    #[test]
    fn shows_times() {
        assert_eq!(show(3_723_004), "01:02:03.004");
    }

    #[test]
    fn stamps_in_lines() {
        assert_eq!(leading("[00:01:02] P07: hi"), Some((62_000, " P07: hi")));
        assert_eq!(leading("(01:02)x"), Some((62_000, "x")));
        assert_eq!(leading("#00:00:01.5# I: hi"), Some((1_500, " I: hi")));
        assert_eq!(leading("[inaudible] sorry"), None);
        assert_eq!(leading("#"), None);
        assert_eq!(trailing("I: hi #00:00:04-2#"), Some(("I: hi ", 4_200)));
        assert_eq!(trailing("done [01:00]"), Some(("done ", 60_000)));
        assert_eq!(trailing("(laughs)"), None);
        assert_eq!(trailing("#"), None);
        assert_eq!(bare("00:03:40.5Zack: hi"), Some((220_500, "Zack: hi")));
        assert_eq!(bare("10:30"), Some((630_000, "")));
        assert_eq!(bare("Hello"), None);
    }
}
