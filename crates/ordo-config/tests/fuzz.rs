//! Mutated configs never panic the parser, and every error they produce
//! keeps its promises (a message, a line for a named field, sorted).
//!
//! The valid configs are mutated by a seeded RNG, so a failure names a
//! case that can be replayed: lines deleted, repeated, swapped or moved
//! sideways; characters deleted or replaced; YAML's special characters,
//! odd scalars and multi-byte characters inserted; the text cut short.

mod common;

use ordo_config::proxy::ProxyConfig;

use common::{EVERY_FIELD, assert_well_formed, with_cluster, with_route};

const CASES: u64 = 2_000;

/// Things that upset YAML or the types when dropped in anywhere.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    " ",
    "   ",
    "\t",
    "\n",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "&a ",
    "*a",
    "!x ",
    "!!str ",
    "# ",
    "? ",
    "| ",
    "> ",
    "---\n",
    "...\n",
    "<<: ",
    "%YAML 1.2\n",
    "@",
    "`",
    "0",
    "-1",
    "1.5",
    "99999999999999999999",
    ".nan",
    ".inf",
    "1e400",
    "0x1F",
    "null",
    "~",
    "true",
    "é",
    "µs",
    "\u{1F600}",
    "\u{0}",
    "\r\n",
    "\u{FEFF}",
    "[[[[",
    "{a: ",
    "\\",
];

/// SplitMix64: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `text` with one random change.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let n = lines.len();
    match rng.below(9) {
        0 => {
            lines.remove(rng.below(n));
        }
        1 => {
            let i = rng.below(n);
            lines.insert(i, lines[i].clone());
        }
        2 => lines.swap(rng.below(n), rng.below(n)),
        3 => {
            let i = rng.below(n);
            lines[i] = format!("{}{}", " ".repeat(1 + rng.below(3)), lines[i]);
        }
        4 => {
            let i = rng.below(n);
            let cut = lines[i].len() - lines[i].trim_start().len();
            lines[i] = lines[i][cut.min(1 + rng.below(3))..].to_owned();
        }
        5..=7 => {
            let mut chars: Vec<char> = text.chars().collect();
            let at = rng.below(chars.len() + 1);
            let token: Vec<char> = TOKENS[rng.below(TOKENS.len())].chars().collect();
            match rng.below(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => {
                    chars.splice(at..=at, token);
                }
                _ => {
                    chars.splice(at..at, token);
                }
            }
            return chars.into_iter().collect();
        }
        _ => {
            let chars: Vec<char> = text.chars().collect();
            return chars[..rng.below(chars.len() + 1)].iter().collect();
        }
    }
    lines.join("\n") + "\n"
}

#[test]
fn mutated_configs_never_panic_and_their_errors_keep_their_promises() {
    let seeds = [
        EVERY_FIELD.to_owned(),
        with_route("policy:\n  retry: {max_attempts: 3}\n  circuit_breaker: {window: {count: 50}}"),
        with_cluster(
            "endpoints:\n  - {address: 10.0.0.1:80, weight: 2}\nload_balancer: {consistent_hash: {header: x-id}}",
        ),
    ];
    let (mut valid, mut invalid) = (0, 0);
    for case in 0..CASES {
        let mut rng = Rng(case);
        let mut text = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            text = mutate(&text, &mut rng);
        }
        let result =
            std::panic::catch_unwind(|| ordo_config::parse::<ProxyConfig>(&text, "fuzz.yaml"));
        match result {
            Ok(Ok(_)) => valid += 1,
            Ok(Err(e)) => {
                let checked = std::panic::catch_unwind(|| assert_well_formed(&e, &text));
                if checked.is_err() {
                    panic!("case {case}: a broken promise in\n{e}\n--- for:\n{text}");
                }
                invalid += 1;
            }
            Err(_) => panic!("case {case}: parse panicked on:\n{text}"),
        }
    }
    // The mutations are neither all harmless nor all fatal.
    assert!(
        valid > 20 && invalid > 1000,
        "{valid} valid, {invalid} invalid"
    );
}
