//! Durations and sizes as people write them (flags and config files).

use crate::ConfigError;

/// "30s", "500ms", "5m", "1h", or plain seconds; in milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, ConfigError> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        (s, 1000.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| ConfigError::BadDuration(s.to_string()))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(ConfigError::NonPositiveDuration(s.to_string()));
    }
    Ok((v * mult).round() as u64)
}

/// "4G", "512M", "100k", or plain bytes.
pub fn parse_bytes(s: &str) -> Result<u64, ConfigError> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: u64 = num
        .parse()
        .map_err(|_| ConfigError::BadSize(s.to_string()))?;
    v.checked_mul(mult)
        .ok_or_else(|| ConfigError::SizeTooLarge(s.to_string()))
}

/// Edit distance (Levenshtein), for "did you mean" hints.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate, if it is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let max = (word.chars().count() / 3).max(1) + 1;
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("2"), Ok(2000));
        assert!(parse_duration_ms("-1s").is_err());
        assert_eq!(parse_bytes("4G"), Ok(4 << 30));
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn typos() {
        assert_eq!(
            did_you_mean("writeable", &["writable", "read_secret"]),
            Some("writable")
        );
        assert_eq!(did_you_mean("mdoe", &["mode", "approval"]), Some("mode"));
        assert_eq!(did_you_mean("zzzzzz", &["mode", "approval"]), None);
    }
}
