//! Helpers shared by the CLI's integration tests: run `billtap`, start `billtap sandbox` as a
//! process, talk raw HTTP to its admin endpoints.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

pub fn billtap(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_billtap"))
        .args(args)
        .output()
        .expect("run billtap");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub struct SandboxProcess {
    pub child: Child,
    pub url: String,
    pub key: String,
    pub token: String,
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sandbox(token: &str) -> SandboxProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_billtap"))
        .args(["sandbox", "--port", "0", "--admin-token", token])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut key, mut printed_token) = (String::new(), String::new(), String::new());
    for line in lines.by_ref().take(3) {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("billtap sandbox listening on ") {
            url = u.to_string();
        } else if let Some(k) = line.strip_prefix("pinned key: ") {
            key = k.to_string();
        } else if let Some(t) = line.strip_prefix("admin token: ") {
            printed_token = t.to_string();
        }
    }
    assert_eq!(printed_token, token);
    // Keep reading: the sandbox's stdout stays open for as long as it runs.
    std::thread::spawn(move || lines.for_each(drop));
    SandboxProcess {
        child,
        url,
        key,
        token: token.to_string(),
    }
}

/// One raw HTTP/1.1 POST; returns the status code.
pub fn post(url: &str, path: &str, token: Option<&str>, body: &str) -> u16 {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// One raw HTTP/1.1 admin request (the token, a JSON body if any); returns status and body.
pub fn admin(sb: &SandboxProcess, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let addr = sb.url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    let content = body.map_or(String::new(), |b| {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        )
    });
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n{content}Connection: close\r\n\r\n{}",
        sb.token,
        body.unwrap_or_default()
    )
    .unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
