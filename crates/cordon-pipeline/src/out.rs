//! cordon's own output: listings, JSON, dry-run specs on stdout ([`outln!`], [`out!`],
//! [`write_stdout`]) and diagnostics on stderr ([`errln!`]). Never `print!`/`println!`/
//! `eprintln!`: those panic when the write fails, and a failed write is ordinary — `cordon
//! policy show | head -1`, `cordon run -- make 2>&1 | head` close the pipe early. cordon ignores
//! SIGPIPE (Rust's default, and the proxy needs it), so a write to a closed pipe returns EPIPE
//! instead of killing the process: a panic there would abort a supervising `cordon run` (the
//! release build has `panic = "abort"`).
//!
//! - stdout closed by its reader (`BrokenPipe`): a quiet end of output. Later writes are
//!   skipped, the command finishes its work (an install is not left half done because its
//!   summary had no reader) and exits with its own status: 0 for a listing (as `| head`
//!   expects of a command whose output was cut, although coreutils die of SIGPIPE: 141 in a
//!   shell), or e.g. `cordon check`'s deny status. Commands whose output has no end (`audit tail
//!   --follow`) stop when [`closed`] says so.
//! - any other stdout error (`ENOSPC` on `> file`, `EIO`): the output is incomplete, and the
//!   command fails with 125 and a message naming it, never a silent success.
//! - stderr: a failed diagnostic cannot be reported anywhere; it is dropped.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Error;

/// Set once stdout's reader is gone.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// True once a write found stdout's reader gone: the rest of the output is dropped.
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

fn result(r: std::io::Result<()>) -> Result<(), Error> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(Error::failed(format!(
            "cannot write the output to stdout: {e}; the output is incomplete (check the disk \
             or file it goes to)"
        ))),
    }
}

/// Writes formatted output to stdout (line-buffered, as `print!`); see the module doc for
/// what a failed write does. Use [`out!`]/[`outln!`].
pub fn write_fmt(args: std::fmt::Arguments) -> Result<(), Error> {
    if closed() {
        return Ok(());
    }
    result(std::io::stdout().lock().write_fmt(args))
}

/// Writes `b` to stdout, as [`write_fmt`].
pub fn write_bytes(b: &[u8]) -> Result<(), Error> {
    if closed() {
        return Ok(());
    }
    result(std::io::stdout().lock().write_all(b))
}

/// Writes `b` to stdout and ends the command: its exit status is success, or 125 when the
/// write failed for another reason than a closed reader.
pub fn write_stdout(b: &[u8]) -> Result<std::process::ExitCode, Error> {
    write_bytes(b)?;
    flush()?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Flushes what stdout still buffers (output not ending in a newline): `main` calls it once the
/// command is done, so that a late failure is reported rather than lost at exit.
pub fn flush() -> Result<(), Error> {
    if closed() {
        return Ok(());
    }
    result(std::io::stdout().lock().flush())
}

/// `print!` that returns `Result<(), cordon_pipeline::Error>` instead of panicking (a closed
/// reader is `Ok`: see [`crate::out`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write_fmt(::std::format_args!($($arg)*))
    };
}

/// `println!` that returns `Result<(), cordon_pipeline::Error>` instead of panicking (a closed
/// reader is `Ok`: see [`crate::out`]).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::write_bytes(b"\n")
    };
    ($($arg:tt)*) => {
        $crate::out::write_fmt(::std::format_args!("{}\n", ::std::format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics: a diagnostic stderr cannot take is dropped.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_reader_is_a_quiet_end_and_other_errors_fail() {
        assert!(result(Err(std::io::Error::other("disk full"))).is_err());
        assert!(!closed());
        assert!(result(Err(std::io::Error::from(ErrorKind::BrokenPipe))).is_ok());
        assert!(closed());
        // Skipped from now on, whatever stdout is.
        assert!(write_fmt(format_args!("x\n")).is_ok());
    }
}
