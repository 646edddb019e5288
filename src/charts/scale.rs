//! Scales: where a number or a category goes on the picture.

/// How many ticks a [`LinearScale`] aims for unless told otherwise.
const DEFAULT_TICKS: usize = 5;
/// Most ticks a scale ever returns, whatever its domain.
const MAX_TICKS: usize = 50;

/// Maps a numeric domain (e.g. scores 0..=2) linearly onto a range of user
/// units (e.g. the plot's height, bottom to top), and proposes round tick
/// values (0, 0.5, 1.0 … or 0, 20, 40 …).
///
/// Never panics: a domain that is not finite becomes 0..1, an empty one is
/// widened, and values are clamped into the range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearScale {
    low: f64,
    high: f64,
    start: f64,
    end: f64,
    tick_count: usize,
}

impl LinearScale {
    /// A scale over exactly `domain` (its two ends in either order) onto
    /// `range` (start, end), aiming at five ticks.
    pub fn new(domain: (f64, f64), range: (f64, f64)) -> Self {
        let (mut low, mut high) = domain;
        if !low.is_finite() || !high.is_finite() {
            (low, high) = (0.0, 1.0);
        }
        if low > high {
            std::mem::swap(&mut low, &mut high);
        }
        if low == high {
            let pad = if low == 0.0 { 1.0 } else { low.abs() * 0.1 };
            (low, high) = (low - pad, high + pad);
            if low == high {
                // Too close to f64's limits to widen: fall back.
                (low, high) = (0.0, 1.0);
            }
        }
        let (start, end) = range;
        let (start, end) = if start.is_finite() && end.is_finite() {
            (start, end)
        } else {
            (0.0, 1.0)
        };
        LinearScale {
            low,
            high,
            start,
            end,
            tick_count: DEFAULT_TICKS,
        }
    }

    /// The same scale aiming at about `count` ticks (at least 2); the
    /// ticks returned may be up to about twice as many, being round.
    pub fn tick_count(self, count: usize) -> Self {
        LinearScale {
            tick_count: count.clamp(2, MAX_TICKS),
            ..self
        }
    }

    /// The same scale with its domain widened to the nearest multiples of
    /// the tick step, so that the first and last ticks are its ends.
    pub fn nice(self) -> Self {
        // Widening can change the step (d3's approach: repeat until the
        // step settles, which takes two or three rounds).
        let mut scale = self;
        for _ in 0..10 {
            let Some(step) = scale.step() else {
                break;
            };
            let low = (scale.low / step).floor() * step;
            let high = (scale.high / step).ceil() * step;
            if !(low.is_finite() && high.is_finite() && low < high) {
                break;
            }
            if low == scale.low && high == scale.high {
                break;
            }
            scale = LinearScale { low, high, ..scale };
        }
        scale
    }

    /// The domain, low end first.
    pub fn domain(&self) -> (f64, f64) {
        (self.low, self.high)
    }

    /// Where `value` goes in the range; values outside the domain are
    /// clamped to its ends, and a value that is not finite goes to the start.
    pub fn map(&self, value: f64) -> f64 {
        if !value.is_finite() {
            return self.start;
        }
        let value = value.clamp(self.low, self.high);
        // Halves keep every difference finite even near f64::MAX; halving
        // is exact, so ordinary values map exactly as without it.
        let t = (value * 0.5 - self.low * 0.5) / (self.high * 0.5 - self.low * 0.5);
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.start + t * (self.end - self.start)
    }

    /// The distance between ticks: 1, 2 or 5 times a power of ten.
    fn step(&self) -> Option<f64> {
        let half_span = self.high * 0.5 - self.low * 0.5;
        nice_step(half_span / self.tick_count as f64 * 2.0)
    }

    /// Round tick values inside the domain, ascending, without duplicates.
    pub fn ticks(&self) -> Vec<f64> {
        let Some(step) = self.step() else {
            return vec![self.low, self.high];
        };
        let first = (self.low / step - 1e-9).ceil();
        let last = (self.high / step + 1e-9).floor();
        let mut ticks: Vec<f64> = Vec::new();
        let mut k = first;
        while k <= last && ticks.len() < MAX_TICKS {
            let mut v = k * step;
            if v.abs() < step * 1e-9 {
                v = 0.0;
            }
            if v.is_finite() && ticks.last().is_none_or(|&prev| v > prev) {
                ticks.push(v);
            }
            k += 1.0;
        }
        if ticks.is_empty() {
            ticks = vec![self.low, self.high];
        }
        ticks
    }

    /// How many decimals tick labels need to show the step exactly (0 for
    /// a step of 20, 1 for 0.5, 2 for 0.25 …).
    pub fn tick_decimals(&self) -> usize {
        let Some(step) = self.step() else {
            return 0;
        };
        (0..=6)
            .find(|&d| {
                let scaled = step * 10f64.powi(d as i32);
                (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0)
            })
            .unwrap_or(6)
    }
}

/// 1, 2 or 5 times a power of ten, near `raw` (None when `raw` is not a
/// positive finite number).
fn nice_step(raw: f64) -> Option<f64> {
    if !(raw.is_finite() && raw > 0.0) {
        return None;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let ratio = raw / magnitude;
    let factor = if ratio >= 50f64.sqrt() {
        10.0
    } else if ratio >= 10f64.sqrt() {
        5.0
    } else if ratio >= 2f64.sqrt() {
        2.0
    } else {
        1.0
    };
    let step = factor * magnitude;
    (step.is_finite() && step > 0.0).then_some(step)
}

/// Ordered categories (time points, items, teams) spaced evenly along a
/// range: each gets a band of [`step`](Self::step) units, with a bar area
/// of [`bandwidth`](Self::bandwidth) inside it and a point at its centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandScale {
    count: usize,
    start: f64,
    end: f64,
    padding: f64,
}

