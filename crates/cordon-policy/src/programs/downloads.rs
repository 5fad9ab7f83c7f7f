//! Where `curl` and `wget` save what they download (`-o F`, `-O`, `wget URL`, ...): running one
//! of those files later in the same command is running downloaded code.

use super::{Call, Program};
use crate::eval::Ev;
use crate::options;
use crate::{Hit, Word};

pub(crate) static CURL_WGET: Program = Program {
    names: &["curl", "wget"],
    check: Some(check),
    ..Program::NONE
};

fn check(ev: &mut Ev, c: &Call, _: &mut Vec<Hit>) {
    ev.record_downloads(c.program, c.args);
}

impl Ev<'_> {
    /// Where `curl` / `wget` save what they download: `-o F`, `-O` (the URL's file name),
    /// `--output-dir D`; `wget URL` (the file name), `-O F`, `-P D`.
    pub(crate) fn record_downloads(&mut self, program: &str, args: &[Word]) {
        let spec = if program == "curl" {
            &options::CURL
        } else {
            &options::WGET
        };
        let p = options::parse(spec, args);
        let urls: Vec<&Word> = p
            .operands()
            .map(|k| &args[k])
            .chain(p.values('\0', "url"))
            .filter(|w| w.text.contains("://"))
            .collect();
        let mut files: Vec<Word> = Vec::new();
        let (out, named, dir) = if program == "curl" {
            (
                p.values('o', "output").cloned().collect::<Vec<_>>(),
                p.has('O', "remote-name") || p.has('\0', "remote-name-all"),
                p.values('\0', "output-dir").last().cloned(),
            )
        } else {
            (
                p.values('O', "output-document")
                    .filter(|w| w.text != "-")
                    .cloned()
                    .collect(),
                true,
                p.values('P', "directory-prefix").last().cloned(),
            )
        };
        files.extend(out);
        if named && (program == "curl" || files.is_empty()) {
            for u in &urls {
                let name = url_file_name(&u.text, program == "wget");
                let text = match &dir {
                    Some(d) => format!("{}/{name}", d.text),
                    None => name,
                };
                files.push(Word {
                    text,
                    known: u.known && dir.as_ref().is_none_or(|d| d.known),
                    glob: false,
                    fetch: false,
                });
            }
        }
        for f in &files {
            self.downloaded(f);
        }
    }
}

/// The file name a download of `url` is saved as (`wget`: `index.html` for a directory).
fn url_file_name(url: &str, wget: bool) -> String {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let name = match path.split_once('/') {
        Some((_, p)) => p.rsplit('/').next().unwrap_or(""),
        None => "",
    };
    if name.is_empty() && wget {
        "index.html".to_string()
    } else {
        name.to_string()
    }
}
