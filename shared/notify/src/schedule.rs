use pgm_core::ConfigError;
use std::time::Duration;

/// How long to wait before each retry; after the last one a notification is parked (local) or
/// goes to the dead-letter queue (SQS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    /// About four days of growing delays: 1m, 5m, 10m, 30m, 1h, 2h, 6h, 12h, then daily ×3.
    fn default() -> Self {
        let minutes = [1, 5, 10, 30, 60, 120, 360, 720, 1440, 1440, 1440];
        RetrySchedule {
            delays: minutes
                .iter()
                .map(|m| Duration::from_secs(m * 60))
                .collect(),
        }
    }
}

impl RetrySchedule {
    pub fn new(delays: Vec<Duration>) -> RetrySchedule {
        RetrySchedule { delays }
    }

    /// Parses `1s,5s,2m,1h` (the `PGM_NOTIFY_RETRY_SCHEDULE` variable).
    pub fn parse(var: &str, text: &str) -> Result<RetrySchedule, ConfigError> {
        let mut delays = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (digits, unit) = part.split_at(
                part.find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(part.len()),
            );
            let n: u64 = digits.parse().map_err(|_| {
                ConfigError::new(var, format!("`{part}` is not a delay like 30s, 5m or 1h"))
            })?;
            let secs = match unit {
                "ms" => {
                    delays.push(Duration::from_millis(n));
                    continue;
                }
                "s" | "" => n,
                "m" => n * 60,
                "h" => n * 3600,
                "d" => n * 86_400,
                _ => {
                    return Err(ConfigError::new(
                        var,
                        format!("`{part}` has an unknown unit"),
                    ))
                }
            };
            delays.push(Duration::from_secs(secs));
        }
        if delays.is_empty() {
            return Err(ConfigError::new(var, "needs at least one delay"));
        }
        Ok(RetrySchedule { delays })
    }

    /// The wait after the `attempts`-th failed delivery, or `None` when it is time to give up.
    pub fn delay_after(&self, attempts: u32) -> Option<Duration> {
        let index = attempts.checked_sub(1)? as usize;
        self.delays.get(index).copied()
    }

    /// Deliveries tried in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_gives_up() {
        let s = RetrySchedule::default();
        assert_eq!(s.delay_after(1), Some(Duration::from_secs(60)));
        assert!(s.delay_after(2) > s.delay_after(1));
        assert_eq!(s.delay_after(s.max_attempts()), None);
        let total: Duration = (1..s.max_attempts()).filter_map(|a| s.delay_after(a)).sum();
        assert!(
            total > Duration::from_secs(3 * 86_400),
            "retries go on for days"
        );
    }

    #[test]
    fn parses_the_variable() {
        let s = RetrySchedule::parse("V", "500ms, 2s,1m,1h").unwrap();
        assert_eq!(s.delay_after(1), Some(Duration::from_millis(500)));
        assert_eq!(s.delay_after(4), Some(Duration::from_secs(3600)));
        assert_eq!(s.max_attempts(), 5);
        assert_eq!(RetrySchedule::parse("V", "soon").unwrap_err().var, "V");
    }
}
