//! The CLI's exit codes against a hostile network: a `billtap sandbox` process with injected
//! faults (a replayed signature, a forged one, a load balancer's 503) and raw TCP servers
//! that redirect or send 300 MB. 3 unreachable, 4 untrusted, 1 unknown to the platform.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{SandboxProcess, billtap, post, sandbox};

fn fault(sb: &SandboxProcess, path: &str, fault: &str, count: u32) {
    let body = format!(r#"{{"path_prefix":"{path}","fault":"{fault}","count":{count}}}"#);
    assert_eq!(post(&sb.url, "/admin/faults", Some("t0ken"), &body), 204);
}

/// A raw TCP server answering every connection with `reply` (a function of nothing), counting
/// connections; returns its URL.
fn raw_server(reply: fn(&mut TcpStream), hits: Arc<AtomicUsize>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            hits.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            reply(&mut s);
        }
    });
    url
}

#[test]
fn exit_codes_say_what_kind_of_failure_it_was() {
    let sb = sandbox("t0ken");
    let platform = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--platform", &sb.url, "--key", &sb.key]);
        billtap(&all)
    };
    // Admin calls need the token.
    let body = r#"{"path_prefix":"/v1/catalog","fault":"replay"}"#;
    assert_eq!(post(&sb.url, "/admin/faults", None, body), 401);
    assert_eq!(post(&sb.url, "/admin/faults", Some("wrong"), body), 401);

    assert_eq!(platform(&["catalog"]).0, 0);
    fault(&sb, "/v1/catalog", "replay", 1);
    let (code, _, err) = platform(&["catalog"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("another request"), "{err}");
    fault(&sb, "/v1/billers", "bad_signature", 1);
    assert_eq!(platform(&["billers", "search", "水"]).0, 4);
    fault(&sb, "/v1/billers", "unsigned_503", 3);
    let (code, _, err) = platform(&["billers", "search", "水"]);
    assert_eq!(code, 3, "{err}");
    // The platform knows no such biller: nothing found.
    let (code, _, err) = platform(&[
        "bills",
        "lookup",
        "--biller",
        "XX-NONE-001",
        "--field",
        "account=1",
    ]);
    assert_eq!(code, 1, "{err}");

    // A redirect: unreachable (3), and its target never hears of the account.
    let target_hits = Arc::new(AtomicUsize::new(0));
    let target = raw_server(
        |s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        },
        target_hits.clone(),
    );
    static TARGET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TARGET.set(target).unwrap();
    let redirector = raw_server(
        |s| {
            let to = TARGET.get().unwrap();
            let _ = write!(
                s,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}/v1/bills/lookup\r\nContent-Length: 0\r\n\r\n"
            );
        },
        Arc::new(AtomicUsize::new(0)),
    );
    let (code, _, err) = billtap(&[
        "bills",
        "lookup",
        "--biller",
        "BJ-WATER-001",
        "--field",
        "account=110105-3345-0871",
        "--platform",
        &redirector,
        "--key",
        &sb.key,
    ]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(target_hits.load(Ordering::SeqCst), 0);

    // 300 MB announced and streamed: untrusted (4), refused at the limit.
    let huge = raw_server(
        |s| {
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 314572800\r\n\r\n",
            );
            let chunk = vec![b' '; 1 << 16];
            for _ in 0..4800 {
                if s.write_all(&chunk).is_err() {
                    break;
                }
            }
        },
        Arc::new(AtomicUsize::new(0)),
    );
    let (code, _, err) = billtap(&["catalog", "--platform", &huge, "--key", &sb.key]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("larger than"), "{err}");

    // Plain http to another host, a base URL with a query: configuration errors (2).
    let (code, _, err) = billtap(&[
        "catalog",
        "--platform",
        "http://pay.example.cn",
        "--key",
        &sb.key,
    ]);
    assert_eq!(code, 2, "{err}");
    let with_query = format!("{}/?x=1", sb.url);
    assert_eq!(
        billtap(&["catalog", "--platform", &with_query, "--key", &sb.key]).0,
        2
    );
}
