//! Staff passwords, hashed with Argon2id (RFC 9106's second recommended setting: 19 MiB,
//! two passes, one lane) under a random 16-byte salt, stored as
//! `argon2id$v=19$m=19456,t=2,p=1$<salt hex>$<hash hex>`. The parameters travel with the
//! hash, so stronger ones later still verify old hashes.

use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};

const MEMORY_KIB: u32 = 19_456;
const PASSES: u32 = 2;
const LANES: u32 = 1;
const HASH_BYTES: usize = 32;
/// Shorter passwords are refused when set; a dispatcher's account opens personal data.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// A stored form no password was made from, verified against when an account does not
/// exist so that the answer takes as long as for one that does.
pub const DECOY: &str = "argon2id$v=19$m=19456,t=2,p=1$00000000000000000000000000000000$\
                         0000000000000000000000000000000000000000000000000000000000000000";

fn hasher(memory: u32, passes: u32, lanes: u32) -> Result<Argon2<'static>, String> {
    let params = Params::new(memory, passes, lanes, Some(HASH_BYTES)).map_err(|e| e.to_string())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn derive(password: &str, salt: &[u8], memory: u32, passes: u32, lanes: u32) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; HASH_BYTES];
    hasher(memory, passes, lanes)?
        .hash_password_into(password.as_bytes(), salt, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// The stored form of `password`.
pub fn hash(password: &str) -> Result<String, String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("a password has at least {MIN_PASSWORD_CHARS} characters"));
    }
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| "no system randomness".to_owned())?;
    let digest = derive(password, &salt, MEMORY_KIB, PASSES, LANES)?;
    Ok(format!("argon2id$v=19$m={MEMORY_KIB},t={PASSES},p={LANES}${}${}", hex::encode(salt), hex::encode(digest)))
}

/// Whether `password` is the one `stored` was made from. A stored form that cannot be
/// read verifies nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let ["argon2id", "v=19", params, salt, digest] = parts.as_slice() else { return false };
    let mut numbers = params.split(',').filter_map(|p| p.split_once('=')).map(|(_, n)| n.parse::<u32>().ok());
    let (Some(Some(memory)), Some(Some(passes)), Some(Some(lanes))) = (numbers.next(), numbers.next(), numbers.next())
    else {
        return false;
    };
    let (Ok(salt), Ok(expected)) = (hex::decode(salt), hex::decode(digest)) else { return false };
    match derive(password, &salt, memory, passes, lanes) {
        // Compared in constant time: how much of a guess matched must not show.
        Ok(actual) => {
            actual.len() == expected.len() && actual.iter().zip(&expected).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_and_nothing_else_does() {
        let stored = hash("网格化服务管理2026").unwrap();
        assert!(stored.starts_with("argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!stored.contains("网格化"), "the password is not in its stored form");
        assert!(verify("网格化服务管理2026", &stored));
        assert!(!verify("网格化服务管理2027", &stored));
        assert_ne!(hash("网格化服务管理2026").unwrap(), stored, "a new salt each time");
        assert!(!verify("网格化服务管理2026", "argon2id$v=19$m=8,t=1,p=1$00$00"));
        assert!(!verify("anything", "not a hash"));
        assert!(hash("short").is_err());
    }
}