impl BandScale {
    /// `count` categories over `range`; `padding` is the share of each band
    /// left empty around its bar area (clamped to 0..=0.9).
    pub fn new(count: usize, range: (f64, f64), padding: f64) -> Self {
        let (start, end) = if range.0.is_finite() && range.1.is_finite() {
            range
        } else {
            (0.0, 1.0)
        };
        let padding = if padding.is_finite() {
            padding.clamp(0.0, 0.9)
        } else {
            0.0
        };
        BandScale {
            count,
            start,
            end,
            padding,
        }
    }

    /// The length of one category's band, padding included.
    pub fn step(&self) -> f64 {
        (self.end - self.start) / self.count.max(1) as f64
    }

    /// The length of the bar area inside a band.
    pub fn bandwidth(&self) -> f64 {
        self.step() * (1.0 - self.padding)
    }

    /// Where the bar area of category `index` starts.
    pub fn band_start(&self, index: usize) -> f64 {
        self.start + self.step() * (index as f64 + self.padding / 2.0)
    }

    /// The centre of category `index`: its position as a point.
    pub fn center(&self, index: usize) -> f64 {
        self.start + self.step() * (index as f64 + 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// True when `step` is 1, 2 or 5 times a power of ten.
    fn is_round(step: f64) -> bool {
        let magnitude = 10f64.powf(step.log10().floor());
        let ratio = step / magnitude;
        [1.0, 2.0, 5.0, 10.0]
            .iter()
            .any(|f| (ratio - f).abs() < 1e-9)
    }

    #[test]
    fn fixed_domains_get_the_expected_ticks() {
        let s = LinearScale::new((0.0, 2.0), (300.0, 0.0));
        assert_eq!(s.ticks(), vec![0.0, 0.5, 1.0, 1.5, 2.0]);
        assert_eq!(s.tick_decimals(), 1);
        let s = LinearScale::new((0.0, 100.0), (0.0, 500.0));
        assert_eq!(s.ticks(), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(s.tick_decimals(), 0);
        assert_eq!(s.domain(), (0.0, 100.0));
    }

    #[test]
    fn nice_ticks_are_round_and_cover_the_data() {
        let cases = [
            (0.0, 37.0),
            (0.0, 1.37),
            (-3.2, 17.9),
            (0.0, 0.001),
            (12.0, 12.5),
            (0.0, 987_654_321.0),
            (-5.0, -1.0),
            (0.0, 7.0),
            (3.0, 3.0),
            (0.0, 0.0),
        ];
        for (min, max) in cases {
            let s = LinearScale::new((min, max), (0.0, 400.0)).nice();
            let ticks = s.ticks();
            assert!(ticks.len() >= 2, "{min}..{max}: {ticks:?}");
            assert!(ticks[0] <= min, "{min}..{max}: {ticks:?}");
            assert!(*ticks.last().unwrap() >= max, "{min}..{max}: {ticks:?}");
            assert_eq!(s.domain(), (ticks[0], *ticks.last().unwrap()));
            let step = ticks[1] - ticks[0];
            assert!(is_round(step), "{min}..{max}: step {step}");
            for pair in ticks.windows(2) {
                let gap = pair[1] - pair[0];
                assert!((gap - step).abs() <= step * 1e-6, "{min}..{max}: {ticks:?}");
            }
            assert!(ticks.len() <= 12, "{min}..{max}: {ticks:?}");
        }
    }

    #[test]
    fn fewer_ticks_on_request() {
        let s = LinearScale::new((0.0, 1000.0), (0.0, 100.0)).tick_count(2);
        assert_eq!(s.ticks(), vec![0.0, 500.0, 1000.0]);
    }

    #[test]
    fn map_is_linear_clamped_and_total() {
        let s = LinearScale::new((0.0, 2.0), (300.0, 100.0));
        assert_eq!(s.map(0.0), 300.0);
        assert_eq!(s.map(1.0), 200.0);
        assert_eq!(s.map(2.0), 100.0);
        assert_eq!(s.map(5.0), 100.0);
        assert_eq!(s.map(-5.0), 300.0);
        assert_eq!(s.map(f64::NAN), 300.0);
        let odd = LinearScale::new((f64::NAN, f64::INFINITY), (f64::NAN, 1.0));
        assert_eq!(odd.domain(), (0.0, 1.0));
        assert!(odd.map(0.5).is_finite());
        let huge = LinearScale::new((-f64::MAX, f64::MAX), (0.0, 100.0));
        assert_eq!(huge.map(0.0), 50.0);
        assert_eq!(huge.map(f64::MAX), 100.0);
    }

    #[test]
    fn bands_and_points_split_the_range_evenly() {
        let b = BandScale::new(4, (0.0, 400.0), 0.5);
        assert_eq!(b.step(), 100.0);
        assert_eq!(b.bandwidth(), 50.0);
        assert_eq!(b.band_start(1), 125.0);
        assert_eq!(b.center(3), 350.0);
        let one = BandScale::new(1, (0.0, 10.0), 0.0);
        assert_eq!(one.center(0), 5.0);
        let none = BandScale::new(0, (0.0, 10.0), f64::NAN);
        assert!(none.center(0).is_finite() && none.bandwidth().is_finite());
    }
}
