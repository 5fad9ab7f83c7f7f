//! The relay's threads. One thread reads the client (stdin), one reads the server (its stdout);
//! the main loop receives both and writes: requests of the client are handled in order, and
//! a question asked for one (`ask`) holds back only the client's next messages, never the
//! server's answers.
//!
//! Ends: the client closes its side (end of stdin) → the server's stdin is closed, it is given
//! a moment to exit, then stopped; the server's output ends (it exited or crashed) → every
//! request in flight is answered with an error, and the relay returns so the client sees the
//! server gone. A write to the client that fails (it went away) ends the relay the same way.
//! Every end is recorded.

use std::io::{BufReader, Read, Write};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::gateway::{Gateway, Out};
use crate::wire::{self, Msg};

/// The server process, as the relay needs it.
pub trait Server: Send {
    /// Waits up to `grace` for the process to exit by itself (its stdin is closed by then),
    /// then stops it; returns its status for people (`exit status 0`, `signal 9`).
    fn stop(&mut self, grace: Duration) -> String;
}

enum Ev {
    Client(Msg),
    ClientEnd(String),
    Server(Msg),
    ServerEnd(String),
}

/// How the relay ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The client closed its side or went away.
    Client,
    /// The server's output ended; its status.
    Server(String),
}

const READ_BUF: usize = 64 * 1024;

fn reader(
    r: Box<dyn Read + Send>,
    max: usize,
    tx: mpsc::Sender<Ev>,
    wrap: fn(Msg) -> Ev,
    end: fn(String) -> Ev,
) {
    std::thread::spawn(move || {
        let mut r = BufReader::with_capacity(READ_BUF, r);
        loop {
            match wire::read(&mut r, max) {
                Ok(Some(m)) => {
                    if tx.send(wrap(m)).is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    let _ = tx.send(end("end of stream".into()));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(end(format!("read error: {e}")));
                    return;
                }
            }
        }
    });
}

/// Runs the relay until one side ends.
pub fn run(
    gw: Arc<Gateway>,
    client_in: Box<dyn Read + Send>,
    mut client_out: Box<dyn Write + Send>,
    server_in: Box<dyn Write + Send>,
    server_out: Box<dyn Read + Send>,
    mut server: Box<dyn Server>,
    max_message: usize,
) -> End {
    let (tx, rx) = mpsc::channel();
    reader(
        client_in,
        max_message,
        tx.clone(),
        Ev::Client,
        Ev::ClientEnd,
    );
    reader(server_out, max_message, tx, Ev::Server, Ev::ServerEnd);
    let mut server_in = Some(server_in);
    let mut write_client = |b: &[u8]| client_out.write_all(b).and_then(|_| client_out.flush());
    loop {
        let Ok(ev) = rx.recv() else {
            // Both readers are gone (cannot happen before one of the ends below).
            return End::Client;
        };
        let outs = match ev {
            Ev::Client(m) => gw.from_client(m),
            Ev::Server(m) => gw.from_server(m),
            Ev::ClientEnd(why) => {
                gw.client_gone(&format!("the client closed its side ({why})"));
                drop(server_in.take());
                let _ = server.stop(Duration::from_secs(5));
                return End::Client;
            }
            Ev::ServerEnd(why) => {
                drop(server_in.take());
                let mut status = server.stop(Duration::from_secs(2));
                if why != "end of stream" {
                    status = format!("{status}; its output: {why}");
                }
                for o in gw.server_gone(&status) {
                    if let Out::Client(b) = o {
                        let _ = write_client(&b);
                    }
                }
                return End::Server(status);
            }
        };
        for o in outs {
            match o {
                Out::Client(b) => {
                    if let Err(e) = write_client(&b) {
                        gw.client_gone(&format!("the client stopped reading ({e})"));
                        drop(server_in.take());
                        let _ = server.stop(Duration::from_secs(2));
                        return End::Client;
                    }
                }
                Out::Server(b) => {
                    // A server that stopped reading ends by itself: its output's end is what
                    // the loop waits for.
                    if let Some(w) = server_in.as_mut() {
                        if w.write_all(&b).and_then(|_| w.flush()).is_err() {
                            server_in = None;
                        }
                    }
                }
            }
        }
    }
}
