//! Dates for the `Date…` operators: ISO 8601 or epoch seconds, as
//! milliseconds since 1970-01-01T00:00:00Z.
//!
//! Accepted: `YYYY-MM-DD`, `YYYY-MM-DDThh:mm`, `…:ss`, `…:ss.f` (1–9 digits),
//! each optionally followed by `Z` or an offset `±hh:mm` / `±hhmm` / `±hh`
//! (no zone means UTC); or epoch seconds `-?\d+(\.\d+)?` (at most 15 integer
//! digits).

pub(crate) fn parse_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if !b.is_empty()
        && b.iter()
            .enumerate()
            .all(|(i, &c)| c.is_ascii_digit() || c == b'.' || (i == 0 && c == b'-'))
    {
        return parse_epoch(s);
    }
    parse_iso(b)
}

fn parse_epoch(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => (i, f),
        Some(_) => return None,
        None => (digits, ""),
    };
    if int.is_empty() || int.len() > 15 || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let ms = frac_ms(frac.as_bytes());
    let total = secs * 1000 + ms;
    Some(if neg { -total } else { total })
}

/// The first three digits of a fraction as milliseconds ("5" → 500).
fn frac_ms(frac: &[u8]) -> i64 {
    let mut ms = 0i64;
    for i in 0..3 {
        ms = ms * 10 + frac.get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    ms
}

fn parse_iso(b: &[u8]) -> Option<i64> {
    let mut cur = Cursor { b, i: 0 };
    let year = cur.digits(4)?;
    cur.expect(b'-')?;
    let month = cur.digits(2)?;
    cur.expect(b'-')?;
    let day = cur.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs_of_day = 0i64;
    let mut ms = 0i64;
    let mut offset_secs = 0i64;
    if cur.eat(b'T') || cur.eat(b't') {
        let hour = cur.digits(2)?;
        cur.expect(b':')?;
        let minute = cur.digits(2)?;
        let mut second = 0;
        if cur.eat(b':') {
            second = cur.digits(2)?;
            if cur.eat(b'.') {
                let start = cur.i;
                while cur.peek().is_some_and(|c| c.is_ascii_digit()) {
                    cur.i += 1;
                }
                let frac = &b[start..cur.i];
                if frac.is_empty() || frac.len() > 9 {
                    return None;
                }
                ms = frac_ms(frac);
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        secs_of_day = hour * 3600 + minute * 60 + second;
        match cur.peek() {
            Some(b'Z' | b'z') => cur.i += 1,
            Some(sign @ (b'+' | b'-')) => {
                cur.i += 1;
                let oh = cur.digits(2)?;
                // `±hh:mm`, `±hhmm` or `±hh`.
                let om = if cur.eat(b':') || cur.peek().is_some() {
                    cur.digits(2)?
                } else {
                    0
                };
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = oh * 3600 + om * 60;
                offset_secs = if sign == b'+' { off } else { -off };
            }
            _ => {}
        }
    }
    if cur.i != b.len() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + secs_of_day - offset_secs) * 1000 + ms)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }

    fn digits(&mut self, n: usize) -> Option<i64> {
        let d = self.b.get(self.i..self.i + n)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(d.iter().fold(0i64, |acc, &c| acc * 10 + i64::from(c - b'0')))
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_ms;

    #[test]
    fn table() {
        let ok: &[(&str, i64)] = &[
            ("1970-01-01", 0),
            ("1970-01-01T00:00:00Z", 0),
            ("2000-03-01T00:00:00Z", 951_868_800_000),
            ("2024-02-29T12:34:56Z", 1_709_210_096_000),
            ("2024-02-29T12:34:56.789Z", 1_709_210_096_789),
            ("2024-02-29T12:34:56.7Z", 1_709_210_096_700),
            ("2024-02-29T12:34Z", 1_709_210_040_000),
            ("2024-02-29T12:34:56", 1_709_210_096_000),
            ("2024-02-29T14:34:56+02:00", 1_709_210_096_000),
            ("2024-02-29T10:34:56-0200", 1_709_210_096_000),
            ("2024-02-29T13:34:56+01", 1_709_210_096_000),
            ("1709210096", 1_709_210_096_000),
            ("1709210096.5", 1_709_210_096_500),
            ("0", 0),
            ("-86400", -86_400_000),
            ("1969-12-31", -86_400_000),
        ];
        for &(s, want) in ok {
            assert_eq!(parse_ms(s), Some(want), "{s}");
        }
        let bad = [
            "",
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-01",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00Zjunk",
            "2024-01-01T",
            "yesterday",
            "1.",
            "-",
            "1234567890123456",
            "12-3",
            "1.2.3",
            "2024-01-01T00:00:00+2",
        ];
        for s in bad {
            assert_eq!(parse_ms(s), None, "{s:?}");
        }
    }
}
