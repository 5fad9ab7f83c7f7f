//! What the sandbox's processes tell the supervisor, as types. Two pipes carry them:
//!
//! - the **report** pipe, close-on-exec, held by init and the command until its `execve`: empty
//!   at EOF when the command was executed, else one [`Failure`];
//! - the **done** pipe, from init: one [`Exit`] once the command has exited and every other
//!   process of the sandbox is gone.
//!
//! Each message is one `write` (atomic on a pipe: under PIPE_BUF bytes, or the only writer).

/// Why the command did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A protection could not be set up: cordon refuses to run.
    Setup(String),
    /// The user namespace has no power here (e.g. an AppArmor restriction): the supervisor
    /// falls back to Landlock + seccomp.
    UsernsDenied(String),
    /// The command was found but could not be executed (the reason, from execve).
    NotExecutable(String),
    /// The command was not found.
    NotFound,
}

impl Failure {
    pub fn encode(&self) -> Vec<u8> {
        let (tag, text) = match self {
            Failure::Setup(m) => (b'E', m.as_str()),
            Failure::UsernsDenied(m) => (b'U', m.as_str()),
            Failure::NotExecutable(m) => (b'X', m.as_str()),
            Failure::NotFound => (b'N', ""),
        };
        let mut b = Vec::with_capacity(1 + text.len());
        b.push(tag);
        b.extend_from_slice(text.as_bytes());
        b
    }

    /// What the report pipe held at EOF: None when empty (the command ran). Anything
    /// unrecognised is a setup failure, its text kept.
    pub fn decode(b: &[u8]) -> Option<Failure> {
        let (&tag, rest) = b.split_first()?;
        let text = String::from_utf8_lossy(rest).into_owned();
        Some(match tag {
            b'U' => Failure::UsernsDenied(text),
            b'X' => Failure::NotExecutable(text),
            b'N' => Failure::NotFound,
            _ => Failure::Setup(text),
        })
    }
}

/// getrusage(RUSAGE_CHILDREN) of the sandbox's init once everything is reaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub user_us: u64,
    pub sys_us: u64,
    pub max_rss_kib: u64,
}

/// init's last word: the command's exit code, and what every process of the sandbox used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
    pub usage: Option<Usage>,
}

impl Exit {
    pub const LEN: usize = 28;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let u = self.usage.unwrap_or(Usage {
            user_us: 0,
            sys_us: 0,
            max_rss_kib: 0,
        });
        let mut b = [0u8; Self::LEN];
        b[..4].copy_from_slice(&self.code.to_ne_bytes());
        b[4..12].copy_from_slice(&u.user_us.to_ne_bytes());
        b[12..20].copy_from_slice(&u.sys_us.to_ne_bytes());
        b[20..28].copy_from_slice(&u.max_rss_kib.to_ne_bytes());
        b
    }

    /// None without at least the code (init was killed or died before its report).
    pub fn decode(b: &[u8]) -> Option<Exit> {
        let code = i32::from_ne_bytes(b.get(..4)?.try_into().ok()?);
        let word = |i: usize| -> Option<u64> {
            Some(u64::from_ne_bytes(
                b.get(4 + 8 * i..12 + 8 * i)?.try_into().ok()?,
            ))
        };
        let usage = (b.len() == Self::LEN).then(|| Usage {
            user_us: word(0).unwrap_or(0),
            sys_us: word(1).unwrap_or(0),
            max_rss_kib: word(2).unwrap_or(0),
        });
        Some(Exit { code, usage })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_round_trip() {
        for f in [
            Failure::Setup("cannot mount".into()),
            Failure::UsernsDenied("restricted".into()),
            Failure::NotExecutable("Permission denied (os error 13)".into()),
            Failure::NotFound,
        ] {
            assert_eq!(Failure::decode(&f.encode()), Some(f));
        }
        assert_eq!(Failure::decode(b""), None);
        assert_eq!(Failure::decode(b"?odd"), Some(Failure::Setup("odd".into())));
    }

    #[test]
    fn exits_round_trip() {
        let e = Exit {
            code: 130,
            usage: Some(Usage {
                user_us: 1,
                sys_us: 2,
                max_rss_kib: 3,
            }),
        };
        assert_eq!(Exit::decode(&e.encode()), Some(e));
        assert_eq!(
            Exit::decode(&e.encode()[..4]),
            Some(Exit {
                code: 130,
                usage: None
            })
        );
        assert_eq!(Exit::decode(&[1, 2]), None);
    }
}
