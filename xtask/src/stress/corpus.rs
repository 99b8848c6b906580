//! The garbage corpus: every kind of malformed request in one table, each kind with its name,
//! its description, its share of the requests, what the service must answer, and how its bytes
//! are made. The bytes come from a seeded generator, so two runs send the same requests in the
//! same order.

/// What the service must do with a kind of garbage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Never answer 2xx: a 4xx, a close, or waiting for the rest are all correct.
    Refused,
    /// Answer exactly this status, every time: the service has a rule for this kind.
    Status(u16),
    /// The head is valid HTTP/1.1 and only the body is bad: `GET /` reads no body, so the
    /// server may answer 2xx before it ever sees the bad part.
    MaySucceed,
}

impl Expect {
    pub fn may_succeed(self) -> bool {
        self == Expect::MaySucceed
    }

    pub fn status(self) -> Option<u16> {
        match self {
            Expect::Status(status) => Some(status),
            _ => None,
        }
    }
}

/// One kind of garbage.
pub struct Kind {
    /// Stable, e.g. `huge_header`: the key of the kind in `stress.json`.
    pub name: &'static str,
    /// For people, e.g. `a 100 KiB header`.
    pub description: &'static str,
    /// Percent of the requests; the weights of [`KINDS`] add up to 100.
    pub weight: u64,
    pub expect: Expect,
    /// Close the write half after the bytes, so that the server meets the end of the stream.
    pub close_early: bool,
    /// Makes the bytes of one request.
    make: fn(&mut Rng) -> Vec<u8>,
}

/// A well-formed request head, the base of the kinds that break one thing in it.
const GOOD_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// `GET /` with `extra` header lines and then `body`.
fn head(extra: &str, body: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: x\r\n{extra}\r\n{body}").into_bytes()
}

