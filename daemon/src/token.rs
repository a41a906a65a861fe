//! Random secrets for sessions and agents.

/// 32 random bytes, hex-encoded.
pub fn random() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Compares two secrets in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_tokens_differ_and_compare() {
        let (a, b) = (super::random(), super::random());
        assert_eq!(a.len(), 64);
        assert!(a != b);
        assert!(super::same(&a, &a.clone()));
        assert!(!super::same(&a, &b));
    }
}
