//! A minimal shell around one `Responder` for checks against a real Linux kernel
//! (`tests/data/kernel-check.sh`): the frame I/O stays in that script, this only decides.
//!
//! Usage: `l2_pipe MAC`, then one command a line on stdin, each answered on stdout:
//! - `acquire ADDR` → `send HEX` for each frame of the first announcement round, then `end`
//! - `release ADDR` → `end`
//! - `frame HEX` (a received Ethernet frame) → `send HEX` if answered, then `end` (the verdict
//!   on stderr)
// The shell owns the clock; the core takes it as a parameter.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::time::Instant;

use porter_l2::{Mac, Responder, Verdict};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn main() {
    let mac = std::env::args()
        .nth(1)
        .and_then(|m| unhex(&m.replace(':', "")))
        .and_then(|b| <[u8; 6]>::try_from(b).ok())
        .map(Mac)
        .unwrap_or_else(|| {
            eprintln!("usage: l2_pipe MAC");
            std::process::exit(2)
        });
    let mut r = Responder::new(mac);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let (cmd, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match (cmd, arg.parse::<IpAddr>()) {
            ("acquire", Ok(addr)) => {
                if let Err(e) = r.acquire(Instant::now(), addr) {
                    eprintln!("{e}");
                }
                while let Some(f) = r.poll_transmit() {
                    let _ = writeln!(out, "send {}", hex(&f.bytes));
                }
            }
            ("release", Ok(addr)) => {
                r.release(addr);
            }
            ("frame", _) => match unhex(arg).map(|f| r.handle_frame(&f)) {
                Some(Verdict::Reply(f)) => {
                    eprintln!("reply {:?}", f);
                    let _ = writeln!(out, "send {}", hex(&f.bytes));
                }
                Some(v) => eprintln!("{v:?}"),
                None => eprintln!("bad hex"),
            },
            _ => eprintln!("unknown command: {line}"),
        }
        let _ = writeln!(out, "end");
        let _ = out.flush();
    }
}