/// Every kind. Random bytes are the bulk; lone CRLFs are few, since a server rightly waits for a
/// request line after them, and each costs the whole answer timeout.
pub const KINDS: [Kind; 15] = [
    Kind {
        name: "random_bytes",
        description: "random bytes",
        weight: 35,
        expect: Expect::Refused,
        close_early: false,
        make: |rng| {
            let len = 1 + rng.below(1024) as usize;
            (0..len).map(|_| rng.next() as u8).collect()
        },
    },
    Kind {
        name: "bad_request_line",
        description: "a bad request line",
        weight: 6,
        expect: Expect::Refused,
        close_early: false,
        make: |rng| {
            rng.pick(&[
                "GET\r\n\r\n",
                " / HTTP/1.1\r\n\r\n",
                "/ GET HTTP/1.1\r\n\r\n",
                "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
                "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
                "GET / FTP/1.1\r\nHost: x\r\n\r\n",
                "GET / HTTP/1.\r\nHost: x\r\n\r\n",
                "GET / HTTP/1.1\rHost: x\r\n\r\n",
                "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            ])
            .as_bytes()
            .to_vec()
        },
    },
    Kind {
        name: "unknown_method",
        description: "an unknown method",
        weight: 5,
        expect: Expect::Refused,
        close_early: false,
        make: |rng| {
            // Five letters or more: never GET or HEAD, the methods `/` answers.
            let len = 5 + rng.below(8) as usize;
            let method: String = (0..len)
                .map(|_| char::from(b'A' + rng.below(26) as u8))
                .collect();
            format!("{method} / HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
        },
    },
    Kind {
        name: "garbage_method",
        description: "a method of non-token bytes",
        weight: 5,
        expect: Expect::Refused,
        close_early: false,
        make: |rng| {
            let mut bytes: Vec<u8> = (0..1 + rng.below(8))
                .map(|_| *rng.pick(b"\x01\x7f\x80\xff(){}@[]<>,;=\"/\\?"))
                .collect();
            bytes.extend_from_slice(b" / HTTP/1.1\r\nHost: x\r\n\r\n");
            bytes
        },
    },
    Kind {
        name: "http09",
        description: "HTTP/0.9 `GET /`",
        weight: 5,
        expect: Expect::Refused,
        close_early: false,
        make: |rng| {
            rng.pick(&["GET /\r\n", "GET /healthz\r\n", "GET /\r\n\r\n"])
                .as_bytes()
                .to_vec()
        },
    },
    Kind {
        name: "huge_header",
        description: "a 100 KiB header",
        weight: 4,
        expect: Expect::Refused,
        close_early: false,
        make: |_| head(&format!("X-Big: {}\r\n", "a".repeat(100 * 1024)), ""),
    },
    Kind {
        name: "many_headers",
        description: "200 headers",
        weight: 5,
        expect: Expect::Refused,
        close_early: false,
        make: |_| {
            let lines: String = (0..200).map(|i| format!("X-Header-{i}: v\r\n")).collect();
            head(&lines, "")
        },
    },
    Kind {
        name: "bad_content_length",
        description: "a bad Content-Length",
        weight: 5,
        expect: Expect::Refused,
        close_early: false,
        make: |rng| {
            let value = rng.pick(&[
                "abc",
                "-1",
                "1.5",
                "0x10",
                "",
                "5 5",
                "+5",
                "99999999999999999999999",
            ]);
            head(&format!("Content-Length: {value}\r\n"), "hello")
        },
    },
    Kind {
        name: "conflicting_content_length",
        description: "conflicting Content-Lengths",
        weight: 5,
        expect: Expect::Refused,
        close_early: false,
        make: |rng| {
            let first = rng.below(10);
            let second = first + 1 + rng.below(10);
            if rng.below(2) == 0 {
                head(
                    &format!("Content-Length: {first}\r\nContent-Length: {second}\r\n"),
                    "hello",
                )
            } else {
                head(&format!("Content-Length: {first}, {second}\r\n"), "hello")
            }
        },
    },
    Kind {
        name: "bad_chunked",
        description: "bad chunked encoding",
        weight: 5,
        expect: Expect::MaySucceed,
        close_early: false,
        make: |rng| {
            let body = rng.pick(&[
                "ZZZ\r\nhello\r\n0\r\n\r\n",
                "5\r\nhelloEXTRA\r\n0\r\n\r\n",
                "-1\r\n\r\n",
                "ffffffffffffffffffff\r\nx\r\n",
                "5;\x00\r\nhello\r\n0\r\n\r\n",
            ]);
            head("Transfer-Encoding: chunked\r\n", body)
        },
    },
    // RFC 9112 section 6.3 lets a server take `Transfer-Encoding` over `Content-Length` or
    // reject the pair; the service rejects it (its guard answers 400 and closes), since two
    // framings are how requests are smuggled past a proxy that picks the other one.
    Kind {
        name: "length_and_chunked",
        description: "Content-Length and chunked",
        weight: 3,
        expect: Expect::Status(400),
        close_early: false,
        make: |_| {
            head(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            )
        },
    },
    Kind {
        name: "lone_crlfs",
        description: "lone CRLFs",
        weight: 2,
        expect: Expect::Refused,
        close_early: false,
        make: |rng| b"\r\n".repeat(1 + rng.below(16) as usize),
    },
    Kind {
        name: "nul_bytes",
        description: "a NUL byte in the head",
        weight: 5,
        expect: Expect::Refused,
        close_early: false,
        make: |rng| {
            // Anywhere in the head but its final blank line.
            let mut bytes = GOOD_HEAD.to_vec();
            let at = rng.below((GOOD_HEAD.len() - 4) as u64) as usize;
            bytes.insert(at, 0);
            bytes
        },
    },
    Kind {
        name: "no_colon",
        description: "a header line without colon",
        weight: 5,
        expect: Expect::Refused,
        close_early: false,
        make: |rng| {
            let name = rng.pick(&["X-No-Colon", "Accept text/html", "garbage"]);
            head(&format!("{name}\r\n"), "")
        },
    },
    Kind {
        name: "early_close",
        description: "close after a partial line",
        weight: 5,
        expect: Expect::Refused,
        close_early: true,
        make: |rng| {
            let line = b"GET / HTTP/1.1";
            line[..1 + rng.below((line.len() - 1) as u64) as usize].to_vec()
        },
    },
];

/// One malformed request.
pub struct Garbage {
    /// Its kind, as an index into [`KINDS`].
    pub kind: usize,
    pub bytes: Vec<u8>,
}

impl Garbage {
    /// A request of a kind drawn by weight.
    pub fn random(rng: &mut Rng) -> Garbage {
        let total: u64 = KINDS.iter().map(|k| k.weight).sum();
        let mut pick = rng.below(total);
        let kind = KINDS
            .iter()
            .position(|k| {
                if pick < k.weight {
                    true
                } else {
                    pick -= k.weight;
                    false
                }
            })
            .expect("the weights add up to the total");
        Garbage::of(kind, rng)
    }

    /// A request of the kind `KINDS[kind]`.
    pub fn of(kind: usize, rng: &mut Rng) -> Garbage {
        Garbage {
            kind,
            bytes: (KINDS[kind].make)(rng),
        }
    }

    pub fn kind(&self) -> &'static Kind {
        &KINDS[self.kind]
    }
}

/// SplitMix64: a tiny, well-mixed generator whose sequence depends on the seed alone. Nothing
/// here needs more, and a crate of our own choosing could change its sequence in an update.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; the bias of the modulo is far below anything that matters here.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: u64 = 0x5EED_0F57_E55E;

    /// The index of the kind called `name`.
    fn kind(name: &str) -> usize {
        KINDS
            .iter()
            .position(|k| k.name == name)
            .unwrap_or_else(|| panic!("no kind {name}"))
    }

    #[test]
    fn the_generator_depends_on_the_seed_alone() {
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..200)
                .map(|_| Garbage::random(&mut rng).bytes)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(SEED), run(SEED));
        assert_ne!(run(SEED), run(SEED + 1));
    }

    #[test]
    fn every_kind_comes_up_in_proportion() {
        let mut rng = Rng::new(SEED);
        let mut counts = [0u64; KINDS.len()];
        for _ in 0..10_000 {
            counts[Garbage::random(&mut rng).kind] += 1;
        }
        for (kind, got) in KINDS.iter().zip(counts) {
            let expected = kind.weight * 100;
            assert!(
                got.abs_diff(expected) < expected / 4 + 20,
                "{}: {got} of 10,000, expected about {expected}",
                kind.name
            );
        }
        let total: u64 = KINDS.iter().map(|k| k.weight).sum();
        assert_eq!(total, 100, "the weights are percentages");
    }

    #[test]
    fn names_are_unique_and_stable() {
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
        assert!(names.iter().all(|n| n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
    }

    #[test]
    fn the_garbage_is_what_it_says() {
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            let huge = Garbage::of(kind("huge_header"), &mut rng);
            assert!(huge.bytes.len() > 100 * 1024);
            let nul = Garbage::of(kind("nul_bytes"), &mut rng);
            assert_eq!(nul.bytes.iter().filter(|&&b| b == 0).count(), 1);
            assert!(nul.bytes.ends_with(b"\r\n\r\n"));
            let early = Garbage::of(kind("early_close"), &mut rng);
            assert!(early.kind().close_early && b"GET / HTTP/1.1".starts_with(&early.bytes));
            assert!(early.bytes.len() < b"GET / HTTP/1.1".len());
            let unknown = Garbage::of(kind("unknown_method"), &mut rng);
            let method = unknown.bytes.split(|&b| b == b' ').next().unwrap();
            assert!(method.len() >= 5 && method.iter().all(u8::is_ascii_uppercase));
            let crlfs = Garbage::of(kind("lone_crlfs"), &mut rng);
            assert!(crlfs.bytes.chunks(2).all(|pair| pair == b"\r\n"));
        }
        let many = Garbage::of(kind("many_headers"), &mut rng);
        let lines = many.bytes.split(|&b| b == b'\n').count();
        assert!(lines > 200);
        let both = Garbage::of(kind("length_and_chunked"), &mut rng);
        let text = String::from_utf8(both.bytes).unwrap();
        assert!(
            text.contains("Content-Length: 5\r\n")
                && text.contains("Transfer-Encoding: chunked\r\n")
        );
    }

    #[test]
    fn only_a_bad_body_may_succeed_and_both_framings_are_refused_with_400() {
        let may: Vec<&str> = KINDS
            .iter()
            .filter(|k| k.expect.may_succeed())
            .map(|k| k.name)
            .collect();
        assert_eq!(may, ["bad_chunked"]);
        assert_eq!(
            KINDS[kind("length_and_chunked")].expect,
            Expect::Status(400)
        );
        assert!(KINDS
            .iter()
            .filter(|k| k.close_early)
            .all(|k| k.name == "early_close"));
    }
}
