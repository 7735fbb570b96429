//! Key files: modes, no overwriting, loading a device's keyring, and keys
//! made by OpenSSL.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::{write_key_pair, KeyError, Keyring, PublicKey, SigningKey};

/// Made with `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`.
const OPENSSL_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\n\
MC4CAQAwBQYDK2VwBCIEILMQGwSQ73un1yfbBR5ME1j+HAjNdGz1xcSpRS8UW6zj\n\
-----END PRIVATE KEY-----\n";
const OPENSSL_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\n\
MCowBQYDK2VwAyEAAG8AoCOTK1sutuB3H/tTknPINhPr8/qj1c9OVojql80=\n\
-----END PUBLIC KEY-----\n";
/// The `pub:` bytes `openssl pkey -text` shows for that key.
const OPENSSL_PUBLIC_HEX: &str = "006f00a023932b5b2eb6e0771ffb539273c83613ebf3faa3d5cf4e5688ea97cd";

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn keys_made_by_openssl_load_and_encode_back_identically() {
    let key = SigningKey::from_pem(OPENSSL_PRIVATE).unwrap();
    assert_eq!(hex::encode(key.public_key().to_bytes()), OPENSSL_PUBLIC_HEX);
    assert_eq!(key.to_pem().unwrap().as_str(), OPENSSL_PRIVATE);
    let public = PublicKey::from_pem(OPENSSL_PUBLIC).unwrap();
    assert_eq!(public, key.public_key());
    assert_eq!(public.to_pem().unwrap(), OPENSSL_PUBLIC);
}

#[test]
fn a_key_pair_is_written_private_first_and_never_over_another() {
    let dir = tempfile::tempdir().unwrap();
    let key = write_key_pair(dir.path(), "release").unwrap();
    let private = dir.path().join("release.key");
    let public = dir.path().join("release.pub");
    assert_eq!(mode(&private), 0o600);
    assert_eq!(mode(&public), 0o644);
    assert_eq!(
        SigningKey::load(&private).unwrap().public_key(),
        key.public_key()
    );
    assert_eq!(PublicKey::load(&public).unwrap(), key.public_key());
    // Nothing else is left in the directory (no temporary files).
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["release.key", "release.pub"]);

    let before = fs::read(&private).unwrap();
    assert!(matches!(
        write_key_pair(dir.path(), "release"),
        Err(KeyError::Exists { .. })
    ));
    let other = SigningKey::generate().unwrap();
    assert!(matches!(other.save(&private), Err(KeyError::Exists { .. })));
    assert_eq!(fs::read(&private).unwrap(), before);
    assert!(matches!(
        write_key_pair(dir.path(), "../x"),
        Err(KeyError::BadName { .. })
    ));
}

#[test]
fn a_private_key_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.key");
    SigningKey::from_seed(&[7; 32]).save(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let error = SigningKey::load(&path).unwrap_err();
    assert!(
        matches!(error, KeyError::ExposedPrivateKey { mode: 0o640, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("k.key"), "{error}");
}

#[test]
fn generated_keys_differ() {
    let a = SigningKey::generate().unwrap();
    let b = SigningKey::generate().unwrap();
    assert_ne!(a.public_key(), b.public_key());
}

#[test]
fn a_keyring_loads_every_pub_file_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let a = SigningKey::from_seed(&[1; 32]).public_key();
    let b = SigningKey::from_seed(&[2; 32]).public_key();
    a.save(&dir.path().join("a.pub")).unwrap();
    b.save(&dir.path().join("b.pub")).unwrap();
    fs::write(dir.path().join("README"), "not a key").unwrap();
    fs::write(dir.path().join(".draft.pub"), "not a key either").unwrap();
    fs::create_dir(dir.path().join("old.pub")).unwrap();
    let keyring = Keyring::load_dir(dir.path()).unwrap();
    assert_eq!(keyring.len(), 2);
    assert!(keyring.get(&a.to_bytes()).is_some());
    assert!(keyring.get(&b.to_bytes()).is_some());
}

#[test]
fn a_bad_key_file_in_the_keyring_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    SigningKey::from_seed(&[1; 32])
        .public_key()
        .save(&dir.path().join("a.pub"))
        .unwrap();
    fs::write(dir.path().join("broken.pub"), OPENSSL_PRIVATE).unwrap();
    let error = Keyring::load_dir(dir.path()).unwrap_err();
    assert!(error.to_string().contains("broken.pub"), "{error}");
    assert!(error.to_string().contains("public key"), "{error}");
    assert!(!error.to_string().contains("MC4CAQAw"), "{error}");
}

#[test]
fn an_empty_keyring_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Keyring::load_dir(dir.path()),
        Err(KeyError::NoTrustedKeys { .. })
    ));
}
