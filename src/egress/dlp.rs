//! DLP: secrets that must not leave the bottle. (Temporary minimal version
//! until the full scanner lands.)

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: &'static str,
    pub encoding: &'static str,
}

pub struct Scanner {
    secrets: Vec<Vec<u8>>,
}

impl Scanner {
    pub fn new(secrets: &[String]) -> Scanner {
        Scanner {
            secrets: secrets
                .iter()
                .filter(|s| s.len() >= 8)
                .map(|s| s.as_bytes().to_vec())
                .collect(),
        }
    }
    pub fn scan(&self, haystack: &[u8]) -> Option<Finding> {
        self.secrets
            .iter()
            .any(|s| haystack.windows(s.len()).any(|w| w == s.as_slice()))
            .then_some(Finding {
                kind: "injected-secret",
                encoding: "raw",
            })
    }
    pub fn scan_url(&self, url: &str) -> Option<Finding> {
        self.scan(url.as_bytes())
    }
    pub fn stream(&self) -> StreamScan<'_> {
        StreamScan {
            scanner: self,
            tail: Vec::new(),
        }
    }
}

pub struct StreamScan<'a> {
    scanner: &'a Scanner,
    tail: Vec<u8>,
}

impl StreamScan<'_> {
    pub fn feed(&mut self, chunk: &[u8]) -> Option<Finding> {
        let mut buf = std::mem::take(&mut self.tail);
        buf.extend_from_slice(chunk);
        let found = self.scanner.scan(&buf);
        let keep = buf.len().saturating_sub(8192);
        self.tail = buf[keep..].to_vec();
        found
    }
}
